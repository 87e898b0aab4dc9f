"""Recovery without cattle, and back: the runbook's by-hand OpenBao restore runs as written (real age, bao and
OpenBao servers), and a snapshot taken with `bao operator raft snapshot save` comes into the store with vault.import
and restores through cattle, verified by its counts."""

from __future__ import annotations

import os
import re
import secrets as random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cattle import env, tools
from cattle.secrets.keys import write_new_key
from cattle.stores import FileStore
from cattle.vault import openbao as vault
from cattle.vault import restore as vaultdrill
from cattle.vault import snapshots
from cattle.vault.server import BaoServer
from tests.conftest import REPO
from tests.vaultkit import everything, populate
from tests.waiting import until

pytestmark = pytest.mark.slow
LOGIN = vault.Login("cattle-backup", "by-hand-password")


def runbook_block(marker: str) -> str:
    """The bash block that follows `<!-- by-hand: MARKER -->` in docs/runbook.md."""
    text = (REPO / "docs/runbook.md").read_text()
    match = re.search(rf"<!-- by-hand: {marker} -->\n```bash\n(.*?)```", text, re.S)
    assert match, f"docs/runbook.md has no by-hand block {marker}"
    return match.group(1)


@pytest.fixture
def server_pair(tmp_path: Path) -> Iterator[tuple[vault.SealMaterial, BaoServer, BaoServer]]:
    seal = vault.SealMaterial(random.token_hex(32))
    with BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "old") as old, \
            BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "new") as new:
        yield seal, old, new


def test_the_runbooks_by_hand_vault_restore_runs_as_written(
        server_pair: tuple[vault.SealMaterial, BaoServer, BaoServer], tmp_path: Path) -> None:
    seal, old, new = server_pair
    root = vault.client(old.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
    vault.wait_active(old.addr)
    populate(vault.client(old.addr, root), LOGIN, secrets_per_mount=5)
    key = write_new_key(tmp_path / "production.txt")
    store = FileStore("file://bucket", tmp_path / "bucket")
    manifest = vault.backup(old.addr, "production", store, [key.public], seal, LOGIN, keep=3)
    before = everything(vault.client(old.addr, root))

    block = runbook_block("vault-restore")
    first, rest = block.split("\n", 1)
    assert first.startswith("export BAO_ADDR=")
    bao_dir = str(Path(tools.find("bao")).parent)
    environment = {**os.environ, "PATH": f"{bao_dir}:{os.environ['PATH']}", "BAO_ADDR": new.addr,
                   "ID": manifest.id, "AGE_KEY_FILE": key.source}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", rest], cwd=store.directory, env=environment,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "checksum ok" in proc.stdout
    assert not (store.directory / "snapshot.raft").exists()
    until(lambda: vault.applied_login(new.addr, LOGIN))  # the restore applies in the background
    assert vault.login(new.addr, LOGIN).secrets.kv.v2.read_secret_version(
        path=vault.CANARY_PATH, mount_point=vault.CANARY_MOUNT, raise_on_deleted_version=True,
    )["data"]["data"]["snapshot"] == manifest.id
    assert everything(vault.client(new.addr, root)) == before  # the snapshot's own root token works again


def test_a_snapshot_taken_by_hand_imports_and_restores_through_cattle(secrets_repo: Path, tmp_path: Path) -> None:
    testing = env.load("testing")
    seal, login = vault.seal_material(secrets_repo, "testing"), vault.backup_login(secrets_repo, "testing")
    with BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "source") as source:
        root = vault.client(source.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(source.addr)
        populate(vault.client(source.addr, root), login, secrets_per_mount=4)
        raw = tmp_path / "by-hand.snap"
        subprocess.run([tools.find("bao"), "operator", "raft", "snapshot", "save", str(raw)], check=True,
                       env={**os.environ, "BAO_ADDR": source.addr, "BAO_TOKEN": root}, timeout=60)
        before = everything(vault.client(source.addr, root))
        counted = vault.inventory(vault.client(source.addr, root))
    store_url = f"file://{tmp_path / 'store'}"
    manifest = vaultdrill.import_snapshot(testing, raw, store_url, workdir=tmp_path / "probe")
    assert manifest.canary == "" and manifest.counts == counted
    [listed] = snapshots.scan(vaultdrill.store_for(testing, store_url), "testing").valid
    assert listed.id == manifest.id
    with BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "target") as target:
        report = vaultdrill.restore(testing, target.addr, store_url)
        assert report.snapshot == manifest.id and report.counts == manifest.counts
        assert everything(vault.client(target.addr, root)) == before



def test_the_by_hand_restore_stops_on_a_checksum_mismatch(tmp_path: Path) -> None:
    """A snapshot that is not the one its manifest describes is never handed to `bao` (a stand-in records calls)."""
    key = write_new_key(tmp_path / "production.txt")
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    (bucket / "raw").write_bytes(b"not the snapshot the manifest describes")
    subprocess.run([tools.find("age"), "-r", key.public, "-o", str(bucket / "S1.snapshot.age"), str(bucket / "raw")],
                   check=True)
    (bucket / "S1.manifest.json").write_text('{"id": "S1", "snapshot_sha256": "' + "ab" * 32 + '"}\n')
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bao").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/bao-calls\n")
    (fake / "bao").chmod(0o755)
    environment = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "BAO_ADDR": "http://127.0.0.1:1",
                   "ID": "S1", "AGE_KEY_FILE": key.source}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", runbook_block("vault-restore").split("\n", 1)[1]],
                          cwd=bucket, env=environment, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert "checksum MISMATCH" in proc.stderr and "checksum ok" not in proc.stdout
    assert not (tmp_path / "bao-calls").exists()  # nothing was restored, nothing initialised
    assert not (bucket / "snapshot.raft").exists()  # the decrypted copy is gone
