"""OpenBao's client side at its edges, with requests and hvac answered by stand-ins on fake time (no `bao server`):
the health code as the server gives it and an unreachable address named, the waits for an active or ready server to
their deadlines, a just-enabled KV v2 mount retried only while it upgrades, KV secrets counted through folders, and
what the inventory counts (issue 32, boundaries of cattle/vault/openbao.py, whose other tests run real servers)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import requests
from hvac.exceptions import InvalidPath, InvalidRequest
from pyrage import x25519

from cattle.errors import VaultError
from cattle.secrets.keys import Identity
from cattle.stores import FileStore
from cattle.vault import openbao as vault
from cattle.vault import pending, snapshots
from tests.waiting import FakeClock

ADDR = "http://127.0.0.1:18200"


class _Answer:
    def __init__(self, status_code: int, body: Any = None) -> None:
        self.status_code = status_code
        self.body = body

    def json(self) -> Any:
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


class _Server:
    """requests.get stood in: the answers given in turn (the last one repeated; an exception is raised), each health
    code a fresh int as parsed from a status line; every URL and timeout asked recorded."""

    def __init__(self) -> None:
        self.given: list[Any] = [200]
        self.asked: list[tuple[str, float]] = []

    def get(self, url: str, timeout: float) -> _Answer:
        self.asked.append((url, timeout))
        answer = self.given[min(len(self.asked), len(self.given)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, _Answer) else _Answer(int(str(answer)))


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> _Server:
    server = _Server()
    monkeypatch.setattr(requests, "get", server.get)
    return server


def _set(answers: _Server, *codes: Any) -> list[tuple[str, float]]:
    answers.given, answers.asked = list(codes), []
    return answers.asked


def test_health_is_the_code_of_the_health_endpoint_asked_with_five_seconds(answers: _Server) -> None:
    asked = _set(answers, 429)
    assert vault.health(ADDR) == 429
    assert asked == [(ADDR + "/v1/sys/health?uninitcode=501&sealedcode=503&standbycode=429&perfstandbycode=429", 5)]


def test_an_unreachable_address_is_named_with_what_went_wrong(answers: _Server) -> None:
    _set(answers, requests.ConnectionError("refused"))
    with pytest.raises(VaultError, match=r"OpenBao at http://127\.0\.0\.1:18200 is unreachable: ConnectionError"):
        vault.health(ADDR)


def test_waiting_for_the_active_node_polls_every_fifth_of_a_second_to_its_deadline(answers: _Server,
                                                                                   clock: FakeClock) -> None:
    asked = _set(answers, 429, 429, 200)
    vault.wait_active(ADDR, timeout=5)
    assert len(asked) == 3 and clock.now == pytest.approx(1000.4)
    asked = _set(answers, 429)
    with pytest.raises(VaultError, match=r"did not become active within 1s \(health 429\)"):
        vault.wait_active(ADDR, timeout=1)
    assert len(asked) == 5  # at 0, 0.2, 0.4, 0.6, 0.8 s: not at 1 s, the deadline


def test_waiting_for_the_active_node_is_a_minute_by_default(answers: _Server, clock: FakeClock) -> None:
    _set(answers, 503)
    with pytest.raises(VaultError, match="within 60s"):
        vault.wait_active(ADDR)
    assert clock.now == pytest.approx(1060.0)


def test_waiting_until_ready_takes_an_unreachable_server_for_not_yet(answers: _Server, clock: FakeClock) -> None:
    asked = _set(answers, requests.ConnectionError("refused"), 503, 501)
    assert vault.wait_ready(ADDR, 30) == 501
    assert len(asked) == 3 and clock.now == 1002.0  # a second between looks
    asked = _set(answers, 429)
    assert vault.wait_ready(ADDR, 30, accept=(200, 429)) == 429
    _set(answers, requests.ConnectionError("refused"))
    with pytest.raises(VaultError, match=r"did not come up within 3s \(health 0\)"):
        vault.wait_ready(ADDR, 3)
    _set(answers, 429)
    with pytest.raises(VaultError, match=r"did not come up within 2s \(health 429\)"):
        vault.wait_ready(ADDR, 2)  # a standby is neither active nor waiting for initialisation


UPGRADING = InvalidRequest("Upgrading from non-versioned to versioned data. This backend will be unavailable for a "
                           "brief period and will resume service shortly.")


def test_a_kv_mount_is_retried_only_while_it_upgrades_and_only_to_its_deadline(clock: FakeClock) -> None:
    tries: list[float] = []

    def upgrading_twice() -> str:
        tries.append(clock.now)
        if len(tries) < 3:
            raise UPGRADING
        return "read"
    assert vault.retry_upgrading(upgrading_twice) == "read"
    assert tries == [1000.0, 1000.2, pytest.approx(1000.4)]

    def refused() -> str:
        raise InvalidRequest("permission denied")
    with pytest.raises(InvalidRequest, match="permission denied"):
        vault.retry_upgrading(refused)

    def upgrading() -> str:
        raise UPGRADING
    started = clock.now
    with pytest.raises(InvalidRequest, match="Upgrading"):
        vault.retry_upgrading(upgrading)
    assert 15.0 < clock.now - started <= 15.2 + 1e-9  # 15 s by default, then once more past it


class _KV:
    def __init__(self, tree: dict[str, list[str]]) -> None:
        self.tree = tree

    def list_secrets(self, path: str, mount_point: str) -> dict[str, Any]:
        """The tree's paths are `mount/path`; a mount holding nothing answers 404, as OpenBao does."""
        if f"{mount_point}/{path}" not in self.tree:
            raise InvalidPath("no such path")
        return {"data": {"keys": self.tree[f"{mount_point}/{path}"]}}


