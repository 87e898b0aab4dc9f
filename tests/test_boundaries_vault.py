"""The Vault decision and the checks before OpenBao is touched, on their own (no server, no store): which snapshot
is newer than the one restored, doubts against --allow-empty-vault, a protected env against an unprotected one,
and every missing prerequisite of vault.configure named together (issue 32, mutation survivors of
cattle/vault/restore.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cattle import env
from cattle.errors import VaultError, VaultInUse
from cattle.secrets import keys, sopsconfig
from cattle.stores import FileStore
from cattle.vault import openbao as vault
from cattle.vault import restore as vaultdrill
from cattle.vault import setup as vaultinit
from cattle.vault import snapshots

STORE = "file:///backups/vault"


def _manifest(n: int) -> snapshots.Manifest:
    snapshot_id = f"2026110{n}T000000.000000Z-abc00{n}"
    return snapshots.Manifest(snapshot_id, "production", f"2026-11-0{n}T00:00:00Z", "2.7.2", 1, "a", "b", ["age1"],
                              "k1", "fp", snapshot_id)


@pytest.fixture(scope="module")
def production() -> env.Environment:
    found = env.load("production")
    assert found.protected
    return found


@pytest.fixture(scope="module")
def unprotected(production: env.Environment) -> env.Environment:
    return dataclasses.replace(production, protected=False)


def _decide(environment: env.Environment, allow_empty: bool = False, **catalog: object) -> vaultdrill.VaultDecision:
    return vaultdrill.decide(environment, snapshots.Catalog(STORE, "production", **catalog),  # type: ignore[arg-type]
                             STORE, allow_empty=allow_empty)


def test_only_an_undecryptable_snapshot_newer_than_the_newest_valid_one_refuses(production: env.Environment) -> None:
    old, new = _manifest(1), _manifest(2)
    older = _decide(production, valid=(new,), undecryptable=((old, "encrypted for a key not here"),))
    assert (older.action, older.snapshot) == ("restore", new.id)
    assert older.reason == (f"restore the newest Vault snapshot {new.id} (skipped, unusable: {old.id}"
                            f"{snapshots.MANIFEST_SUFFIX}: encrypted for a key not here)")
    newer = _decide(production, valid=(old,), undecryptable=((new, "encrypted for a key not here"),))
    assert newer.action == "refuse"
    assert f"{new.id}: encrypted for a key not here; refusing to restore an older one" in newer.reason
    assert f"{old.id}:" not in newer.reason
    alone = _decide(production, allow_empty=True, undecryptable=((old, "no key"),))
    assert alone.action == "refuse" and alone.hint and "--snapshot ID" in alone.hint


def test_a_future_dated_copy_refuses_even_beside_a_valid_snapshot(production: env.Environment) -> None:
    decision = _decide(production, valid=(_manifest(1),), future=((_manifest(2), "dated in the future"),))
    assert decision.action == "refuse"
    assert "dated in the future" in decision.reason and decision.snapshot is None


def test_doubts_block_initialising_unless_allow_empty_even_for_an_unprotected_env(
        production: env.Environment, unprotected: env.Environment) -> None:
    doubt = ("production/stray.age",)
    for environment in (production, unprotected):
        assert _decide(environment, unaccounted=doubt).action == "refuse"
    assert _decide(unprotected, allow_empty=True, unaccounted=doubt).action == "initialise"
    assert _decide(production, allow_empty=True, unaccounted=doubt).action == "initialise"


def test_an_empty_store_initialises_an_unprotected_env_and_a_protected_one_only_when_allowed(
        production: env.Environment, unprotected: env.Environment) -> None:
    assert _decide(unprotected).action == "initialise"
    refused = _decide(production)
    assert (refused.action, refused.reason) == ("refuse", vaultdrill.empty_refusal(production, STORE)[0])
    assert _decide(production, allow_empty=True).action == "initialise"


def test_a_store_error_and_a_missing_named_snapshot_refuse(production: env.Environment) -> None:
    errored = vaultdrill.decide(production, snapshots.Catalog(STORE, "production", valid=(_manifest(1),)), STORE,
                                store_error="AccessDenied", allow_empty=True)
    assert errored.action == "refuse" and "AccessDenied" in errored.reason
    missing = vaultdrill.decide(production, None, STORE, snapshot="20261101T000000.000000Z-abc001")
    assert (missing.action, missing.reason) == ("refuse", "snapshot '20261101T000000.000000Z-abc001' not found")
    named = vaultdrill.decide(production, None, STORE, snapshot=_manifest(1).id, named=_manifest(1))
    assert (named.action, named.snapshot) == ("restore", _manifest(1).id)


def test_the_address_is_the_flag_then_vault_addr_then_bao_addr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    monkeypatch.delenv("BAO_ADDR", raising=False)
    with pytest.raises(VaultError, match="no OpenBao address"):
        vaultdrill.address(None)
    monkeypatch.setenv("BAO_ADDR", "http://bao:8200")
    assert vaultdrill.address(None) == "http://bao:8200"
    monkeypatch.setenv("VAULT_ADDR", "http://vault:8200")
    assert vaultdrill.address(None) == "http://vault:8200"
    assert vaultdrill.address("http://flag:8200") == "http://flag:8200"


@pytest.mark.parametrize(("code", "missing"), [
    (501, "an initialised OpenBao at http://bao:8200 (it is not initialised"),
    (503, "an unsealed OpenBao at http://bao:8200 (it is sealed: start it with production's seal key)"),
    (429, "the active node (http://bao:8200 is a standby: use svc/openbao-active)"),
])
def test_configure_names_every_missing_prerequisite_before_writing(production: env.Environment, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch, code: int,
                                                                   missing: str) -> None:
    monkeypatch.setattr(vault, "health", lambda addr: code)
    monkeypatch.setattr(vault, "client", lambda *args: pytest.fail("configure wrote before naming what is missing"))
    monkeypatch.setenv("VAULT_TOKEN", "root")
    with pytest.raises(VaultError) as raised:
        vaultdrill.configure(production, "http://bao:8200", None, None)
    prefix = "cannot configure OpenBao for production; missing: "
    assert raised.value.message.startswith(prefix + missing), raised.value.message
    monkeypatch.delenv("VAULT_TOKEN")
    monkeypatch.delenv("BAO_TOKEN", raising=False)
    with pytest.raises(VaultError) as raised:
        vaultdrill.configure(production, "http://bao:8200", None, tmp_path / "no-ca.pem")
    assert raised.value.message.startswith(
        prefix + f"{TOKEN}; the cluster CA file {tmp_path / 'no-ca.pem'} (No such file or directory); {missing}")


TOKEN = ("a root token (--token, $VAULT_TOKEN or $BAO_TOKEN; after bootstrap it is in the init record "
         "<env>.<id>.openbao-init.age in the Vault store, age-encrypted)")


def test_configure_of_a_serving_openbao_without_a_token_names_only_the_token(production: env.Environment,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vault, "health", lambda addr: 200)
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    monkeypatch.setenv("BAO_TOKEN", "")
    with pytest.raises(VaultError) as raised:
        vaultdrill.configure(production, "http://bao:8200", None, None)
    assert raised.value.message == f"cannot configure OpenBao for production; missing: {TOKEN}"
    monkeypatch.setenv("BAO_TOKEN", "from-bao-token")
    monkeypatch.setattr(vault, "client", lambda addr, token: pytest.fail(f"reached the server with {token}"))
    with pytest.raises(pytest.fail.Exception, match="reached the server with from-bao-token"):
        vaultdrill.configure(production, "http://bao:8200", None, None)


def test_the_store_is_the_flag_then_the_variable_then_the_environment_file(production: env.Environment,
                                                                            tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(vaultdrill.STORE_VARIABLE, raising=False)
    assert vaultdrill.store_for(production).url == production.backups.vault_store
    monkeypatch.setenv(vaultdrill.STORE_VARIABLE, f"file://{tmp_path / 'variable'}")
    assert vaultdrill.store_for(production).url == f"file://{tmp_path / 'variable'}"
    assert vaultdrill.store_for(production, f"file://{tmp_path / 'flag'}").url == f"file://{tmp_path / 'flag'}"


class _BringUp:
    """bring_up's collaborators replaced by recorders: which OpenBao calls it makes, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, code: int, record: vaultinit.InitRecord | None,
                 restored: vault.RestoreReport | Exception | None = None) -> None:
        self.calls: list[str] = []
        store = FileStore("file:///vault-store", Path("/nonexistent/vault-store"))
        monkeypatch.setattr(vaultdrill, "store_for", lambda environment, url=None: store)
        monkeypatch.setattr(keys, "decryption_identities", lambda env: [])
        monkeypatch.setattr(vault, "health", lambda addr: code)
        monkeypatch.setattr(vault, "backup_login", lambda root, env: "login")
        monkeypatch.setattr(sopsconfig, "required_recipients", lambda root, env: ["age1"])

        def find(store: object, env: str, identities: object, before: str | None = None) -> object:
            self.calls.append(f"find before {before}")
            return record

        def restore(environment: object, addr: str, snapshot: str,
                    restart_active: object = None, restart_nodes: object = None) -> vault.RestoreReport:
            self.calls.append(f"restore {snapshot}")
            if isinstance(restored, Exception):
                raise restored
            assert restored is not None
            return restored

        def initialise(*args: object) -> vaultinit.InitRecord:
            self.calls.append("initialise")
            return RECORD

        def backup(environment: object, addr: str) -> snapshots.Manifest:
            self.calls.append("backup")
            return _manifest(3)

        monkeypatch.setattr(vaultinit, "find", find)
        monkeypatch.setattr(vaultinit, "initialise", initialise)
        monkeypatch.setattr(vaultdrill, "restore", restore)
        monkeypatch.setattr(vaultdrill, "backup", backup)
        monkeypatch.setattr(vault, "client", lambda addr, token: self.calls.append(f"client {token}"))
        monkeypatch.setattr(vault, "configure", lambda client, login: self.calls.append("configure"))
        monkeypatch.setattr(vaultinit, "configure_platform", lambda client, ca: self.calls.append(f"platform {ca}"))


