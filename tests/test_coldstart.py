"""The cold-start drill's orchestration (cattle.dr.coldstart) with a stand-in docker that records what it is asked,
and its checks' decisions (cattle.dr.coldchecks) on a fake cluster and a fake clock. The real checks on real
processes are tests/controlplane/test_coldstart.py; the real kind run is the disaster-recovery workflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cattle import env
from cattle.bootstrap import timeline as timelines
from cattle.dr import coldchecks, coldstart, history
from cattle.dr.coldchecks import Before, ColdStartFailed, LiveChecks, Outcome
from cattle.errors import CattleError, KubeApiError, PreflightError, ProviderError
from cattle.providers.kubeconfig import KubeconfigProvider
from tests.conftest import StandIns
from tests.waiting import FakeClock

NODES = {"lb": "external-load-balancer", "control-plane": "control-plane", "worker": "worker", "worker2": "worker"}


def _docker(stand_ins: StandIns, tmp_path: Path, cluster: str, fails_to_start: str = "") -> Path:
    """A stand-in docker holding the kind cluster's node containers (listed out of order), recording each call;
    `docker start` of the node named `fails_to_start` fails as the daemon does."""
    calls = tmp_path / "docker-calls"
    listing = "\n".join(f"{cluster}-{name}\t{role}" for name, role in
                        sorted(NODES.items(), key=lambda item: item[0][::-1]))
    stand_ins.put("docker", f"""#!/bin/sh
[ "$1" = version ] && echo 27.5.1 && exit 0
echo "$*" >> {calls}
case "$1" in
  ps) case "$*" in *"label=io.x-k8s.kind.cluster={cluster} "*) printf '%s\\n' '{listing.replace(chr(10), "' '")}' ;;
      esac ;;
  start) if [ "$2" = "{cluster}-{fails_to_start}" ]; then
           echo "Error response from daemon: failed to create task for container: no space left on device" >&2
           exit 1
         fi; echo "$2" ;;
  stop) echo "$2" ;;
esac
""")
    return calls


class FakeChecks:
    """The cluster's side, stood in: everything comes back; what ran is recorded in `happened`."""

    def __init__(self, happened: list[str], clock: Any = None, skipped: dict[str, str] | None = None,
                 before_fails: CattleError | None = None) -> None:
        self.happened, self.clock, self.skipped = happened, clock, skipped or {}
        self.before_fails = before_fails

    def before(self) -> Before:
        self.happened.append("before")
        if self.before_fails:
            raise self.before_fails
        return Before(["node-a"], [("Kustomization", "flux-system", "apps")], canary="coldstart-1")

    def _outcome(self, name: str, seconds: float = 1.0) -> Outcome:
        self.happened.append(name)
        if self.clock is not None:
            self.clock.now += seconds
        return Outcome("", self.skipped[name]) if name in self.skipped else Outcome(f"{name} back")

    def api(self, before: Before) -> Outcome:
        return self._outcome("api")

    def nodes(self, before: Before) -> Outcome:
        return self._outcome("nodes")

    def workloads(self, before: Before) -> Outcome:
        return self._outcome("workloads")

    def flux(self, before: Before) -> Outcome:
        return self._outcome("flux", 1000.0)  # with the fake wall clock: over testing's 15m budget

    def openbao(self, before: Before) -> Outcome:
        return self._outcome("openbao")

    def database(self, before: Before) -> Outcome:
        return self._outcome("database")

    def canaries(self, before: Before) -> Outcome:
        return self._outcome("canaries")

    def close(self) -> None:
        self.happened.append("close")


def _records(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((root / ".cattle" / "runs").glob("*coldstart*.json"))]


