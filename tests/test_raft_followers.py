"""After a restore onto several OpenBao nodes: the active node restarts, then any follower still behind restarts
once (a node that joined while the snapshot was applied keeps the keyring of before: seen with bao 2.6.2 in about 1
run of 3, tests/test_vault_raft.py), and a follower still behind after that stops the restore with its name.
Fakes for the raft wait and the pods; the real nodes are in tests/test_vault_raft.py."""

from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import Any

import pytest

from cattle.errors import VaultError
from cattle.vault import endpoint as baoendpoint
from cattle.vault import openbao as vault
from cattle.vault import raftpeers
from tests.waiting import FakeClock

LOGIN = vault.Login("cattle-backup", "secret")


class _Raft:
    """wait_agree's answers in turn: None (every node agrees) or the ids of the nodes behind."""

    def __init__(self, *answers: list[str] | None) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def wait_agree(self, client: Any, addr: str, timeout: float = 120, poll: float = 1.0) -> int:
        self.asked.append(addr)
        behind = self.answers.pop(0)
        if behind:
            raise raftpeers.NodesBehind(f"raft nodes did not catch up: {', '.join(behind)}", "restart them", behind)
        return 3


@pytest.fixture
def done(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What was restarted, in order; logins and the wait for an active node answer at once."""
    monkeypatch.setattr(vault, "login", lambda addr, credentials: addr)
    monkeypatch.setattr(vault, "wait_active", lambda addr, timeout=120: None)
    return []


def _every_node(raft: _Raft, done: list[str], monkeypatch: pytest.MonkeyPatch, restarted: bool = True,
                nodes: bool = True) -> str:
    monkeypatch.setattr(raftpeers, "wait_agree", raft.wait_agree)

    def restart_active() -> str:
        done.append("active")
        return "http://127.0.0.1:2"

    def restart_nodes(ids: list[str]) -> str:
        done.append(f"nodes {ids}")
        return "http://127.0.0.1:3"

    return vault._every_node("http://127.0.0.1:1", LOGIN, 30, restart_active, restarted,
                             restart_nodes if nodes else None)


def test_a_follower_behind_after_the_active_nodes_restart_is_restarted_once(
        done: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    raft = _Raft(["openbao-2"], None)
    assert _every_node(raft, done, monkeypatch) == "http://127.0.0.1:3"
    assert done == ["active", "nodes ['openbao-2']"]
    assert raft.asked == ["http://127.0.0.1:2", "http://127.0.0.1:3"]  # checked again where the active node is


def test_every_node_agreeing_after_the_active_nodes_restart_restarts_no_follower(
        done: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert _every_node(_Raft(None), done, monkeypatch) == "http://127.0.0.1:2"
    assert done == ["active"]


def test_a_follower_still_behind_after_its_restart_stops_the_restore_with_its_name(
        done: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(raftpeers.NodesBehind, match="openbao-1") as raised:
        _every_node(_Raft(["openbao-1", "openbao-2"], ["openbao-1"]), done, monkeypatch)
    assert raised.value.nodes == ["openbao-1"]
    assert done == ["active", "nodes ['openbao-1', 'openbao-2']"]  # once: no loop of restarts


def test_without_a_way_to_restart_pods_the_nodes_behind_stop_the_restore(
        done: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(raftpeers.NodesBehind, match="openbao-2"):
        _every_node(_Raft(["openbao-2"]), done, monkeypatch, nodes=False)
    assert done == ["active"]


def test_a_rerun_restarts_the_active_node_then_the_followers_still_behind(
        done: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-run finds the snapshot applied (restarted=False): nodes behind restart the active node first."""
    raft = _Raft(["openbao-1"], ["openbao-1"], None)
    assert _every_node(raft, done, monkeypatch, restarted=False) == "http://127.0.0.1:3"
    assert done == ["active", "nodes ['openbao-1']"]
    assert raft.asked == ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"]


def test_the_wait_names_the_node_ids_behind_for_the_restart() -> None:
    state = {"leader": "openbao-0", "servers": {
        "openbao-0": {"id": "openbao-0", "node_status": "alive", "last_index": 45, "healthy": True},
        "openbao-1": {"id": "openbao-1", "node_status": "alive", "last_index": 0, "healthy": False},
        "openbao-2": {"id": "openbao-2", "node_status": "alive", "last_index": 45, "healthy": True}}}

    class Client:
        class adapter:
            @staticmethod
            def get(path: str) -> dict[str, Any]:
                return {"data": state}

    with pytest.raises(raftpeers.NodesBehind) as raised:
        raftpeers.wait_agree(Client(), "http://127.0.0.1:1", timeout=-1)
    assert raised.value.nodes == ["openbao-1"]
    assert "kubectl -n openbao delete pod NAME" in str(raised.value)


class _Pods:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.calls: list[str] = []
        self.uid: dict[str, str] = {name: "old" for name in names}

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        self.calls.append(f"delete {name}")
        self.uid[name] = "new"

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        if name not in self.names:
            return None
        return {"metadata": {"uid": self.uid[name]}, "status": {"phase": "Running"}}


def _forward(target: str) -> AbstractContextManager[str]:
    return nullcontext("unused")


def test_the_named_pods_are_restarted_in_turn_and_the_active_node_reached_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baoendpoint, "reach", lambda _stack, _forward, _timeout: ("http://127.0.0.1:1234", 200))
    pods = _Pods(["openbao-0", "openbao-1", "openbao-2"])
    with ExitStack() as stack:
        addr = baoendpoint.restart_pods(stack, pods, _forward, ["openbao-2", "openbao-1"])  # type: ignore[arg-type]
    assert addr == "http://127.0.0.1:1234"
    assert pods.calls == ["delete openbao-2", "delete openbao-1"]


