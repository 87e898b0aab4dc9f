"""The safety checks of secrets/, vault/ and dr/ at their edges (issue 32, item 1): each case sits just on the side of
the boundary a plausible bug would move, with the real programs (bao server, sops, age)."""

from __future__ import annotations

import json
import os
import re
import secrets as random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from cattle import env, tools
from cattle.dr import rehearse
from cattle.errors import VaultInUse
from cattle.secrets import check as secretcheck
from cattle.secrets import files as secrets
from cattle.secrets import keys, sopsconfig, sopsfile
from cattle.secrets.keys import Identity, write_new_key
from cattle.stores import FileStore
from cattle.vault import openbao as vault
from cattle.vault import restore as vaultdrill
from cattle.vault import snapshots
from cattle.vault.server import BaoServer
from tests.vaultkit import everything, populate

pytestmark = pytest.mark.slow
LOGIN = vault.Login("cattle-backup", "correct-horse-battery-staple")


# (a) A live OpenBao that holds policies and an auth method but no KV secret is data: no silent overwrite.

@pytest.fixture(scope="module")
def seal() -> vault.SealMaterial:
    return vault.SealMaterial(random.token_hex(32))


@pytest.fixture(scope="module")
def snapshot_of_testing(seal: vault.SealMaterial,
                        tmp_path_factory: pytest.TempPathFactory) -> tuple[FileStore, Identity, str, dict[str, object]]:
    """A store holding one snapshot of a populated OpenBao (KV secrets, policies, an extra auth method), the key it
    is encrypted for, that server's root token and everything it held."""
    base = tmp_path_factory.mktemp("vault-boundary")
    identity = write_new_key(base / "testing-key.txt")
    store = FileStore("file://backups", base / "backups")
    with BaoServer(seal.key_hex, seal.key_id, directory=base / "source") as source:
        token = vault.client(source.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(source.addr)
        populate(vault.client(source.addr, token), LOGIN, secrets_per_mount=2)
        held = everything(vault.client(source.addr, token))
        vault.backup(source.addr, "testing", store, [identity.public], seal, LOGIN, 5)
    return store, identity, token, held


@pytest.fixture
def live_target(seal: vault.SealMaterial, tmp_path: Path) -> Iterator[tuple[BaoServer, str]]:
    """An OpenBao someone else initialised, with the same seal key, and its root token."""
    with BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "target") as target:
        token = vault.client(target.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(target.addr)
        yield target, token


def _configuration(c: hvac.Client) -> dict[str, object]:
    """What a server without KV secrets holds: its policies (with their text), auth methods and mounts."""
    return {"policies": {name: c.sys.read_acl_policy(name)["data"]["policy"]
                         for name in c.sys.list_acl_policies()["data"]["keys"]},
            "auth": sorted(c.sys.list_auth_methods()["data"]),
            "mounts": sorted(c.sys.list_mounted_secrets_engines()["data"])}


@pytest.mark.parametrize("holds", ["a policy", "an auth method", "a policy and an auth method",
                                   "a transit engine with a key"])
def test_a_live_openbao_without_kv_secrets_but_with_policies_or_auth_is_not_overwritten_without_force(
        live_target: tuple[BaoServer, str], seal: vault.SealMaterial,
        snapshot_of_testing: tuple[FileStore, Identity, str, dict[str, object]], holds: str) -> None:
    target, token = live_target
    store, identity, source_token, source_held = snapshot_of_testing
    c = vault.client(target.addr, token)
    if "policy" in holds:
        c.sys.create_or_update_acl_policy("team-read", 'path "apps/data/*" { capabilities = ["read"] }')
    if "auth method" in holds:
        c.sys.enable_auth_method("approle")
    if "transit" in holds:  # keys that encrypt data elsewhere: no KV secret, no policy, no auth method of its own
        c.sys.enable_secrets_engine("transit")
        c.secrets.transit.create_key("payments")
    before = _configuration(c)
    assert vault.inventory(c)["kv_secrets"] == 0  # the edge: nothing a KV count would see
    with pytest.raises(VaultInUse, match=rf"OpenBao at {target.addr} already holds data .* refusing to overwrite it"):
        vault.restore(target.addr, "testing", store, [identity], seal, LOGIN, token=token)
    assert _configuration(c) == before  # left exactly as it was: no canary mount, no snapshot applied
    assert "cattle/" not in before["mounts"]  # type: ignore[operator]
    if holds == "a policy and an auth method":  # --force is the one way to replace it
        report = vault.restore(target.addr, "testing", store, [identity], seal, LOGIN, token=token, force=True)
        assert report.counts == snapshots.find(store, "testing").counts and not report.already_restored
        assert everything(vault.client(target.addr, source_token)) == source_held  # the snapshot's own token


# (b) A file encrypted for one recipient too many is flagged, not only one missing a recipient.

def test_secrets_check_flags_files_encrypted_for_a_recipient_that_left_sops_yaml(secrets_repo: Path,
                                                                                tmp_path: Path) -> None:
    own = sopsconfig.env_recipient(secrets_repo, "testing")
    assert own is not None
    extra = write_new_key(tmp_path / "extra.txt")
    (secrets_repo / sopsconfig.BREAK_GLASS).write_text(extra.public + "\n")
    secrets.update_recipients(secrets_repo, "testing")  # every file re-encrypted for the key and the extra one
    (secrets_repo / sopsconfig.BREAK_GLASS).unlink()
    sopsconfig.set_env_recipient(secrets_repo, "testing", own)  # .sops.yaml (and cluster-vars) without it again
    files = secrets.secret_files(secrets_repo, "testing")
    assert files and all(sorted(sopsfile.recipients(secrets_repo / f)) == sorted([own, extra.public]) for f in files)
    problems, notes = secretcheck.check(secrets_repo, ["testing"])
    assert notes == []
    assert sorted((p.rule, p.file) for p in problems) == sorted(("recipients", str(f)) for f in files)
    assert all(p.message == f"encrypted for {', '.join(sorted([own, extra.public]))} but .sops.yaml requires {own}"
               for p in problems)


def test_secrets_check_flags_one_file_given_an_extra_recipient_by_sops_add_age(secrets_repo: Path,
                                                                              tmp_path: Path) -> None:
    extra = write_new_key(tmp_path / "extra.txt")
    relpath = secrets.secret_files(secrets_repo, "testing")[0]
    subprocess.run([str(tools.find("sops")), "rotate", "--in-place", "--add-age", extra.public, str(relpath)],
                   cwd=secrets_repo, check=True, capture_output=True,
                   env={**os.environ, "HOME": str(tmp_path), "SOPS_AGE_KEY_FILE": str(keys.key_file("testing"))})
    assert extra.public in sopsfile.recipients(secrets_repo / relpath)
    problems, _ = secretcheck.check(secrets_repo, ["testing"])
    assert [(p.rule, p.file) for p in problems] == [("recipients", str(relpath))]


# (c) The plaintext guard looks at every value of a Secret, not only the first.

@pytest.mark.parametrize("where", ["stringData", "data"])
def test_the_plaintext_guard_flags_a_secret_whose_second_value_is_not_encrypted(secrets_repo: Path,
                                                                               where: str) -> None:
    relpath = secrets.new(secrets_repo, "testing", "two-values", "feeds", {"a-first": "one", "b-second": "two"})
    path = secrets_repo / relpath
    text = path.read_text()
    assert re.search(r"(?m)^    a-first: ENC\[AES256_GCM,.*\n    b-second: ENC\[AES256_GCM,", text)
    assert secretcheck.check_repository(secrets_repo) == []  # both encrypted: clean
    if where == "stringData":  # the second value of the same block in plaintext
        text = re.sub(r"(?m)^    b-second: ENC\[.*$", "    b-second: hunter2", text)
    else:  # the encrypted values under data, then a stringData block in plaintext (data is read first)
        text = text.replace("\nstringData:\n", "\ndata:\n")
        text = re.sub(r"(?m)^sops:", "stringData:\n    c-later: hunter2\nsops:", text)
    path.write_text(text)
    problems = secretcheck.check_repository(secrets_repo)
    assert [(p.rule, p.file, p.message) for p in problems] == [
        ("plaintext", str(relpath), "plaintext Secret two-values: 1 value(s) not encrypted")]


# (d) dr.rehearse on a snapshot just past its age limit (26 h) is NOT READY; just inside, READY.

@pytest.fixture(scope="module")
def vault_store_once(secrets_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Vault snapshot of testing taken with the template's keys (the same in every secrets_repo of this process)."""
    from tests.conftest import AGE_VARIABLES

    store = tmp_path_factory.mktemp("vault-store-boundary")
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
            populate(vault.client(server.addr, token), vault.backup_login(root, "testing"), secrets_per_mount=1)
            vaultdrill.backup(testing, server.addr, f"file://{store}")
    return store


@pytest.mark.parametrize(("hours_old", "ready"), [(26.5, False), (25.5, True)])
def test_rehearse_judges_a_snapshot_by_its_age_in_hours_at_the_26h_limit(
        secrets_repo: Path, vault_store_once: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        hours_old: float, ready: bool) -> None:
    """The limit is MAX_SNAPSHOT_AGE_HOURS (26: a daily backup plus slack); the ages sit half an hour either side,
    which no busy machine's delay between writing the date and the check can cross."""
    assert rehearse.MAX_SNAPSHOT_AGE_HOURS == 26
    shutil.copytree(vault_store_once, tmp_path / "vault-store")
    monkeypatch.setenv("CATTLE_VAULT_STORE", f"file://{tmp_path / 'vault-store'}")
    testing = env.load("testing", secrets_repo)
    store = vaultdrill.store_for(testing)
    manifest = snapshots.find(store, "testing")
    name = manifest.id + snapshots.MANIFEST_SUFFIX
    raw = json.loads(store.get(name))
    raw["created"] = time.strftime(snapshots.CREATED_FORMAT, time.gmtime(time.time() - hours_old * 3600))
    store.put(name, json.dumps(raw).encode())
    result = rehearse.rehearse(testing)
    finding = next(f for f in result.findings if f.check == "recent Vault snapshot")
    assert result.ready is ready, result.render()
    if ready:
        assert re.fullmatch(rf"latest snapshot {manifest.id} is 25\.\dh old \(.*\)", finding.detail)
    else:
        assert [f.check for f in result.findings if not f.ok] == ["recent Vault snapshot"]
        assert re.match(rf"the latest Vault snapshot {manifest.id} is 26\.\dh old \(limit 26h\)", finding.detail)