class _Client:
    def __init__(self, mounts: dict[str, Any], v2: dict[str, list[str]], v1: dict[str, list[str]]) -> None:
        class Secrets:
            class kv:
                pass
        self.secrets = Secrets()
        self.secrets.kv.v2 = _KV(v2)  # type: ignore[attr-defined]
        self.secrets.kv.v1 = _KV(v1)  # type: ignore[attr-defined]
        outer_mounts = mounts

        class Sys:
            def list_mounted_secrets_engines(self) -> dict[str, Any]:
                return {"data": outer_mounts}

            def list_auth_methods(self) -> dict[str, Any]:
                return {"data": {"token/": {}, "userpass/": {}}}

            def list_acl_policies(self) -> dict[str, Any]:
                return {"data": {"keys": ["default", "root", "cattle-backup"]}}
        self.sys = Sys()


def test_the_inventory_counts_kv_secrets_through_folders_in_either_kv_version() -> None:
    mounts = {"secret/": {"type": "kv", "options": {"version": "2"}},
              "old/": {"type": "kv", "options": None},  # KV version 1: no options
              "empty/": {"type": "kv", "options": {"version": "2"}},
              "transit/": {"type": "transit"}, "sys/": {"type": "system"}, "identity/": {"type": "identity"},
              "cubbyhole/": {"type": "cubbyhole"}, "request_id": "not a mount"}
    v2 = {"secret/": ["apps/", "top"], "secret/apps/": ["a", "b", "deeper/"], "secret/apps/deeper/": ["c"]}
    v1 = {"old/": ["x", "y/"], "old/y/": ["z"]}
    assert vault.inventory(_Client(mounts, v2, v1)) == {  # type: ignore[arg-type]
        "kv_secrets": 4 + 2 + 0, "secret_engines": 4, "auth_methods": 2, "policies": 3}


def test_counts_are_described_in_words() -> None:
    assert vault.describe_counts({"kv_secrets": 3, "auth_methods": 2}) == "3 kv secrets, 2 auth methods"