def test_every_node_is_stopped_then_started_in_order_and_nothing_else_is_run(
        repo_copy: Path, stand_ins: StandIns, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = env.load("testing").cluster_name
    calls = _docker(stand_ins, tmp_path, cluster)
    happened: list[str] = []
    summary = tmp_path / "summary.md"
    timeline = coldstart.coldstart("testing", checks=FakeChecks(happened), summary=summary)
    assert timeline.result == "ok"
    lines = calls.read_text().splitlines()
    assert lines[0].startswith(f"ps -a --filter label=io.x-k8s.kind.cluster={cluster} --format")
    order = [f"{cluster}-{name}" for name in ("lb", "control-plane", "worker", "worker2")]
    assert lines[1:] == [f"stop {n}" for n in reversed(order)] + [f"start {n}" for n in order]
    assert happened == ["before", "api", "nodes", "workloads", "flux", "openbao", "database", "canaries", "close"]
    assert [e.phase for e in timeline.events] == ["before: everything Ready", "power off", "power on",
                                                  *coldstart.READINESS, "canaries"]
    [record] = _records(repo_copy)
    assert record["kind"] == "coldstart" and record["result"] == "ok" and record["skipped"] == {}
    assert record["rto_budget_seconds"] == env.load("testing").rto_budget
    assert record["power_on"] == timeline.events[2].start
    assert record["rto_seconds"] == round(timeline.events[-2].end - timeline.events[2].start, 2)  # type: ignore[operator]
    assert history.checked(record, "the record")["kind"] == "coldstart"
    assert timeline.events[1].detail == f"kind: stopped {', '.join(order)}"
    rto = float(timeline.events[-2].end or 0.0) - timeline.events[2].start  # as printed: the record rounds it to 0.01
    assert f"cold start of testing: came back in {rto:.1f}s" in capsys.readouterr().out
    assert "came back in " in summary.read_text() and "within the budget of 900s**" in summary.read_text()


def test_a_node_that_does_not_start_stops_the_drill_with_its_name_and_a_failed_record(
        repo_copy: Path, stand_ins: StandIns, tmp_path: Path) -> None:
    cluster = env.load("testing").cluster_name
    calls = _docker(stand_ins, tmp_path, cluster, fails_to_start="control-plane")
    happened: list[str] = []
    with pytest.raises(ProviderError) as caught:
        coldstart.coldstart("testing", checks=FakeChecks(happened))
    assert caught.value.message == (f"node {cluster}-control-plane of kind cluster {cluster} did not start: Error "
                                    "response from daemon: failed to create task for container: no space left on "
                                    "device")
    assert caught.value.hint == f"docker start {cluster}-control-plane; docker logs {cluster}-control-plane"
    starts = [line for line in calls.read_text().splitlines() if line.startswith("start")]
    assert starts == [f"start {cluster}-lb", f"start {cluster}-control-plane"]  # the workers are not started
    assert happened == ["before", "close"]  # nothing is checked after a failed power on
    [record] = _records(repo_copy)
    assert record["result"] == "failed" and record["rto_seconds"] is None
    assert record["detail"].startswith(f"node {cluster}-control-plane of kind cluster {cluster} did not start")
    assert [(e["phase"], e["status"]) for e in record["events"]] == [
        ("before: everything Ready", "ok"), ("power off", "ok"), ("power on", "failed")]


def test_a_provider_that_cannot_power_cycle_refuses_and_nothing_is_stopped(
        repo_copy: Path, stand_ins: StandIns, tmp_path: Path) -> None:
    calls = _docker(stand_ins, tmp_path, env.load("testing").cluster_name)
    happened: list[str] = []
    with pytest.raises(PreflightError, match="cold-start drills run on kind: the kubeconfig provider cannot power"):
        coldstart.coldstart("testing", cluster=KubeconfigProvider("ctx"), checks=FakeChecks(happened))
    assert not calls.exists() and happened == ["close"]
    [record] = _records(repo_copy)
    assert record["result"] == history.NOT_RUN and "cold-start drills run on kind" in record["detail"]


def test_a_cluster_not_ready_before_the_power_cut_is_not_powered_off(
        repo_copy: Path, stand_ins: StandIns, tmp_path: Path) -> None:
    calls = _docker(stand_ins, tmp_path, env.load("testing").cluster_name)
    refused = PreflightError("Flux is not Ready: Kustomization flux-system/apps (reconciling)", "status")
    with pytest.raises(PreflightError):
        coldstart.coldstart("testing", checks=FakeChecks([], before_fails=refused))
    assert not calls.exists()
    [record] = _records(repo_copy)
    assert record["result"] == history.NOT_RUN


def test_protected_environments_are_refused(repo_copy: Path) -> None:
    with pytest.raises(PreflightError, match="production is protected: a cold-start drill powers every node"):
        coldstart.coldstart("production", checks=FakeChecks([]))


def test_a_check_that_cannot_apply_says_skipped_with_its_reason_never_ok(
        repo_copy: Path, stand_ins: StandIns, tmp_path: Path) -> None:
    _docker(stand_ins, tmp_path, env.load("testing").cluster_name)
    reason = "no CNPG Cluster in the environment"
    timeline = coldstart.coldstart("testing", checks=FakeChecks([], skipped={"database": reason}))
    [event] = [e for e in timeline.events if e.phase == "database primary"]
    assert (event.status, event.detail) == ("skipped", f"SKIPPED: {reason}")
    assert f"SKIPPED: {reason}" in timeline.render()
    [record] = _records(repo_copy)
    assert record["skipped"] == {"database primary": reason}


class _WallClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


def test_coming_back_over_the_budget_is_a_failed_drill(
        repo_copy: Path, stand_ins: StandIns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _docker(stand_ins, tmp_path, env.load("testing").cluster_name)
    wall = _WallClock()
    monkeypatch.setattr(timelines, "time", wall)
    with pytest.raises(ColdStartFailed, match=r"came back in 1005s, over the RTO budget of 900s"):
        coldstart.coldstart("testing", checks=FakeChecks([], clock=wall))
    [record] = _records(repo_copy)
    assert (record["result"], record["rto_seconds"]) == ("failed", 1005.0)


# --- the checks' decisions ---------------------------------------------------------------------------------------


class _Clock(FakeClock):
    def time(self) -> float:
        return self.now


class FakeKube:
    """Just what the checks read: nodes, Flux objects, CNPG Clusters; patches recorded."""

    def __init__(self, flux: list[dict[str, Any]], clusters: list[dict[str, Any]] | None = None,
                 handles: bool = True) -> None:
        self.flux, self.clusters, self.handles = flux, clusters, handles
        self.annotated: list[tuple[str, str]] = []

    def request(self, method: str, path: str) -> dict[str, Any]:
        return {"items": [{"metadata": {"name": "node-a"},
                           "status": {"conditions": [{"type": "Ready", "status": "True"}]}}]}

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        if kind == "Cluster":
            if self.clusters is None:
                raise KubeApiError("GET /apis/postgresql.cnpg.io/v1/clusters failed: 404 the server could not find "
                                   "the requested resource")
            return self.clusters
        return [o for o in self.flux if o["kind"] == kind]

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return next((o for o in self.flux if (o["kind"], o["metadata"]["name"]) == (kind, name)), None)

    def annotate(self, api_version: str, kind: str, name: str, namespace: str | None,
                 annotations: dict[str, str]) -> None:
        self.annotated.append((kind, name))
        if self.handles:  # the controller is back: it handles the request and stays Ready
            obj = self.get(api_version, kind, name)
            assert obj is not None
            obj["status"]["lastHandledReconcileAt"] = annotations["reconcile.fluxcd.io/requestedAt"]

    def close(self) -> None:
        pass


def _flux(kind: str, name: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": "flux-system", "generation": 1},
            "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True",
                                                                "reason": "ReconciliationSucceeded"}]}}


