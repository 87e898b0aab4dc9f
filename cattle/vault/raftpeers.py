"""Whether every node of an OpenBao raft cluster holds what the active node holds: after a restore, the active
node has the snapshot at once, the others receive it through raft. Upstream reports nodes left out of a restore
(openbao/openbao#2455) and operators that restart every voter afterwards; seen here with bao 2.6.2 and three nodes
on loopback: for a few seconds after the restore the leader's autopilot lists the other nodes as `left` at raft
index 0, then every node is healthy at the leader's index. So cattle waits for that, and stops with the names of
the nodes that never caught up."""

from __future__ import annotations

import time
from typing import Any

from hvac.exceptions import Forbidden
from hvac.exceptions import VaultError as HvacError

from cattle import console
from cattle.errors import VaultError

AUTOPILOT = "/v1/sys/storage/raft/autopilot/state"


def leader_index(state: dict[str, Any]) -> int:
    servers = state.get("servers") or {}
    return int((servers.get(state.get("leader")) or {}).get("last_index") or 0)


def _lagging(state: dict[str, Any], index: int | None) -> tuple[int, list[dict[str, Any]]]:
    """The index wanted, and the servers autopilot does not call healthy or that have not reached it (never the
    leader)."""
    servers = state.get("servers") or {}
    leader = servers.get(state.get("leader")) or {}
    wanted = leader_index(state) if index is None else index
    return wanted, [s for s in servers.values() if s is not leader and (
        not s.get("healthy") or int(s.get("last_index") or 0) < wanted)]


def behind(state: dict[str, Any], index: int | None = None) -> list[str]:
    """The nodes of an autopilot state that autopilot does not call healthy, or that have not reached `index`
    (default: the leader's; the leader moves on all the time, so a caller waiting passes the index it saw first)."""
    wanted, lagging = _lagging(state, index)
    return [f"{s.get('id')} ({s.get('node_status')}, raft index {s.get('last_index')} of {wanted})" for s in lagging]


class NodesBehind(VaultError):
    """Raft nodes that did not catch up with the leader in time; `nodes` are their node ids (the pod names)."""

    def __init__(self, message: str, hint: str, nodes: list[str]) -> None:
        super().__init__(message, hint)
        self.nodes = nodes


def lagging_ids(state: dict[str, Any], index: int | None = None) -> list[str]:
    """The node ids behind() describes, in the same order."""
    return [str(s.get("id")) for s in _lagging(state, index)[1]]


def wait_agree(client: Any, addr: str, timeout: float = 120, poll: float = 1.0) -> int:
    """Wait until every raft node is healthy at the leader's index; returns how many nodes there are. Says so and
    returns 0 when the login may not read the autopilot state (a snapshot of a cluster configured before cattle
    asked for it)."""
    deadline = time.monotonic() + timeout
    index: int | None = None  # the leader's raft index when first seen: every node must reach it
    while True:
        try:
            state = client.adapter.get(AUTOPILOT)["data"]
        except Forbidden:
            console.say(f"could not confirm that every raft node of {addr} holds the restore: the backup login may "
                        "not read sys/storage/raft/autopilot/state (run ./scripts/cattle vault.configure to let it)")
            return 0
        except HvacError as exc:
            state = {"servers": {}, "error": str(exc)[:200]}
        if index is None and state.get("servers"):
            index = leader_index(state)
        lagging = behind(state, index) if state.get("servers") else ["(autopilot has no state yet)"]
        if not lagging:
            return len(state["servers"])
        if time.monotonic() > deadline:
            raise NodesBehind(f"the snapshot applied on the active node {addr}, but raft nodes did not catch up within "
                             f"{timeout:.0f}s: {', '.join(lagging)}; the active node keeps the "
                             "raft TLS keyring of the cluster it ran before the snapshot in memory, so the other nodes "
                             "cannot join it or stay sealed, and after a failover the cluster would have no quorum",
                             "restart the active node (kubectl -n openbao delete pod -l openbao-active=true), then "
                             "the nodes named here (kubectl -n openbao delete pod NAME), and run the restore again: it "
                             "finds the snapshot applied and checks every node again",
                             lagging_ids(state, index) if state.get("servers") else [])
        time.sleep(poll)
