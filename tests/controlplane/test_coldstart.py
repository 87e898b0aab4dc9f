"""A complete shutdown, disks intact: every process of the control plane, its node agent and Flux stops at once,
then starts again from its data. Everything must come back Ready with no cattle command and no human."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cattle.bootstrap import rebuild as bootstrap
from cattle.bootstrap.gitserve import GitServer
from tests.controlplane.cluster import NODE_NAME, ControlPlane
from tests.controlplane.conftest import CONTEXT
from tests.controlplane.tier import GIT, Tier

pytestmark = pytest.mark.timeout(1800)
FLUX = ("kustomizations.kustomize.toolkit.fluxcd.io", "helmreleases.helm.toolkit.fluxcd.io",
        "gitrepositories.source.toolkit.fluxcd.io")


def _items(plane: ControlPlane, kind: str) -> list[dict[str, object]]:
    return json.loads(plane.kubectl("get", kind, "-A", "-o", "json").stdout)["items"]  # type: ignore[no-any-return]


def _condition(item: dict[str, object], kind: str) -> str | None:
    for found in (item.get("status") or {}).get("conditions") or []:  # type: ignore[attr-defined]
        if found["type"] == kind:
            return str(found["status"])
    return None


def _not_ready_pods(plane: ControlPlane) -> list[str]:
    return [p["metadata"]["name"] for p in _items(plane, "pods")  # type: ignore[index]
            if p["status"].get("phase") == "Running" and _condition(p, "Ready") != "True"]  # type: ignore[union-attr]


def _until(what: str, check: Callable[[], bool], deadline: float = 600.0) -> None:
    """Poll until `check` holds; the deadline is generous (a bound, not a measure of speed)."""
    end = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < end, f"{what}: not within {deadline:.0f}s"
        time.sleep(1)


def test_a_complete_shutdown_comes_back_ready_with_no_cattle_command(tier: Tier, secrets_repo: Path) -> None:
    subprocess.run([*GIT, "add", "-A"], cwd=secrets_repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "the environment"], cwd=secrets_repo, check=True)
    plane = tier.plane
    with GitServer(secrets_repo, "main") as server:  # git stays up: only the cluster loses its power
        timeline = bootstrap.run("testing", bootstrap.Options(provider="kubeconfig", context=CONTEXT, serve=False,
                                                              git_url=server.url("127.0.0.1"), timeout=900.0))
        assert timeline is not None and timeline.result == "ok"
        plane.power_off()

        def nodes_were_down() -> None:
            # the control plane is back before the node: its Lease is stale, so the node lifecycle controller marks
            # the node NotReady and every pod on it Ready=False, as after a real power cut
            _until("the node marked not ready", lambda: _condition(
                json.loads(plane.kubectl("get", "node", NODE_NAME, "-o", "json").stdout), "Ready") != "True")
            _until("its pods marked not ready", lambda: len(_not_ready_pods(plane)) > 0)

        plane.power_on(before_nodes=nodes_were_down)
        # nobody runs cattle: the node agent, the controllers and Flux bring everything back
        _until("every pod Ready again", lambda: _not_ready_pods(plane) == [])
        _until("every Deployment available", lambda: all(
            _condition(d, "Available") == "True" for d in _items(plane, "deployments")))
        _until("every Flux object Ready", lambda: all(
            _condition(i, "Ready") == "True" for kind in FLUX for i in _items(plane, kind)))
    assert len(_items(plane, "helmreleases.helm.toolkit.fluxcd.io")) == 9
    # cattle's own read of the environment agrees
    table = bootstrap.status("testing", "kubeconfig", CONTEXT)
    assert "failed" not in table and "reconciling" not in table and table.count("ready") == 14, table