def _checks(repo_copy: Path, kube: FakeKube, clock: _Clock) -> LiveChecks:
    checks = LiveChecks(env.load("testing"), KubeconfigProvider("ctx"), clock)  # type: ignore[arg-type]
    checks.kube = kube  # type: ignore[assignment]
    checks._connect = lambda: kube  # type: ignore[method-assign,assignment,return-value]
    return checks


def test_flux_is_back_only_once_its_controllers_handled_a_request_made_after_power_on(repo_copy: Path) -> None:
    """A Ready condition kept in etcd from before the power cut proves nothing: the check asks each controller to
    reconcile and waits for its answer; controllers that never come back fail the check on the (fake) deadline."""
    objects = [_flux("Kustomization", "apps"), _flux("HelmRelease", "podinfo")]
    before = Before(["node-a"], [("Kustomization", "flux-system", "apps"), ("HelmRelease", "flux-system", "podinfo")])
    kube = FakeKube(objects)
    outcome = _checks(repo_copy, kube, _Clock()).flux(before)
    assert outcome == Outcome("2 Kustomizations/HelmReleases reconciled and Ready again")
    assert kube.annotated == [("Kustomization", "apps"), ("HelmRelease", "podinfo")]
    dead = FakeKube([_flux("Kustomization", "apps"), _flux("HelmRelease", "podinfo")], handles=False)
    clock = _Clock()
    with pytest.raises(ColdStartFailed, match=r"2 Flux objects Ready again: not within 900s"):
        _checks(repo_copy, dead, clock).flux(before)
    assert 900 <= clock.now < 1000


def test_a_flux_object_failing_after_the_power_cut_fails_the_drill_at_once(repo_copy: Path) -> None:
    broken = _flux("Kustomization", "apps")
    broken["status"]["conditions"] = [{"type": "Ready", "status": "False", "reason": "BuildFailed",
                                       "message": "kustomize build failed"}]
    clock = _Clock()
    with pytest.raises(ColdStartFailed, match="Kustomization flux-system/apps failed after the power cut: "
                                              "BuildFailed: kustomize build failed"):
        _checks(repo_copy, FakeKube([broken]), clock).flux(Before(["node-a"], [("Kustomization", "flux-system",
                                                                                  "apps")]))
    assert clock.now == 0


