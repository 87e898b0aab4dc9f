"""Init records and a fresh OpenBao made ready, on a directory store with a real age key and a recording OpenBao
client (no `bao server`): the record that applies to a snapshot is the newest written strictly before it, only the
env's own records count, the tokens stay out of a record's repr, what initialising asks for (one recovery share),
the record kept before anything else is done, and the platform's mounts enabled only when missing (issue 32,
boundaries of cattle/vault/setup.py, which only the real-server tests of test_vault.py reached)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyrage import x25519

from cattle.errors import StoreError, VaultError
from cattle.secrets.keys import Identity
from cattle.stores import FileStore
from cattle.vault import openbao as vault
from cattle.vault import setup as vaultinit
from cattle.vault import snapshots

KEY = x25519.Identity.generate()
IDENTITY = Identity(str(KEY), str(KEY.to_public()), "test")


def _store(tmp_path: Path) -> FileStore:
    return FileStore(f"file://{tmp_path}", tmp_path)


def _record(env: str, record_id: str) -> vaultinit.InitRecord:
    return vaultinit.InitRecord(record_id, env, "2026-12-04T10:00:00Z", f"root-{env}-{record_id}", [f"rk-{record_id}"])


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    """Two records of env `test`, one of `testing` (a name starting alike) newer than both, and a snapshot."""
    store = _store(tmp_path)
    for record in (_record("test", "20261204T100000.000000Z-aaaaaa"), _record("test", "20261204T120000.000000Z-bbbbbb"),
                   _record("testing", "20261204T130000.000000Z-cccccc")):
        vaultinit.save(store, record, [IDENTITY.public])
    store.put("test.20261204T140000.000000Z-dddddd" + snapshots.SNAPSHOT_SUFFIX, b"not a record")
    return store


def test_the_newest_record_of_the_env_when_no_snapshot_is_named(store: FileStore) -> None:
    assert vaultinit.find(store, "test", [IDENTITY]) == _record("test", "20261204T120000.000000Z-bbbbbb")
    assert vaultinit.find(store, "testing", [IDENTITY]) == _record("testing", "20261204T130000.000000Z-cccccc")
    assert vaultinit.find(store, "prod", [IDENTITY]) is None


def test_the_record_for_a_snapshot_is_the_newest_written_strictly_before_it(store: FileStore) -> None:
    assert vaultinit.find(store, "test", [IDENTITY], before="20261204T110000.000000Z-eeeeee") == \
        _record("test", "20261204T100000.000000Z-aaaaaa")
    # a record with the snapshot's own id was not written before it
    assert vaultinit.find(store, "test", [IDENTITY], before="20261204T120000.000000Z-bbbbbb") == \
        _record("test", "20261204T100000.000000Z-aaaaaa")
    assert vaultinit.find(store, "test", [IDENTITY], before="20261204T120000.000000Z-bbbbbc") == \
        _record("test", "20261204T120000.000000Z-bbbbbb")
    assert vaultinit.find(store, "test", [IDENTITY], before="20261204T100000.000000Z-aaaaaa") is None


def test_a_newest_record_that_does_not_decrypt_is_named(store: FileStore) -> None:
    stranger = x25519.Identity.generate()
    vaultinit.save(store, _record("test", "20261204T130000.000000Z-ffffff"), [str(stranger.to_public())])
    with pytest.raises(VaultError, match=r"snapshot test\.20261204T130000\.000000Z-ffffff\.openbao-init\.age cannot "
                                         "be decrypted"):
        vaultinit.find(store, "test", [IDENTITY])


def test_the_root_token_and_recovery_keys_are_not_in_a_records_repr() -> None:
    shown = repr(_record("test", "x"))
    assert "root-test-x" not in shown and "rk-x" not in shown
    assert "test" in shown


class _Client:
    """A recording hvac client: which mounts and auth methods exist, and every call made."""

    def __init__(self, calls: list[str], token: str | None, mounts: list[str], auths: list[str]) -> None:
        self.token = token
        outer = self

        class Sys:
            def initialize(self, recovery_shares: int, recovery_threshold: int) -> dict[str, Any]:
                calls.append(f"initialize shares={recovery_shares} threshold={recovery_threshold}")
                return {"root_token": "s.root"}

            def list_mounted_secrets_engines(self) -> dict[str, Any]:
                return {"data": {m: {} for m in mounts}}

            def list_auth_methods(self) -> dict[str, Any]:
                return {"data": {a: {} for a in auths}}

            def enable_secrets_engine(self, kind: str, path: str, options: dict[str, str]) -> None:
                calls.append(f"enable {kind} at {path} {options}")

            def enable_auth_method(self, kind: str) -> None:
                calls.append(f"enable auth {kind}")

            def create_or_update_acl_policy(self, name: str, policy: str) -> None:
                calls.append(f"policy {name}")

        class Kubernetes:
            def configure(self, kubernetes_host: str, kubernetes_ca_cert: str | None) -> None:
                calls.append(f"kubernetes {kubernetes_host} ca={kubernetes_ca_cert} token={outer.token}")

            def create_role(self, name: str, **kwargs: Any) -> None:
                calls.append(f"role {name} {sorted(kwargs.items())}")

        class Auth:
            kubernetes = Kubernetes()

        self.sys = Sys()
        self.auth = Auth()


def test_the_platform_mounts_are_enabled_only_when_missing() -> None:
    calls: list[str] = []
    vaultinit.configure_platform(_Client(calls, "t", ["sys/", "cubbyhole/"], ["token/"]), "CA")  # type: ignore[arg-type]
    assert calls[:3] == ["enable kv at secret {'version': '2'}", "enable auth kubernetes",
                         "kubernetes https://kubernetes.default.svc ca=CA token=t"]
    calls.clear()
    vaultinit.configure_platform(_Client(calls, "t", ["secret/", "sys/"], ["kubernetes/", "token/"]),  # type: ignore[arg-type]
                                 None, "https://10.0.0.1:6443")
    assert calls == ["kubernetes https://10.0.0.1:6443 ca=None token=t", "policy external-secrets",
                     "role external-secrets [('bound_service_account_names', ['external-secrets']), "
                     "('bound_service_account_namespaces', ['external-secrets']), ('policies', ['external-secrets'])]"]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(vault, "client", lambda addr, token=None: _Client(calls, token, ["secret/"], ["kubernetes/"]))
    monkeypatch.setattr(vault, "wait_active", lambda addr: calls.append(f"wait active {addr}"))
    monkeypatch.setattr(vault, "configure", lambda c, login: calls.append(f"configure token={c.token}"))
    return calls


def test_initialising_keeps_the_record_first_then_configures_with_its_token(tmp_path: Path,
                                                                          recorded: list[str]) -> None:
    store = _store(tmp_path)
    record = vaultinit.initialise("http://127.0.0.1:18200", "test", store, [IDENTITY.public],
                                  vault.Login("backup", "pw"), "CA")
    assert (record.env, record.root_token, record.recovery_keys) == ("test", "s.root", [])  # a static seal: no keys
    assert vaultinit.find(store, "test", [IDENTITY]) == record
    assert recorded[:3] == ["initialize shares=1 threshold=1", "wait active http://127.0.0.1:18200",
                            "configure token=s.root"]
    assert "kubernetes https://kubernetes.default.svc ca=CA token=s.root" in recorded


class _Refusing(FileStore):
    def put(self, name: str, data: bytes) -> None:
        raise StoreError(f"cannot write {name} to {self.url}: Permission denied")


def test_a_record_that_cannot_be_kept_stops_before_anything_is_configured(tmp_path: Path,
                                                                        recorded: list[str]) -> None:
    with pytest.raises(VaultError, match="initialised but its root token could not be kept: cannot write"):
        vaultinit.initialise("http://127.0.0.1:18200", "test", _Refusing(f"file://{tmp_path}", tmp_path),
                             [IDENTITY.public], vault.Login("backup", "pw"))
    assert recorded == ["initialize shares=1 threshold=1"]
