"""The in-cluster OpenBao cattle talks to, with a recording forwarder and OpenBao's answers stubbed (no cluster, no
`bao server`), the active pod's restart on fake time: which node is reached for which health, the port-forward's
target and port, and the restart's deadline to the second (issue 32, boundaries of cattle/vault/endpoint.py)."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import Any

import pytest

from cattle import portforward
from cattle.errors import VaultError
from cattle.vault import endpoint
from cattle.vault import openbao as vault
from tests.waiting import FakeClock

ADDRS = {"pod/openbao-0": "http://127.0.0.1:18200", "svc/openbao-active": "http://127.0.0.1:18201"}


def _forwarder(asked: list[str]) -> endpoint.Forwarder:
    def forward(target: str) -> AbstractContextManager[str]:
        asked.append(target)
        return nullcontext(ADDRS[target])
    return forward


class _OpenBao:
    """What reach asked OpenBao for; openbao-0 answers `health` (a fresh int each time, as parsed from an HTTP status
    line, never the interned literal)."""

    def __init__(self) -> None:
        self.health = 200
        self.calls: list[tuple[object, ...]] = []

    def wait_ready(self, addr: str, timeout: float, accept: tuple[int, ...] = (200, 501)) -> int:
        self.calls.append(("ready", addr, timeout, accept))
        return int(str(self.health))

    def wait_active(self, addr: str, timeout: float = 60) -> None:
        self.calls.append(("active", addr, timeout))


@pytest.fixture
def openbao(monkeypatch: pytest.MonkeyPatch) -> _OpenBao:
    fake = _OpenBao()
    monkeypatch.setattr(vault, "wait_ready", fake.wait_ready)
    monkeypatch.setattr(vault, "wait_active", fake.wait_active)
    return fake


def _reach(openbao: _OpenBao, code: int, **kwargs: float) -> tuple[tuple[str, int], list[str]]:
    openbao.health = code
    asked: list[str] = []
    with ExitStack() as stack:
        return endpoint.reach(stack, _forwarder(asked), **kwargs), asked


@pytest.mark.parametrize("code", [200, 501])
def test_an_active_or_uninitialised_openbao_0_is_used_as_it_is(openbao: _OpenBao, code: int) -> None:
    (addr, health), asked = _reach(openbao, code, timeout=7)
    assert (addr, health) == (ADDRS["pod/openbao-0"], code)
    assert asked == ["pod/openbao-0"]
    assert openbao.calls == [("ready", ADDRS["pod/openbao-0"], 7, (200, 429, 501))]


def test_a_standby_openbao_0_moves_to_the_active_service_and_waits_for_it(openbao: _OpenBao) -> None:
    (addr, health), asked = _reach(openbao, 429, timeout=7)
    assert (addr, health) == (ADDRS["svc/openbao-active"], 200)
    assert asked == ["pod/openbao-0", "svc/openbao-active"]
    assert openbao.calls == [("ready", ADDRS["pod/openbao-0"], 7, (200, 429, 501)),
                           ("active", ADDRS["svc/openbao-active"], 7)]


def test_reach_waits_300_seconds_by_default(openbao: _OpenBao) -> None:
    _reach(openbao, 429)
    assert [c[2] for c in openbao.calls] == [300, 300]


def test_the_forwarder_is_kubectls_to_port_8200_in_the_openbao_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, ...]] = []

    def forward(*args: object) -> AbstractContextManager[str]:
        seen.append(args)
        return nullcontext("x")
    monkeypatch.setattr(portforward, "forward", forward)
    endpoint.kubectl_forwarder(None, "kind-dev")("pod/openbao-0")
    assert seen == [(None, "kind-dev", "openbao", "pod/openbao-0", 8200)]


class _Pods:
    """A fake Kube: the active pod listed, deleted, then read back as the states given (the last one repeated)."""

    def __init__(self, states: list[dict[str, Any] | None], listed: dict[str, Any] | None = None) -> None:
        self.listed = {"items": [{"metadata": {"name": "openbao-1", "uid": "old"}}]} if listed is None else listed
        self.states = states
        self.gets = 0

    def request(self, method: str, path: str, query: list[tuple[str, str]]) -> dict[str, Any] | None:
        return self.listed

    def delete(self, api_version: str, kind: str, name: str, namespace: str) -> None:
        assert (kind, name, namespace) == ("Pod", "openbao-1", "openbao")

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        assert (kind, name, namespace) == ("Pod", "openbao-1", "openbao")
        self.gets += 1
        return self.states[min(self.gets, len(self.states)) - 1]


def _pod(uid: str, phase: str) -> dict[str, Any]:
    """Through JSON, as the API answers: the phase an equal string, not the interned literal."""
    pod: dict[str, Any] = json.loads(json.dumps({"metadata": {"name": "openbao-1", "uid": uid},
                                                 "status": {"phase": phase}}))
    return pod


@pytest.fixture
def reached(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    timeouts: list[float] = []

    def reach(stack: ExitStack, forward: endpoint.Forwarder, timeout: float = 300) -> tuple[str, int]:
        timeouts.append(timeout)
        return "http://127.0.0.1:18201", 200
    monkeypatch.setattr(endpoint, "reach", reach)
    return timeouts


def _restart(kube: _Pods, **kwargs: float) -> str:
    with ExitStack() as stack:
        return endpoint.restart_active(stack, kube, _forwarder([]), **kwargs)  # type: ignore[arg-type]


def test_only_a_new_pod_running_counts_as_back(clock: FakeClock, reached: list[float]) -> None:
    # the old pod still Running (not yet gone), the new one with no uid yet, then Pending, then Running
    kube = _Pods([_pod("old", "Running"), {"metadata": {"name": "openbao-1"}, "status": {"phase": "Running"}},
                  None, _pod("new", "Pending"), _pod("new", "Running")])
    assert _restart(kube, timeout=60) == "http://127.0.0.1:18201"
    assert kube.gets == 5
    assert clock.now == 1004.0  # one second between reads
    assert reached == [60]


def test_a_new_pod_in_a_phase_other_than_running_is_not_back(clock: FakeClock, reached: list[float]) -> None:
    kube = _Pods([_pod("new", phase) for phase in ("Pending", "Unknown", "Succeeded", "Failed", "Running")])
    _restart(kube, timeout=60)
    assert kube.gets == 5


def test_of_two_pods_listed_the_first_is_restarted_and_its_own_uid_waited_on(clock: FakeClock,
                                                                          reached: list[float]) -> None:
    # a failover in progress: both pods still labelled active
    listed = {"items": [{"metadata": {"name": "openbao-1", "uid": "old"}},
                        {"metadata": {"name": "openbao-2", "uid": "other"}}]}
    kube = _Pods([_pod("old", "Running"), _pod("new", "Running")], listed=listed)
    _restart(kube, timeout=60)
    assert kube.gets == 2  # the old openbao-1 still Running is not back; the new one is


def test_a_pod_that_never_comes_back_fails_after_its_timeout_to_the_second(clock: FakeClock,
                                                                           reached: list[float]) -> None:
    kube = _Pods([_pod("new", "Pending")])
    with pytest.raises(VaultError, match="did not come back Running within 3s"):
        _restart(kube, timeout=3)
    assert kube.gets == 5  # read at 0, 1, 2, 3 s (not yet past the deadline) and at 4 s, past it
    assert reached == []


def test_the_restart_waits_300_seconds_by_default(clock: FakeClock, reached: list[float]) -> None:
    kube = _Pods([_pod("new", "Pending")])
    with pytest.raises(VaultError, match="within 300s"):
        _restart(kube)
    assert kube.gets == 302
    kube = _Pods([_pod("new", "Running")])
    _restart(kube)
    assert reached == [300]


def test_no_active_pod_listed_is_a_clear_error(clock: FakeClock, reached: list[float]) -> None:
    nothing: list[dict[str, Any]] = [{"items": []}, {}]
    for listed in nothing:
        kube = _Pods([_pod("new", "Running")], listed=listed)
        with pytest.raises(VaultError, match="no active OpenBao pod to restart"):
            _restart(kube)
        assert kube.gets == 0