@pytest.mark.parametrize("clusters, skipped", [
    (None, "the API server serves no CNPG Cluster (GET /apis/postgresql.cnpg.io/v1/clusters failed: 404"),
    ([], "no CNPG Cluster in the environment"),
    ([{"metadata": {"namespace": "feeds", "name": "feeds-db"}}],
     "no operator has ever reconciled CNPG Cluster feeds/feeds-db (no Ready condition): there is no database"),
])
def test_no_database_to_come_back_is_a_skip_with_its_reason(
        repo_copy: Path, clusters: list[dict[str, Any]] | None, skipped: str) -> None:
    checks = _checks(repo_copy, FakeKube([], clusters), _Clock())
    found, reason = checks._databases(checks.kube)  # type: ignore[arg-type]
    assert found == [] and reason.startswith(skipped)
    assert checks.database(Before([], [], database_skipped=reason)) == Outcome("", reason)


def test_a_database_not_ready_before_the_power_cut_refuses_the_drill(repo_copy: Path) -> None:
    cluster = {"metadata": {"namespace": "feeds", "name": "feeds-db"},
               "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    checks = _checks(repo_copy, FakeKube([], [cluster]), _Clock())
    with pytest.raises(PreflightError, match="CNPG Cluster feeds/feeds-db is not Ready: a cold start proves nothing"):
        checks._databases(checks.kube)  # type: ignore[arg-type]


def test_an_openbao_outside_the_cluster_is_skipped_by_name(repo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = _checks(repo_copy, FakeKube([]), _Clock())
    monkeypatch.delenv("CATTLE_VAULT_ADDR", raising=False)
    monkeypatch.delenv("CATTLE_VAULT_ADDR_TESTING", raising=False)
    assert checks._openbao_outside() == ""
    monkeypatch.setenv("CATTLE_VAULT_ADDR_TESTING", "http://127.0.0.1:8200")
    reason = checks._openbao_outside()
    assert reason == ("OpenBao runs outside the cluster (CATTLE_VAULT_ADDR_TESTING=http://127.0.0.1:8200): the power "
                      "cycle does not reach it")
    assert checks.openbao(Before([], [], openbao_skipped=reason)) == Outcome("", reason)


def test_the_coldstart_record_is_a_history_kind_of_its_own() -> None:
    assert "coldstart" in history.KINDS and "coldstart" not in history.TIMELINE_KINDS
    with pytest.raises(history.HistoryError, match="no events"):
        history.checked({"kind": "coldstart", "env": "testing", "started": 1.0, "result": "ok"}, "x")
    assert coldchecks.NOT_READY_BEFORE.startswith("a cold start proves nothing")


def test_workloads_are_back_only_when_every_pod_that_was_ready_is_ready_again(repo_copy: Path) -> None:
    def workload(kind: str, name: str, ready: int) -> dict[str, Any]:
        status = ({"desiredNumberScheduled": 2, "numberReady": ready} if kind == "DaemonSet"
                  else {"readyReplicas": ready})
        return {"kind": kind, "metadata": {"name": name, "namespace": "apps"}, "spec": {"replicas": 2},
                "status": status}

    objects = [workload("Deployment", "web", 2), workload("StatefulSet", "db", 2), workload("DaemonSet", "agent", 2),
               workload("Deployment", "scaled-down", 0)]
    checks = _checks(repo_copy, FakeKube(objects), _Clock())
    states = checks._workloads(checks.kube)  # type: ignore[arg-type]
    assert states == {("Deployment", "apps", "web"): True, ("StatefulSet", "apps", "db"): True,
                      ("DaemonSet", "apps", "agent"): True, ("Deployment", "apps", "scaled-down"): False}
    before = Before(["node-a"], [], sorted(key for key, ready in states.items() if ready))
    assert checks.workloads(before).detail == "3 Deployments/StatefulSets/DaemonSets have their pods ready again"
    objects[2]["status"]["numberReady"] = 1  # one node agent's pod still marked not Ready after the power cut
    clock = _Clock()
    with pytest.raises(ColdStartFailed, match="3 Deployments/StatefulSets/DaemonSets with their pods ready: not "
                                              "within 900s"):
        _checks(repo_copy, FakeKube(objects), clock).workloads(before)
    assert 900 <= clock.now < 1000
