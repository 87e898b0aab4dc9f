"""Unfinished-restore records at their edges, on a directory store with a real age key (no `bao server`): only the
env's own records, oldest first, a record that is not JSON or misses a field named, a store that refuses the write,
the throwaway root token kept out of a record's repr, and signals held back over a step that must not be cut in two,
then only the first acted on (issue 32, boundaries of cattle/vault/pending.py, which only the real-server restore
tests of test_vault.py reached)."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
from pyrage import x25519

from cattle.errors import StoreError, VaultError
from cattle.secrets.keys import Identity
from cattle.stores import FileStore
from cattle.vault import pending, snapshots

KEY = x25519.Identity.generate()
IDENTITY = Identity(str(KEY), str(KEY.to_public()), "test")


def _record(env: str, record_id: str, token: str = "") -> pending.PendingRestore:
    return pending.PendingRestore(record_id, env, f"{record_id}-snapshot", "2026-12-04T10:00:00Z", token)


def test_only_the_envs_own_records_are_read_oldest_first(tmp_path: Path) -> None:
    store = FileStore(f"file://{tmp_path}", tmp_path)
    for record in (_record("test", "20261204T100000.000002Z-bbbbbb", "s.second"),
                   _record("test", "20261204T100000.000001Z-aaaaaa"),
                   _record("testing", "20261204T090000.000000Z-cccccc"),  # another env whose name starts alike
                   _record("prod", "20261204T080000.000000Z-dddddd")):
        pending.save(store, record, [IDENTITY.public])
    store.put("test.20261204T070000.000000Z-eeeeee.snapshot.age", b"a snapshot of the env, not a record")
    store.put("test.notes", b"anything else")
    found = pending.all_of(store, "test", [IDENTITY])
    assert [(r.id, r.root_token) for r in found] == [("20261204T100000.000001Z-aaaaaa", ""),
                                                     ("20261204T100000.000002Z-bbbbbb", "s.second")]
    assert found[1] == _record("test", "20261204T100000.000002Z-bbbbbb", "s.second")
    assert [r.env for r in pending.all_of(store, "testing", [IDENTITY])] == ["testing"]


def test_a_record_written_is_the_record_read_and_a_token_added_keeps_the_rest(tmp_path: Path) -> None:
    store = FileStore(f"file://{tmp_path}", tmp_path)
    record = pending.new("test", "20261204T100000.000000Z-ffffff")
    assert record.name == f"test.{record.id}.openbao-restore.age"
    assert record.root_token == ""
    pending.save(store, pending.with_token(record, "s.throwaway"), [IDENTITY.public])
    assert pending.all_of(store, "test", [IDENTITY]) == [pending.PendingRestore(
        record.id, "test", "20261204T100000.000000Z-ffffff", record.created, "s.throwaway")]
    pending.delete(store, record)
    assert pending.all_of(store, "test", [IDENTITY]) == []


def test_the_throwaway_root_token_is_not_in_a_records_repr() -> None:
    record = _record("test", "x", "s.only-way-in")
    assert "s.only-way-in" not in repr(record)
    assert "x-snapshot" in repr(record)


@pytest.mark.parametrize("plaintext, why", [(b"{not json", "Expecting property name"),
                                            (b'{"id": "x", "env": "test"}', "missing 2 required")])
def test_a_record_that_is_not_json_or_misses_a_field_is_named(tmp_path: Path, plaintext: bytes, why: str) -> None:
    store = FileStore(f"file://{tmp_path}", tmp_path)
    store.put("test.x.openbao-restore.age", snapshots.encrypt(plaintext, [IDENTITY.public]))
    with pytest.raises(VaultError, match=f"restore record test.x.openbao-restore.age in .* is unreadable: .*{why}"):
        pending.all_of(store, "test", [IDENTITY])


class _Refusing(FileStore):
    def put(self, name: str, data: bytes) -> None:
        raise StoreError(f"cannot write {name} to {self.url}: Permission denied")


def test_a_store_that_refuses_the_record_stops_the_restore_and_says_why(tmp_path: Path) -> None:
    record = _record("test", "x", "s.t")
    with pytest.raises(VaultError, match=r"cannot keep the restore record test.x.openbao-restore.age in .*: cannot "
                                         r"write test.x.openbao-restore.age .*Permission denied") as raised:
        pending.save(_Refusing(f"file://{tmp_path}", tmp_path), record, [IDENTITY.public])
    assert "write access" in (raised.value.hint or "")


@pytest.fixture
def handled() -> Iterator[list[int]]:
    """SIGTERM and SIGHUP recorded by this test's own handlers while it runs."""
    got: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        got.append(signum)
    before = {s: signal.signal(s, record) for s in (signal.SIGTERM, signal.SIGHUP)}
    yield got
    for s, handler in before.items():
        signal.signal(s, handler)


def test_signals_are_held_over_the_step_then_only_the_first_is_acted_on(handled: list[int]) -> None:
    mine = signal.getsignal(signal.SIGTERM)
    with pending.signals_deferred():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGHUP)
        assert handled == []  # held back while the step runs
    assert handled == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is mine and signal.getsignal(signal.SIGHUP) is mine


def test_without_a_signal_nothing_is_raised_and_the_handlers_are_back(handled: list[int]) -> None:
    mine = signal.getsignal(signal.SIGHUP)
    with pending.signals_deferred():
        pass
    assert handled == []
    assert signal.getsignal(signal.SIGHUP) is mine and signal.getsignal(signal.SIGTERM) is mine


def test_outside_the_main_thread_the_step_runs_as_it_is() -> None:
    ran: list[str] = []
    errors: list[BaseException] = []

    def step() -> None:
        try:
            with pending.signals_deferred():
                ran.append("step")
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
    thread = threading.Thread(target=step)
    thread.start()
    thread.join()
    assert (ran, errors) == (["step"], [])


def test_a_record_is_named_by_its_env_and_id_and_json_holds_every_field() -> None:
    record = _record("test", "x", "s.t")
    assert record.name == "test.x" + snapshots.PENDING_SUFFIX
    assert set(json.loads(json.dumps(record.__dict__))) == {"id", "env", "snapshot", "created", "root_token"}