def test_a_node_behind_with_no_pod_of_its_name_is_a_clear_error() -> None:
    with ExitStack() as stack, pytest.raises(VaultError, match="raft node openbao-3 is behind, but there is no pod"):
        baoendpoint.restart_pods(stack, _Pods(["openbao-0"]), _forward, ["openbao-3"])  # type: ignore[arg-type]


def test_followers_get_a_minute_before_their_restart_and_the_whole_timeout_after(
        done: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    waited: list[float] = []
    raft = _Raft(["openbao-1"], None)

    def wait_agree(client: Any, addr: str, timeout: float = 120, poll: float = 1.0) -> int:
        waited.append(timeout)
        return raft.wait_agree(client, addr, timeout)

    monkeypatch.setattr(raftpeers, "wait_agree", wait_agree)
    vault._every_node("http://127.0.0.1:1", LOGIN, 300, lambda: "http://127.0.0.1:2", True,
                      lambda ids: "http://127.0.0.1:3")
    assert waited == [vault.FOLLOWER_PATIENCE, 300] and vault.FOLLOWER_PATIENCE == 60
    waited.clear()
    raft.answers = [["openbao-1"]]
    with pytest.raises(raftpeers.NodesBehind):  # no way to restart a follower: it gets the whole timeout
        vault._every_node("http://127.0.0.1:1", LOGIN, 300, lambda: "http://127.0.0.1:2", True, None)
    assert waited == [300]


def test_a_restarted_pod_gets_five_minutes_by_default_to_run_again(clock: FakeClock) -> None:
    never_back = _Pods(["openbao-1"])
    never_back.delete = lambda *args, **kwargs: None  # type: ignore[method-assign]  # the old pod stays
    with ExitStack() as stack, pytest.raises(VaultError, match="did not come back Running within 300s"):
        baoendpoint.restart_pods(stack, never_back, _forward, ["openbao-1"])  # type: ignore[arg-type]
    assert 300 <= clock.monotonic() - 1000 <= 302
