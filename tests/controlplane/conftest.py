"""The control plane tier: real kube-apiserver, controllers, kwok and Flux, in a network namespace of its own.

It runs as its own pytest invocation (`pytest tests/controlplane`, which `./scripts/cattle test` runs after the main
suite): the first thing it does is move itself into a new network namespace that holds only loopback, so no process
it starts can reach any address but 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controlplane import build, netns
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.tier import Tier

CONTEXT = "cattle-tier"  # the kubeconfig context of a one-environment tier

_ISOLATION_ERROR: list[str] = []


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # fixtures tear down: every server the test started is stopped


def pytest_configure(config: pytest.Config) -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGHUP, _interrupted)
    try:
        # each xdist worker gets a namespace of its own (workers inherit the controller's): two tiers at once never
        # share a loopback, so their servers cannot take each other's ports
        if not netns.isolated() or os.environ.get("PYTEST_XDIST_WORKER"):
            netns.enter_private_namespace()
        netns.keep_servers_ports_apart()
    except OSError as exc:
        _ISOLATION_ERROR.append(str(exc))


def _must_not_skip() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def isolated_network() -> None:
    """Every tier test runs with only loopback; without it the tier does not run at all."""
    if _ISOLATION_ERROR or not netns.isolated():
        reason = _ISOLATION_ERROR[0] if _ISOLATION_ERROR else f"interfaces here: {netns.interfaces()}"
        message = f"the control plane tier needs a private network namespace: {reason}"
        if _must_not_skip():
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def tier_binaries(isolated_network: None) -> dict[str, Path]:
    try:
        return build.binaries()
    except (FileNotFoundError, SystemExit) as exc:
        if _must_not_skip():
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture
def control_plane(tier_binaries: dict[str, Path], tmp_path: Path) -> Iterator[ControlPlane]:
    """A fresh control plane of its own for one test (about ten seconds to start)."""
    with ControlPlane(tmp_path / "controlplane", tier_binaries) as plane:
        yield plane


@pytest.fixture
def tier(secrets_repo: Path, tier_binaries: dict[str, Path], tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Tier]:
    """The testing environment's tier: a control plane, stand-in charts, a local OpenBao, the Flux controllers."""
    with Tier(secrets_repo, tmp_path / "tier", tier_binaries, monkeypatch, context=CONTEXT) as running:
        yield running
