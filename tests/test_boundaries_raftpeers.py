"""Whether every raft node holds the restore, from autopilot states written out by hand (as bao 2.6.2 answers
`sys/storage/raft/autopilot/state`) and a fake client on fake time (no `bao server`): a node at the leader's index
is caught up and one an index short is not, an unhealthy node is behind at any index, the index waited for is the
one first seen, and the wait's deadline to the second (issue 32, boundaries of cattle/vault/raftpeers.py, which only
the three-node tests of test_vault_raft.py reached)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hvac.exceptions import Forbidden
from hvac.exceptions import VaultError as HvacError

from cattle import console
from cattle.errors import VaultError
from cattle.vault import raftpeers
from tests.waiting import FakeClock


def _node(name: str, index: int | None, healthy: bool = True, status: str = "voter") -> dict[str, Any]:
    node: dict[str, Any] = {"id": name, "healthy": healthy, "node_status": status}
    if index is not None:
        node["last_index"] = index
    return node


def _state(leader: str | None, *nodes: dict[str, Any]) -> dict[str, Any]:
    """Through JSON, as the API's answer is: no string or dict shared with the test."""
    state: dict[str, Any] = json.loads(json.dumps({"leader": leader, "servers": {n["id"]: n for n in nodes}}))
    return state


def test_the_leaders_index_and_zero_without_one() -> None:
    assert raftpeers.leader_index(_state("a", _node("a", 7), _node("b", 9))) == 7
    assert raftpeers.leader_index(_state(None, _node("a", 7))) == 0
    assert raftpeers.leader_index(_state("a", _node("a", None))) == 0
    assert raftpeers.leader_index({}) == 0


def test_a_node_at_the_leaders_index_is_caught_up_and_one_an_index_short_is_not() -> None:
    state = _state("a", _node("a", 10), _node("b", 10), _node("c", 9))
    assert raftpeers.behind(state) == ["c (voter, raft index 9 of 10)"]
    assert raftpeers.behind(_state("a", _node("a", 10), _node("b", 10))) == []


def test_an_unhealthy_node_is_behind_even_at_the_leaders_index_and_the_leader_is_never_listed() -> None:
    state = _state("a", _node("a", 10, healthy=False), _node("b", 10, healthy=False, status="left"),
                   _node("c", 10))
    assert raftpeers.behind(state) == ["b (left, raft index 10 of 10)"]


def test_a_node_without_an_index_is_at_zero() -> None:
    state = _state("a", _node("a", 1), _node("b", None))
    assert raftpeers.behind(state) == ["b (voter, raft index None of 1)"]
    # a leader at index 0 (none reported): a healthy node without an index has reached it
    assert raftpeers.behind(_state("a", _node("a", None), _node("b", None))) == []


def test_an_index_given_is_waited_for_instead_of_the_leaders() -> None:
    state = _state("a", _node("a", 12), _node("b", 11), _node("c", 10))
    assert raftpeers.behind(state, 11) == ["c (voter, raft index 10 of 11)"]
    # past the index waited for (the leader moved on, and so did they) is caught up too
    assert raftpeers.behind(state, 10) == []
    assert raftpeers.behind(state) == ["b (voter, raft index 11 of 12)", "c (voter, raft index 10 of 12)"]


class _Adapter:
    """Answers the autopilot state path with the answers given in turn, the last one repeated; an exception given
    is raised."""

    def __init__(self, answers: list[dict[str, Any] | Exception]) -> None:
        self.answers = answers
        self.reads = 0

    def get(self, path: str) -> dict[str, Any]:
        assert path == "/v1/sys/storage/raft/autopilot/state"
        self.reads += 1
        answer = self.answers[min(self.reads, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return {"data": answer}


class _Client:
    def __init__(self, answers: list[dict[str, Any] | Exception]) -> None:
        self.adapter = _Adapter(answers)


LEFT = _state("a", _node("a", 10), _node("b", 0, healthy=False, status="left"),
              _node("c", 0, healthy=False, status="left"))


def test_the_wait_ends_when_every_node_reached_the_index_first_seen(clock: FakeClock) -> None:
    # the leader moves on to 12 while the others catch up to 10, the index it had when first seen
    client = _Client([{"servers": {}}, HvacError("no leader yet"), LEFT,
                      _state("a", _node("a", 12), _node("b", 10), _node("c", 0, healthy=False, status="left")),
                      _state("a", _node("a", 12), _node("b", 10), _node("c", 10))])
    assert raftpeers.wait_agree(client, "http://127.0.0.1:18200", timeout=60) == 3
    assert client.adapter.reads == 5
    assert clock.now == 1004.0  # a second between reads


def test_nodes_that_never_catch_up_fail_after_the_timeout_to_the_second_and_are_named(clock: FakeClock) -> None:
    client = _Client([LEFT])
    with pytest.raises(VaultError, match=r"did not catch up within 3s: b \(left, raft index 0 of 10\), c \(left"):
        raftpeers.wait_agree(client, "http://127.0.0.1:18200", timeout=3)
    assert client.adapter.reads == 5  # at 0, 1, 2, 3 s (not yet past the deadline) and at 4 s, past it
    client = _Client([{"servers": {}}])
    with pytest.raises(VaultError, match=r"within 3s: \(autopilot has no state yet\)"):
        raftpeers.wait_agree(client, "http://127.0.0.1:18200", timeout=3)


def test_the_wait_is_120_seconds_polled_every_second_by_default(clock: FakeClock) -> None:
    client = _Client([LEFT])
    with pytest.raises(VaultError, match="within 120s"):
        raftpeers.wait_agree(client, "http://127.0.0.1:18200")
    assert client.adapter.reads == 122
    assert clock.now == 1121.0


def test_a_login_that_may_not_read_the_state_says_so_and_counts_no_node(clock: FakeClock,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    monkeypatch.setattr(console, "say", said.append)
    assert raftpeers.wait_agree(_Client([Forbidden("permission denied")]), "http://127.0.0.1:18200") == 0
    assert len(said) == 1 and "could not confirm that every raft node of http://127.0.0.1:18200" in said[0]


def test_the_ids_behind_are_those_behind_describes_and_never_the_leaders() -> None:
    state = _state("a", _node("a", 12, healthy=False), _node("b", 11), _node("c", 10),
                   _node("d", 10, healthy=False, status="left"))
    assert raftpeers.lagging_ids(state, 11) == ["c", "d"]  # b at the index and past it is caught up
    assert raftpeers.lagging_ids(state, 10) == ["d"]
    assert raftpeers.lagging_ids(state) == ["b", "c", "d"]
