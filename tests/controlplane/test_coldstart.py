"""A complete shutdown, disks intact: every process of the control plane, its node agent and Flux stops at once,
then starts again from its data. Everything must come back Ready with no cattle command and no human.

The power cycle is cattle's own drill (`dr.coldstart`) with the tier as its provider: its timeline, its checks and
its run record, proven on real processes. OpenBao here is a local `bao server` outside the cluster and CNPG does not
run, so those checks (and the canaries) must say SKIPPED with their reason, never ok."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cattle.bootstrap import rebuild as bootstrap
from cattle.bootstrap.gitserve import GitServer
from cattle.bootstrap.reconcile import REQUESTED_AT
from cattle.dr import coldstart, history
from cattle.providers.kubeconfig import KubeconfigProvider
from tests.controlplane.cluster import FLUX_CONTROLLERS, NODE_NAME, ControlPlane, wait_for
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


class TierPower(KubeconfigProvider):
    """The tier as a cold-start drill's provider: reached by its kubeconfig context, powered off and on by stopping
    and starting every process from its data (ControlPlane.power_off / power_on). The Flux controllers come back
    last, as their pods do after a real power cut: only once cattle has asked them to reconcile, so a Ready condition
    left in etcd from before the power cut cannot pass for Flux being back."""

    def __init__(self, plane: ControlPlane, before_nodes: Callable[[], None]) -> None:
        super().__init__(CONTEXT, name="tier")
        self.plane, self.before_nodes = plane, before_nodes
        self.flux_thread: threading.Thread | None = None
        self.flux_error: BaseException | None = None
        self.done = threading.Event()  # set by the test: the controllers die with the thread that started them

    def stop_nodes(self) -> list[str]:
        self.plane.power_off()
        return [process.name for process, _, _ in self.plane.boot]

    def start_nodes(self, names: list[str]) -> None:
        assert names == [process.name for process, _, _ in self.plane.boot]
        flux = [entry for entry in self.plane.boot if entry[0].name in FLUX_CONTROLLERS]
        self.plane.boot[:] = [entry for entry in self.plane.boot if entry not in flux]
        try:
            self.plane.power_on(before_nodes=self.before_nodes)
        finally:
            self.plane.boot.extend(flux)
        self.flux_thread = threading.Thread(target=self._flux_once_asked, args=(flux,), daemon=True)
        self.flux_thread.start()

    def _asked(self) -> bool:
        return any(str((k["metadata"].get("annotations") or {}).get(REQUESTED_AT, "")).startswith("coldstart-")  # type: ignore[attr-defined]
                   for k in _items(self.plane, "kustomizations.kustomize.toolkit.fluxcd.io"))

    def _flux_once_asked(self, flux: list[tuple[Any, str, Callable[[], bool]]]) -> None:
        try:
            _until("cattle asks Flux to reconcile", self._asked)
            for process, what, probe in flux:
                process.start()
                wait_for(what, probe, [process])
        except BaseException as exc:  # reported by the test
            self.flux_error = exc
        self.done.wait()  # the controllers were started with PR_SET_PDEATHSIG: they live as long as this thread


def _after_the_cold_start(plane: ControlPlane) -> None:
    """When cattle says the cluster is back, it is back: no further wait here. Every pod is Ready, every Deployment
    Available, and every Flux object has handled the reconcile cattle asked for after power on (its controller is back
    and reconciled it), not only kept its Ready condition from before the power cut."""
    assert _not_ready_pods(plane) == []
    assert all(_condition(d, "Available") == "True" for d in _items(plane, "deployments"))
    for kind in FLUX[:2]:
        for item in _items(plane, kind):
            asked = item["metadata"]["annotations"][REQUESTED_AT]  # type: ignore[index]
            assert asked.startswith("coldstart-") and item["status"]["lastHandledReconcileAt"] == asked, item  # type: ignore[index]
            assert _condition(item, "Ready") == "True", item
    assert all(_condition(i, "Ready") == "True" for i in _items(plane, FLUX[2]))


def test_a_complete_shutdown_comes_back_ready_with_no_cattle_command(tier: Tier, secrets_repo: Path) -> None:
    subprocess.run([*GIT, "add", "-A"], cwd=secrets_repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "the environment"], cwd=secrets_repo, check=True)
    plane = tier.plane
    with GitServer(secrets_repo, "main") as server:  # git stays up: only the cluster loses its power
        timeline = bootstrap.run("testing", bootstrap.Options(provider="kubeconfig", context=CONTEXT, serve=False,
                                                              git_url=server.url("127.0.0.1"), timeout=900.0))
        assert timeline is not None and timeline.result == "ok"

        def nodes_were_down() -> None:
            # the control plane is back before the node: its Lease is stale, so the node lifecycle controller marks
            # the node NotReady and every pod on it Ready=False, as after a real power cut
            _until("the node marked not ready", lambda: _condition(
                json.loads(plane.kubectl("get", "node", NODE_NAME, "-o", "json").stdout), "Ready") != "True")
            _until("its pods marked not ready", lambda: len(_not_ready_pods(plane)) > 0)

        # nobody runs cattle: the node agent, the controllers and Flux bring everything back; cattle only watches
        power = TierPower(plane, nodes_were_down)
        try:
            drill = coldstart.coldstart("testing", cluster=power)
            assert power.flux_error is None, power.flux_error
            _after_the_cold_start(plane)
        finally:
            power.done.set()  # the tier's teardown stops the controllers
    assert drill.result == "ok", drill.render()
    events = {e.phase: e for e in drill.events}
    assert list(events) == ["before: everything Ready", "power off", "power on", *coldstart.READINESS, "canaries"]
    for phase in ("API server answers", "nodes Ready", "workloads Ready", "Flux Ready"):
        assert events[phase].status == "ok", (phase, events[phase].detail)
    assert events["Flux Ready"].detail == "14 Kustomizations/HelmReleases reconciled and Ready again"
    assert events["OpenBao unsealed"].detail == (
        f"SKIPPED: OpenBao runs outside the cluster (CATTLE_VAULT_ADDR_TESTING={tier.openbao['testing'].addr}): "
        "the power cycle does not reach it")
    database = events["database primary"]
    assert database.status == events["canaries"].status == "skipped", (database.detail, events["canaries"].detail)
    assert database.detail.startswith("SKIPPED: no operator has ever reconciled CNPG Cluster feeds/"), database.detail
    [record] = [r for r in history.load(secrets_repo).records if r["kind"] == "coldstart"]
    assert record["result"] == "ok" and 0 < record["rto_seconds"] <= record["rto_budget_seconds"]
    assert set(record["skipped"]) == {"OpenBao unsealed", "database primary", "canaries"}
    assert len(_items(plane, "helmreleases.helm.toolkit.fluxcd.io")) == 9
    # cattle's own read of the environment agrees
    table = bootstrap.status("testing", "kubeconfig", CONTEXT)
    assert "failed" not in table and "reconciling" not in table and table.count("ready") == 14, table
