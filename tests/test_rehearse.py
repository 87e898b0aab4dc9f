"""dr.rehearse: READY on a good setup; NOT READY, with the right reason, for each kind of rot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cattle import env
from cattle.dr import rehearse
from cattle.secrets import keys
from cattle.stores import open_store
from cattle.vault import openbao as vault
from cattle.vault import restore as vaultdrill
from cattle.vault import snapshots
from cattle.vault.server import BaoServer
from tests.vaultkit import populate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vault_store_made_once(secrets_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Vault snapshot of testing, taken once per test process with the template's keys and secrets (the same in
    every secrets_repo of this process): a fresh OpenBao, populated, then backed up, costs seconds."""
    from tests.conftest import AGE_VARIABLES

    store = tmp_path_factory.mktemp("vault-store-once")
    root = secrets_template / "repo"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CATTLE_REPO", str(root))
        patch.setenv("CATTLE_CONFIG_HOME", str(secrets_template / "config"))
        for name in AGE_VARIABLES:
            patch.delenv(name, raising=False)
        testing = env.load("testing", root)
        seal = vault.seal_material(root, "testing")
        with BaoServer(seal.key_hex, seal.key_id) as server:
            token = vault.client(server.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
            vault.wait_active(server.addr)
            populate(vault.client(server.addr, token), vault.backup_login(root, "testing"), secrets_per_mount=3)
            vaultdrill.backup(testing, server.addr, f"file://{store}")
    return store


@pytest.fixture
def ready_repo(secrets_repo: Path, vault_store_made_once: Path, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with keys at hand and a fresh Vault snapshot of testing in a file store of its own."""
    shutil.copytree(vault_store_made_once, tmp_path / "vault-store")
    monkeypatch.setenv("CATTLE_VAULT_STORE", f"file://{tmp_path / 'vault-store'}")
    return secrets_repo


def _reasons(root: Path) -> dict[str, str]:
    result = rehearse.rehearse(env.load("testing", root))
    assert not result.ready
    assert "testing: NOT READY" in result.render()
    return {f.check: f.detail for f in result.findings if not f.ok}


def test_ready_on_a_good_setup(ready_repo: Path) -> None:
    result = rehearse.rehearse(env.load("testing", ready_repo))
    assert result.ready, result.render()
    assert "testing: READY" in result.render()
    assert {f.check for f in result.findings} == {"tools", "secrets decrypt", "manifests validate",
                                                  "recent Vault snapshot", "Vault snapshot restores"}


def test_missing_key(ready_repo: Path) -> None:
    keys.key_file("testing").unlink()
    reasons = _reasons(ready_repo)
    assert reasons["secrets decrypt"].startswith("no age key for environment 'testing'")


def test_stale_snapshot(ready_repo: Path) -> None:
    store = vaultdrill.store_for(env.load("testing", ready_repo))
    manifest = snapshots.find(store, "testing")
    name = manifest.id + snapshots.MANIFEST_SUFFIX
    raw = json.loads(store.get(name))
    raw["created"] = "2026-01-01T00:00:00Z"
    store.put(name, json.dumps(raw).encode())
    reasons = _reasons(ready_repo)
    assert list(reasons) == ["recent Vault snapshot"]
    assert f"the latest Vault snapshot {manifest.id} is" in reasons["recent Vault snapshot"]


def test_corrupt_snapshot(ready_repo: Path) -> None:
    store = open_store(str(vaultdrill.store_for(env.load("testing", ready_repo)).url), ready_repo)
    manifest = snapshots.find(store, "testing")
    blob = bytearray(store.get(manifest.id + snapshots.SNAPSHOT_SUFFIX))
    blob[100] ^= 0x01
    store.put(manifest.id + snapshots.SNAPSHOT_SUFFIX, bytes(blob))
    reasons = _reasons(ready_repo)
    assert list(reasons) == ["Vault snapshot restores"]
    assert "is corrupt or truncated" in reasons["Vault snapshot restores"]


def test_invalid_manifest(ready_repo: Path) -> None:
    deployment = ready_repo / "apps/base/miniflux/deployment.yaml"
    deployment.write_text(deployment.read_text().replace("miniflux:2.2.13", "miniflux:latest"))
    reasons = _reasons(ready_repo)
    assert list(reasons) == ["manifests validate"]
    assert "is not pinned" in reasons["manifests validate"]