def test_the_version_is_the_health_endpoints_or_unknown(answers: _Server) -> None:
    asked = _set(answers, _Answer(200, {"version": "2.4.1"}))
    assert vault._version(ADDR) == "2.4.1"
    assert asked == [(ADDR + "/v1/sys/health?uninitcode=501&sealedcode=503&standbycode=429&perfstandbycode=429", 5)]
    _set(answers, _Answer(200, {}))
    assert vault._version(ADDR) == "unknown"
    _set(answers, _Answer(502, ValueError("not JSON")))
    assert vault._version(ADDR) == "unknown"
    _set(answers, requests.ConnectionError("refused"))
    assert vault._version(ADDR) == "unknown"


def test_a_seal_keys_fingerprint_is_the_first_16_hex_digits_of_its_sha256() -> None:
    # manifests written by earlier runs carry this fingerprint: a restore compares it with the key at hand
    key = "00" * 31 + "01"
    assert vault.SealMaterial(key).fingerprint == hashlib.sha256(bytes.fromhex(key)).hexdigest()[:16]
    assert vault.SealMaterial(key).fingerprint == "ec4916dd28fc4c10"
    assert key not in repr(vault.SealMaterial(key))


class _Restoring:
    """apply_snapshot's OpenBao stood in: the snapshot handed over, applied from the given look on, on fake time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, clock: FakeClock, applied_from: int) -> None:
        self.calls: list[str] = []
        self.looks = 0
        self.applied_from = applied_from
        restoring = self

        class Sys:
            def restore_raft_snapshot(self, plaintext: bytes) -> None:
                restoring.calls.append(f"restore {len(plaintext)} bytes")

        class Client:
            sys = Sys()
        monkeypatch.setattr(vault, "client", lambda addr, token=None: Client())
        monkeypatch.setattr(vault, "_alive", lambda addr: None)
        monkeypatch.setattr(vault, "health", lambda addr: 503)
        monkeypatch.setattr(vault, "wait_active", lambda addr, timeout: self.calls.append(f"active {timeout}"))

    def applied(self) -> bool:
        self.looks += 1
        return self.looks >= self.applied_from


def test_a_snapshot_is_waited_on_every_quarter_second_until_it_applied(monkeypatch: pytest.MonkeyPatch,
                                                                        clock: FakeClock) -> None:
    bao = _Restoring(monkeypatch, clock, applied_from=3)
    vault.apply_snapshot(ADDR, "s.root", b"raft", "snap-1", bao.applied, timeout=5)
    assert bao.calls == ["restore 4 bytes", "active 5"]
    assert (bao.looks, clock.now) == (3, 1000.5)


def test_a_snapshot_that_never_applies_fails_after_its_timeout(monkeypatch: pytest.MonkeyPatch,
                                                               clock: FakeClock) -> None:
    bao = _Restoring(monkeypatch, clock, applied_from=10_000)
    with pytest.raises(VaultError, match=r"snapshot snap-1 did not apply within 1s \(health 503\)"):
        vault.apply_snapshot(ADDR, "s.root", b"raft", "snap-1", bao.applied, timeout=1)
    assert bao.looks == 6  # at 0, 0.25, 0.5, 0.75, 1 s (not past the deadline) and at 1.25 s, past it


def test_a_restore_found_already_applied_reports_the_seconds_it_took(monkeypatch: pytest.MonkeyPatch,
                                                                     clock: FakeClock) -> None:
    seal = vault.SealMaterial("00" * 31 + "01")
    manifest = snapshots.Manifest("snap-1", "testing", "2026-12-04T10:00:00Z", "2.4.1", 4, "x", "y", ["age1"],
                                  seal.key_id, seal.fingerprint, "snap-1", {"kv_secrets": 1})
    monkeypatch.setattr(snapshots, "find", lambda store, env, snapshot: manifest)
    monkeypatch.setattr(snapshots, "load", lambda store, manifest, identities: b"raft")
    monkeypatch.setattr(vault, "health", lambda addr: 200)
    monkeypatch.setattr(vault, "_canary", lambda addr, credentials: "snap-1")
    monkeypatch.setattr(vault, "login", lambda addr, credentials: addr)
    monkeypatch.setattr(vault, "inventory", lambda c: {"kv_secrets": 1})

    def every_node(addr: str, credentials: object, timeout: float, restart_active: object, restarted: bool,
                   restart_nodes: object = None) -> str:
        clock.sleep(7.0)  # the raft nodes took seven seconds to agree
        return addr
    monkeypatch.setattr(vault, "_every_node", every_node)
    report = vault.restore(ADDR, "testing", object(), [], seal, vault.Login("backup", "pw"),  # type: ignore[arg-type]
                           keep_pending=False)
    assert report.already_restored and report.seconds == 7.0 and report.counts == {"kv_secrets": 1}


def test_an_imported_snapshot_applied_when_the_login_works_and_the_counts_match(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a snapshot taken without cattle (vault.import) has no canary: the backup login and the counts tell
    login = vault.Login("backup", "pw")
    counts = {"kv_secrets": 3, "policies": 2}
    monkeypatch.setattr(vault, "login", lambda addr, credentials: "client")
    monkeypatch.setattr(vault, "inventory", lambda c: {"kv_secrets": 3, "policies": 2})
    assert vault._applied(ADDR, login, "", dict(counts))
    assert not vault._applied(ADDR, login, "", {"kv_secrets": 4, "policies": 2})
    assert vault.applied_login(ADDR, login)

    def refused(addr: str, credentials: vault.Login) -> str:
        raise VaultError("login as backup failed: permission denied")  # the snapshot holding the login not applied
    monkeypatch.setattr(vault, "login", refused)
    assert not vault._applied(ADDR, login, "", counts)
    assert not vault.applied_login(ADDR, login)


def test_a_verified_restore_deletes_its_record_and_older_tokenless_ones_only(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = x25519.Identity.generate()
    identity = Identity(str(key), str(key.to_public()), "test")
    store = FileStore(f"file://{tmp_path}", tmp_path)
    older = pending.PendingRestore("20000101T000000.000000Z-aaaaaa", "testing", "snap-0", "2000-01-01T00:00:00Z")
    newer = pending.PendingRestore("29991231T000000.000000Z-ffffff", "testing", "snap-9", "2999-12-31T00:00:00Z")
    other = pending.PendingRestore("20000101T000000.000000Z-bbbbbb", "testing", "snap-0", "2000-01-01T00:00:00Z",
                                   "s.another-servers-token")
    for record in (older, newer, other):
        pending.save(store, record, [identity.public])
    seal = vault.SealMaterial("00" * 31 + "01")
    manifest = snapshots.Manifest("snap-1", "testing", "2026-12-04T10:00:00Z", "2.4.1", 4, "x", "y", [identity.public],
                                  seal.key_id, seal.fingerprint, "snap-1", {})
    monkeypatch.setattr(snapshots, "find", lambda store, env, snapshot: manifest)
    monkeypatch.setattr(snapshots, "load", lambda store, manifest, identities: b"raft")
    monkeypatch.setattr(vault, "health", lambda addr: 501)
    monkeypatch.setattr(vault, "initialise_fresh", lambda addr, keep: keep("s.root") or "s.root")
    monkeypatch.setattr(vault, "apply_snapshot", lambda *args, **kwargs: None)
    monkeypatch.setattr(vault, "login", lambda addr, credentials: addr)
    monkeypatch.setattr(vault, "inventory", lambda c: {})
    monkeypatch.setattr(vault, "_every_node", lambda addr, *args, **kwargs: addr)
    report = vault.restore(ADDR, "testing", store, [identity], seal, vault.Login("backup", "pw"))
    assert report.initialised_target
    # a token-less record newer than this restore's may be another run's, still initialising: it stays
    assert pending.all_of(store, "testing", [identity]) == [other, newer]
