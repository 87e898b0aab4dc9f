"""Which in-cluster OpenBao node cattle talks to, with real `bao server` processes standing in for the pods."""

from __future__ import annotations

import secrets as random
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest

from cattle.errors import VaultError
from cattle.secrets.keys import write_new_key
from cattle.stores import FileStore
from cattle.vault import endpoint as baoendpoint
from cattle.vault import openbao as vault
from cattle.vault.server import BaoServer
from tests.waiting import until

# one two-node raft per module (setting it up takes seconds): its tests run on one worker and only read it, or
# write what no other test looks at
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("two-nodes")]


def _forwarder(targets: dict[str, str], asked: list[str]) -> baoendpoint.Forwarder:
    def forward(target: str) -> AbstractContextManager[str]:
        asked.append(target)
        return nullcontext(targets[target])
    return forward


@dataclass
class TwoNodes:
    leader: BaoServer
    follower: BaoServer
    seal: vault.SealMaterial
    root_token: str


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[TwoNodes]:
    """An active node and a second one that joined it by raft and unsealed itself as a standby."""
    seal = vault.SealMaterial(random.token_hex(32))
    with BaoServer(seal.key_hex, seal.key_id, node_id="leader") as leader:
        token = vault.client(leader.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(leader.addr)
        with BaoServer(seal.key_hex, seal.key_id, node_id="follower", join=leader.addr) as follower:
            until(lambda: vault.health(follower.addr) == 429)  # joined and unsealed as a standby
            yield TwoNodes(leader, follower, seal, token)


def test_a_standby_is_not_taken_for_the_active_node(two_nodes: TwoNodes) -> None:
    assert vault.health(two_nodes.leader.addr) == 200
    assert vault.health(two_nodes.follower.addr) == 429
    with pytest.raises(VaultError, match="did not become active"):
        vault.wait_active(two_nodes.follower.addr, timeout=1)


def test_reach_moves_from_a_standby_openbao_0_to_the_active_service(two_nodes: TwoNodes) -> None:
    asked: list[str] = []
    forward = _forwarder({baoendpoint.FIRST_POD: two_nodes.follower.addr,
                          baoendpoint.ACTIVE_SERVICE: two_nodes.leader.addr}, asked)
    with ExitStack() as stack:
        addr, code = baoendpoint.reach(stack, forward, timeout=30)
    assert (addr, code) == (two_nodes.leader.addr, 200)
    assert asked == [baoendpoint.FIRST_POD, baoendpoint.ACTIVE_SERVICE]
    c = vault.client(addr, two_nodes.root_token)
    c.sys.enable_secrets_engine("kv", path="written", options={"version": "2"})  # writes succeed there
    assert "written/" in c.sys.list_mounted_secrets_engines()["data"]


def test_reach_uses_openbao_0_while_the_cluster_is_uninitialised() -> None:
    with BaoServer(random.token_hex(32)) as fresh:
        asked: list[str] = []
        forward = _forwarder({baoendpoint.FIRST_POD: fresh.addr}, asked)
        with ExitStack() as stack:
            assert baoendpoint.reach(stack, forward, timeout=30) == (fresh.addr, 501)
        assert asked == [baoendpoint.FIRST_POD]


def test_restore_refuses_a_standby_and_leaves_it_alone(two_nodes: TwoNodes, tmp_path: Path) -> None:
    identity = write_new_key(tmp_path / "key.txt")
    store = FileStore("file://store", tmp_path / "store")
    login = vault.Login("cattle-backup", "battery-staple")
    vault.configure(vault.client(two_nodes.leader.addr, two_nodes.root_token), login)
    vault.backup(two_nodes.leader.addr, "testing", store, [identity.public], two_nodes.seal, login, keep=2)
    with pytest.raises(VaultError, match="standby"):
        vault.restore(two_nodes.follower.addr, "testing", store, [identity], two_nodes.seal, login,
                      token=two_nodes.root_token, force=True)
    assert vault.health(two_nodes.follower.addr) == 429


class _PodsComingBack:
    """The API as a StatefulSet's pod is deleted and made again: gone, then Pending, then Running (new uid)."""

    def __init__(self, active: list[str]) -> None:
        self.active: list[str] = active
        self.calls: list[str] = []
        self.states: list[dict[str, object] | None] = [
            None, {"metadata": {"uid": "new"}, "status": {"phase": "Pending"}},
            {"metadata": {"uid": "new"}, "status": {"phase": "Running"}}]

    def request(self, method: str, path: str, **kwargs: object) -> dict[str, object]:
        self.calls.append(f"{method} {path} {kwargs.get('query')}")
        return {"items": [{"metadata": {"name": name, "uid": "old"}} for name in self.active]}

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        self.calls.append(f"delete {kind} {namespace}/{name}")

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, object] | None:
        self.calls.append(f"get {kind} {namespace}/{name}")
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def test_the_active_pod_is_restarted_and_reached_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baoendpoint.time, "sleep", lambda _: None)
    monkeypatch.setattr(baoendpoint, "reach", lambda _stack, _forward, _timeout: ("http://127.0.0.1:1234", 200))
    kube = _PodsComingBack(["openbao-1"])
    with ExitStack() as stack:
        addr = baoendpoint.restart_active(stack, kube, _forwarder({}, []))  # type: ignore[arg-type]
    assert addr == "http://127.0.0.1:1234"
    assert kube.calls == ["GET /api/v1/namespaces/openbao/pods [('labelSelector', 'openbao-active=true')]",
                          "delete Pod openbao/openbao-1", "get Pod openbao/openbao-1", "get Pod openbao/openbao-1",
                          "get Pod openbao/openbao-1"]  # waited through gone and Pending for Running


def test_restarting_with_no_active_pod_or_one_that_never_returns_is_a_clear_error() -> None:
    with ExitStack() as stack, pytest.raises(VaultError, match="no active OpenBao pod to restart"):
        baoendpoint.restart_active(stack, _PodsComingBack([]), _forwarder({}, []))  # type: ignore[arg-type]
    gone = _PodsComingBack(["openbao-0"])
    gone.states = [None]
    with ExitStack() as stack, pytest.raises(VaultError, match="did not come back Running within 0s"):
        baoendpoint.restart_active(stack, gone, _forwarder({}, []), timeout=0)  # type: ignore[arg-type]