RECORD = vaultinit.InitRecord("20261101T000000.000000Z-rec", "production", "2026-11-01T00:00:00Z", "root-t", [])
INITIALISE = vaultdrill.VaultDecision("initialise", "file:///vault-store", "empty")


def test_bring_up_refuses_as_decided(production: env.Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(VaultError) as raised:
        vaultdrill.bring_up(production, "http://bao", vaultdrill.VaultDecision("refuse", "s", "no snapshot",
                                                                               hint="do this"))
    assert (raised.value.message, raised.value.hint) == ("no snapshot", "do this")


def test_bring_up_initialises_only_an_openbao_that_is_not_initialised(production: env.Environment,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = _BringUp(monkeypatch, 501, None)
    done = vaultdrill.bring_up(production, "http://bao", INITIALISE, "CA")
    assert fresh.calls == ["initialise", "backup"]
    assert done == (f"no Vault snapshot in file:///vault-store: initialised a fresh OpenBao (init record "
                    f"{RECORD.name} kept there, encrypted), configured it for the platform, first snapshot "
                    f"{_manifest(3).id}")
    serving = _BringUp(monkeypatch, 200, None)  # initialised before this run: never initialised again
    assert vaultdrill.bring_up(production, "http://bao", INITIALISE) == (
        "OpenBao is initialised and file:///vault-store holds no snapshot of it yet; no init record in the store, "
        "so the platform configuration was not checked")
    assert serving.calls == ["find before None"]
    stopped = _BringUp(monkeypatch, 429, RECORD)  # a run that initialised it and stopped before its snapshot
    assert vaultdrill.bring_up(production, "http://bao", INITIALISE, "CA").endswith(
        f"; first snapshot {_manifest(3).id}; platform configuration ensured")
    assert stopped.calls == ["find before None", "client root-t", "configure", "platform CA", "backup"]


def test_bring_up_leaves_a_serving_openbao_holding_other_data_as_it_is(production: env.Environment,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    restore = vaultdrill.VaultDecision("restore", "file:///vault-store", "newest", _manifest(2).id)
    serving = _BringUp(monkeypatch, 200, RECORD, restored=VaultInUse("in use"))
    done = vaultdrill.bring_up(production, "http://bao", restore)
    assert done == (f"OpenBao was already serving and holds other data than snapshot {_manifest(2).id}: left as it "
                    "is; platform configuration ensured")
    assert serving.calls == [f"restore {_manifest(2).id}", "find before None", "client root-t", "configure",
                             "platform None"]
    _BringUp(monkeypatch, 501, RECORD, restored=VaultInUse("in use"))
    with pytest.raises(VaultInUse):
        vaultdrill.bring_up(production, "http://bao", restore)
    report = vault.RestoreReport(_manifest(2).id, "production", "c", 1.0, {"kv_secrets": 3}, already_restored=True)
    restored = _BringUp(monkeypatch, 501, RECORD, restored=report)
    assert vaultdrill.bring_up(production, "http://bao", restore) == (
        f"Vault snapshot {_manifest(2).id} already restored; 3 kv secrets; platform configuration ensured")
    assert restored.calls[:2] == [f"restore {_manifest(2).id}", f"find before {_manifest(2).id}"]


@pytest.mark.parametrize(("refusal", "kubernetes_ca", "message"), [
    ("permission denied", None,
     "the token given to http://bao:8200 may not configure it (permission denied)"),
    ("open /var/run/secrets/kubernetes.io/serviceaccount/ca.crt: no such file", None,
     "OpenBao at http://bao:8200 runs outside a Kubernetes pod, so it has no cluster CA of its own to read (open "
     "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt: no such file)"),
    ("open /var/run/secrets/kubernetes.io/serviceaccount/ca.crt: no such file", "ca.pem",
     "OpenBao at http://bao:8200 refused the configuration: InvalidRequest: open "
     "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt: no such file"),
    ("x" * 300, None, f"OpenBao at http://bao:8200 refused the configuration: InvalidRequest: {'x' * 200}"),
])
def test_configure_refused_by_openbao_says_why_in_one_line(production: env.Environment, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch, refusal: str,
                                                           kubernetes_ca: str | None, message: str) -> None:
    from hvac.exceptions import InvalidRequest

    def refuse(client: object, login: object) -> None:
        raise InvalidRequest(refusal + "\nsecond line", method="put", url="/v1/auth")

    monkeypatch.setattr(vault, "health", lambda addr: 200)
    monkeypatch.setattr(vault, "client", lambda addr, token: None)
    monkeypatch.setattr(vault, "backup_login", lambda root, env: None)
    monkeypatch.setattr(vault, "configure", refuse)
    ca = None
    if kubernetes_ca is not None:
        ca = tmp_path / kubernetes_ca
        ca.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(VaultError) as raised:
        vaultdrill.configure(production, "http://bao:8200", "root", ca)
    assert raised.value.message == message


def test_configure_of_a_ready_openbao_returns_its_address(production: env.Environment, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    done: list[object] = []
    monkeypatch.setattr(vault, "health", lambda addr: 200)
    monkeypatch.setattr(vault, "client", lambda addr, token: f"client of {addr} with {token}")
    monkeypatch.setattr(vault, "backup_login", lambda root, env: "login")
    monkeypatch.setattr(vault, "configure", lambda client, login: done.append((client, login)))
    monkeypatch.setattr(vaultinit, "configure_platform", lambda client, ca: done.append(ca))
    (tmp_path / "ca.pem").write_text("CA")
    assert vaultdrill.configure(production, "http://bao:8200", "t", tmp_path / "ca.pem") == "http://bao:8200"
    assert done == [("client of http://bao:8200 with t", "login"), "CA"]


def test_bring_up_says_when_the_platform_configuration_was_not_ensured(production: env.Environment,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from hvac.exceptions import Forbidden

    def forbidden(client: object, login: object) -> None:
        raise Forbidden("permission denied")

    serving = _BringUp(monkeypatch, 200, RECORD)
    monkeypatch.setattr(vault, "configure", forbidden)
    assert vaultdrill.bring_up(production, "http://bao", INITIALISE) == (
        "OpenBao is initialised and file:///vault-store holds no snapshot of it yet; platform configuration not "
        f"ensured (init record {RECORD.name}: Forbidden)")
    assert "backup" not in serving.calls


def test_importing_a_file_that_cannot_be_read_says_so(production: env.Environment, tmp_path: Path) -> None:
    with pytest.raises(VaultError) as raised:
        vaultdrill.import_snapshot(production, tmp_path / "missing.snap")
    assert raised.value.message == f"cannot read {tmp_path / 'missing.snap'}: No such file or directory"


def test_latest_typed_on_the_command_line_is_the_newest_snapshot(production: env.Environment, tmp_path: Path) -> None:
    """`--snapshot latest` from argv is an equal string, not cattle's own literal: compared by value."""
    from pyrage import x25519

    from cattle.secrets.keys import Identity

    key = x25519.Identity.generate()
    identity = Identity(str(key), str(key.to_public()), "test")
    store = FileStore(f"file://{tmp_path / 'vault'}", tmp_path / "vault")
    plaintext = b"raft"
    blob = snapshots.encrypt(plaintext, [identity.public])
    newest = dataclasses.replace(_manifest(1), size=len(blob), sha256=snapshots.sha256(blob),
                                 snapshot_sha256=snapshots.sha256(plaintext), recipients=[identity.public])
    snapshots.save(store, newest, blob)
    typed = "".join(["lat", "est"])
    assert typed == "latest" and id(typed) != id("latest")
    decision = vaultdrill.plan_vault(production, snapshot=typed, store=store, identities=[identity])
    assert (decision.action, decision.snapshot) == ("restore", newest.id)
    assert decision.reason == f"restore the newest Vault snapshot {newest.id}"


def test_the_decision_for_latest_given_as_an_equal_string_is_the_newest(production: env.Environment) -> None:
    catalog = snapshots.Catalog(STORE, "production", valid=(_manifest(1), _manifest(2)))
    decision = vaultdrill.decide(production, catalog, STORE, snapshot="".join(["lat", "est"]))
    assert (decision.action, decision.snapshot) == ("restore", _manifest(2).id)


def test_only_503_is_called_sealed(production: env.Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gateway's 504 in front of OpenBao is not a sealed OpenBao: configure goes on and says what OpenBao answers."""
    monkeypatch.setattr(vault, "health", lambda addr: 504)
    monkeypatch.setattr(vault, "client", lambda addr, token: pytest.fail(f"reached {addr}"))
    with pytest.raises(pytest.fail.Exception, match="reached http://bao:8200"):
        vaultdrill.configure(production, "http://bao:8200", "root", None)
