"""The wait logic against scripted condition sequences, on an injected clock: every failure shape Flux emits, an
object that never appears, a stale generation, a hook before its object is Ready, CRDs that never become
Established. No server and no wall-clock time: a watch window advances the fake clock to the next scripted change."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cattle.bootstrap import fluxinstall, reconcile
from cattle.errors import ReconcileFailed, WaitTimeout
from tests import waiting

KS, HR = "Kustomization", "HelmRelease"


class FakeClock(waiting.FakeClock, reconcile.Clock):
    """Fake time for the waits, bounded (tests.waiting.FakeClock): a wait that never ends fails in seconds."""

    def time(self) -> float:
        return 1_700_000_000 + self.now


def flux(kind: str, name: str, ready: str | None = None, reason: str = "", message: str = "",
         stalled: bool = False, generation: int = 1, observed: int | None = 1,
         namespace: str = "flux-system", depends: tuple[str, ...] = ()) -> dict[str, Any]:
    """A Flux object as the controllers report it."""
    conditions = []
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready, "reason": reason, "message": message})
    if stalled:
        conditions.append({"type": "Stalled", "status": "True", "reason": reason, "message": message})
    status: dict[str, Any] = {"conditions": conditions}
    if observed is not None:
        status["observedGeneration"] = observed
    made = {"apiVersion": reconcile.KINDS[kind], "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "generation": generation}, "status": status}
    if depends:
        made["spec"] = {"dependsOn": [{"name": d} for d in depends]}
    return dict(json.loads(json.dumps(made)))  # parsed, as the API hands it over: no interned literals (`is` fails)


@dataclass
class ScriptedKube:
    """Objects change at scripted times; list() shows the state at the clock's now."""

    clock: FakeClock
    script: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    lists: int = 0
    annotated: list[tuple[float, str, str, dict[str, str]]] = field(default_factory=list)

    def annotate(self, api_version: str, kind: str, name: str, namespace: str | None,
                 annotations: dict[str, str]) -> None:
        self.annotated.append((self.clock.now, kind, name, annotations))

    def _state(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        state: dict[tuple[str, str, str], dict[str, Any]] = {}
        for at, obj in sorted(self.script, key=lambda item: item[0]):
            if at <= self.clock.now:
                meta = obj["metadata"]
                state[(obj["kind"], meta["namespace"], meta["name"])] = obj
        return state

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        self.lists += 1
        return [o for (k, _, _), o in self._state().items() if k == kind and o["apiVersion"] == api_version]

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return next((o for (k, ns, n), o in self._state().items()
                     if (k, n) == (kind, name) and (namespace is None or ns == namespace)), None)

    def watch(self, api_version: str, kind: str, seconds: float) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each scripted change of the kind within the window, at its time; the window stays open until it ends
        (a caller that stops listening early stops the clock where it stopped)."""
        end = self.clock.now + seconds
        for moment in sorted({at for at, _ in self.script if self.clock.now < at <= end}):
            self.clock.now = moment
            for at, obj in self.script:
                if at == moment and obj["kind"] == kind:
                    yield "MODIFIED", obj
        self.clock.now = end


def waiter(script: list[tuple[float, dict[str, Any]]], expected: list[tuple[str, str, str]],
           hooks: dict[tuple[str, str, str], Any] | None = None) -> tuple[reconcile.Waiter, FakeClock]:
    clock = FakeClock()
    kube = ScriptedKube(clock, script)
    return reconcile.Waiter(kube, expected, hooks, clock=clock), clock  # type: ignore[arg-type]


APPS = (KS, "flux-system", "apps")
DB = (HR, "feeds", "feeds-db")


def test_ready_in_order_and_done() -> None:
    w, clock = waiter([(0, flux(KS, "apps", "Unknown", "Progressing")), (30, flux(KS, "apps", "True"))], [APPS])
    w.wait(timeout=600)
    assert w.tracked[APPS].state == "ready" and clock.now == 30
    assert w.tracked[APPS].ready_at == clock.time()


def test_stalled_fails_fast_with_the_controllers_message() -> None:
    w, clock = waiter([(0, flux(KS, "apps", "Unknown", "Progressing")),
                       (20, flux(KS, "apps", "False", "ArtifactFailed", "source not found", stalled=True))], [APPS])
    with pytest.raises(ReconcileFailed, match="Kustomization flux-system/apps failed: source not found"):
        w.wait(timeout=600)
    assert clock.now == 20


@pytest.mark.parametrize("reason", sorted(reconcile.TERMINAL_REASONS))
def test_a_terminal_ready_false_reason_fails_without_stalled(reason: str) -> None:
    w, _ = waiter([(5, flux(KS, "apps", "False", reason, "bad input"))], [APPS])
    with pytest.raises(ReconcileFailed, match=f"{reason}: bad input"):
        w.wait(timeout=600)


def test_helmrelease_install_failure_is_retried_then_ready() -> None:
    w, clock = waiter([(0, flux(HR, "feeds-db", "False", "InstallFailed", "timed out waiting", namespace="feeds")),
                       (90, flux(HR, "feeds-db", "True", "InstallSucceeded", namespace="feeds"))], [DB])
    w.wait(timeout=600)
    assert w.tracked[DB].state == "ready" and clock.now == 90


@pytest.mark.parametrize("first", ["InstallFailed", "UpgradeFailed"])
def test_helmrelease_retries_exhausted_is_a_failure(first: str) -> None:
    w, clock = waiter([(0, flux(HR, "feeds-db", "False", first, "hook failed", namespace="feeds")),
                       (300, flux(HR, "feeds-db", "False", "RetriesExceeded", "install retries exhausted",
                                  stalled=True, namespace="feeds"))], [DB])
    with pytest.raises(ReconcileFailed, match="HelmRelease feeds/feeds-db failed: install retries exhausted"):
        w.wait(timeout=600)
    assert clock.now == 300


def test_an_object_that_never_appears_times_out_naming_it() -> None:
    w, clock = waiter([(0, flux(KS, "apps", "True"))], [APPS, (KS, "flux-system", "platform-configs")])
    with pytest.raises(WaitTimeout, match=r"not Ready within 120s: Kustomization flux-system/platform-configs: "
                                          "missing"):
        w.wait(timeout=120)
    assert clock.now == pytest.approx(120)


def test_a_ready_left_from_an_earlier_generation_is_not_ready() -> None:
    w, clock = waiter([(0, flux(KS, "apps", "True", generation=2, observed=1)),
                       (40, flux(KS, "apps", "True", generation=2, observed=2))], [APPS])
    w.refresh()
    assert w.tracked[APPS].state == "reconciling" and "observed generation 1 of 2" in w.tracked[APPS].message
    w.wait(timeout=600)
    assert clock.now == 40


def test_a_stale_generation_that_never_catches_up_times_out() -> None:
    w, _ = waiter([(0, flux(KS, "apps", "True", generation=3, observed=None))], [APPS])
    with pytest.raises(WaitTimeout, match="observed no generation of 3"):
        w.wait(timeout=60)


def test_waiting_on_dependencies_is_not_a_failure() -> None:
    w, _ = waiter([(0, flux(KS, "apps", "False", "DependencyNotReady", "dependency 'x' is not ready")),
                   (10, flux(KS, "apps", "True"))], [APPS])
    w.wait(timeout=600)
    assert w.tracked[APPS].state == "ready"


def test_a_hook_runs_once_and_only_after_its_object_is_ready() -> None:
    openbao = (HR, "openbao", "openbao")
    calls: list[float] = []
    clock_box: list[FakeClock] = []
    w, clock = waiter([(0, flux(HR, "openbao", "Unknown", "Progressing", namespace="openbao")),
                       (0, flux(KS, "apps", "Unknown", "Progressing")),
                       (50, flux(HR, "openbao", "True", namespace="openbao")),
                       (80, flux(KS, "apps", "True"))], [openbao, APPS],
                      {openbao: lambda: calls.append(clock_box[0].now)})
    clock_box.append(clock)
    w.wait(timeout=600)
    assert calls == [50]


def test_a_failing_hook_ends_the_wait_with_its_error() -> None:
    def broken() -> None:
        raise ReconcileFailed("restore refused")

    w, _ = waiter([(0, flux(KS, "apps", "True"))], [APPS], {APPS: broken})
    with pytest.raises(ReconcileFailed, match="restore refused"):
        w.wait(timeout=600)


def test_verify_fails_when_an_object_is_no_longer_ready() -> None:
    w, clock = waiter([(0, flux(KS, "apps", "True")),
                       (100, flux(KS, "apps", "False", "HealthCheckFailed", "miniflux not ready"))], [APPS])
    w.wait(timeout=600)
    clock.now = 100
    with pytest.raises(ReconcileFailed, match="1 Flux objects are no longer Ready: Kustomization flux-system/apps"):
        w.verify()


def crd(name: str, established: bool) -> dict[str, Any]:
    conditions = [{"type": "Established", "status": "True" if established else "False"}]
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name, "namespace": ""}, "status": {"conditions": conditions}}


class InstallKube(ScriptedKube):
    applied: list[str]

    def apply(self, obj: dict[str, Any], force: bool = False) -> dict[str, Any]:
        self.applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return obj


def test_flux_install_waits_for_established_crds_and_times_out_naming_them() -> None:
    clock = FakeClock()
    kube = InstallKube(clock, [(0, crd("a.fluxcd.io", True)), (0, crd("b.fluxcd.io", False))])
    kube.applied = []
    objects = [{"kind": "CustomResourceDefinition", "apiVersion": "apiextensions.k8s.io/v1",
                "metadata": {"name": n}, "spec": {}} for n in ("a.fluxcd.io", "b.fluxcd.io")]
    objects.append({"kind": "Deployment", "apiVersion": "apps/v1",
                    "metadata": {"name": "source-controller", "namespace": "flux-system"}})
    with pytest.raises(WaitTimeout, match=r"Flux CRDs not done within 300s: CRDs not Established yet: b\.fluxcd\.io"):
        fluxinstall.install(kube, objects, 300, clock=clock)  # type: ignore[arg-type]
    assert "Deployment/source-controller" not in kube.applied  # nothing custom is applied before the CRDs
    assert clock.now == pytest.approx(300)


def test_a_heartbeat_at_least_every_15_seconds_names_what_it_waits_on(capsys: pytest.CaptureFixture[str]) -> None:
    configs = (KS, "flux-system", "platform-configs")
    clock = FakeClock()
    kube = ScriptedKube(clock, [(0, flux(KS, "apps", "True")),
                                (0, flux(KS, "platform-configs", "False", "HealthCheckFailed", "store not ready")),
                                (100, flux(KS, "platform-configs", "True"))])
    w = reconcile.Waiter(kube, [APPS, configs], clock=clock, budget=900)  # type: ignore[arg-type]
    w.wait(timeout=600, poll=2.0)
    beats = [line for line in capsys.readouterr().err.splitlines() if "Ready 1/2" in line]
    assert len(beats) >= 100 // 15
    assert beats[0].endswith("Ready 1/2 · 16s of 15m budget · waiting on: platform-configs (store not ready)")


def test_the_heartbeat_counts_the_whole_run_against_the_rto_budget(capsys: pytest.CaptureFixture[str]) -> None:
    """The budget is the run's: 5 minutes spent before the reconcile wait began count in the heartbeat."""
    configs = (KS, "flux-system", "platform-configs")
    clock = FakeClock()
    kube = ScriptedKube(clock, [(0, flux(KS, "apps", "True")),
                                (0, flux(KS, "platform-configs", "False", "HealthCheckFailed", "store not ready")),
                                (30, flux(KS, "platform-configs", "True"))])
    w = reconcile.Waiter(kube, [APPS, configs], clock=clock, budget=900, spent=300.0)  # type: ignore[arg-type]
    w.wait(timeout=600, poll=2.0)
    beats = [line for line in capsys.readouterr().err.splitlines() if "Ready 1/2" in line]
    assert beats and "Ready 1/2 · 5m16s of 15m budget" in beats[0]


def _tracked(ready_at: dict[str, float | None]) -> dict[tuple[str, str, str], reconcile.Tracked]:
    found = {}
    for name, at in ready_at.items():
        item = reconcile.Tracked(KS, "flux-system", name, "ready" if at else "reconciling")
        item.ready_at = at
        found[(KS, "flux-system", name)] = item
    found[(HR, "feeds", "feeds-db")] = reconcile.Tracked(HR, "feeds", "feeds-db", "ready", ready_at=999.0)
    return found


def test_the_critical_path_follows_the_slowest_ready_dependency_back() -> None:
    depends = {"apps": ["platform-configs", "secrets"], "platform-configs": ["platform-controllers"],
               "platform-controllers": ["secrets"], "secrets": []}
    tracked = _tracked({"secrets": 10.0, "platform-controllers": 50.0, "platform-configs": 80.0, "apps": 90.0})
    assert reconcile.critical_path(tracked, depends) == ["secrets", "platform-controllers", "platform-configs",
                                                         "apps"]  # the HelmRelease (Ready last) is not a layer
    faster = _tracked({"secrets": 10.0, "platform-controllers": 50.0, "platform-configs": 20.0, "apps": 90.0})
    assert reconcile.critical_path(faster, {**depends, "apps": ["platform-configs", "platform-controllers"]}) == [
        "secrets", "platform-controllers", "apps"]  # the slower of two dependencies decided it
    pending = _tracked({"secrets": 10.0, "platform-controllers": None, "apps": 30.0})
    assert reconcile.critical_path(pending, {"apps": ["platform-controllers", "secrets"]}) == ["secrets", "apps"]
    assert reconcile.critical_path(_tracked({"apps": None}), depends) == []
    looped = _tracked({"a": 1.0, "b": 2.0})
    assert reconcile.critical_path(looped, {"a": ["b"], "b": ["a"]}) == ["a", "b"]  # a cycle ends the walk


def test_the_status_table_shows_every_flux_object_and_its_state() -> None:
    clock = FakeClock()
    kube = ScriptedKube(clock, [(0, flux(KS, "apps", "True")),
                                (0, flux(HR, "feeds-db", "False", "RetriesExceeded", "x" * 100, stalled=True,
                                         namespace="feeds"))])
    lines = reconcile.status_table(kube).splitlines()  # type: ignore[arg-type]
    assert lines[0].split() == ["kind", "object", "state", "message"]
    assert lines[2].split() == ["Kustomization", "flux-system/apps", "ready"]
    assert lines[3].split()[:3] == ["HelmRelease", "feeds/feeds-db", "failed"] and lines[3].endswith("x" * 80)
    assert reconcile.status_table(ScriptedKube(clock, [])) == "no Flux objects found"  # type: ignore[arg-type]


def test_verify_fails_when_an_object_is_no_longer_ready_after_the_wait() -> None:
    w, clock = waiter([(0, flux(KS, "apps", "True")), (0, flux(HR, "feeds-db", "True", namespace="feeds")),
                       (50, flux(HR, "feeds-db", "False", "UpgradeFailed", "probe failed", namespace="feeds"))],
                      [APPS, DB])
    w.wait(timeout=30)
    assert w.verify() == 2
    clock.now = 60
    with pytest.raises(ReconcileFailed, match=r"^1 Flux objects are no longer Ready: HelmRelease feeds/feeds-db "
                                              r"\(reconciling: probe failed\)"):  # helm retries
        w.verify()


def test_the_heartbeat_names_three_pending_objects_and_counts_the_rest() -> None:
    names = ["secrets", "platform-controllers", "platform-configs", "apps", "monitoring"]
    w, _ = waiter([], [(KS, "flux-system", n) for n in names])
    w.tracked[(KS, "flux-system", "secrets")].state = "ready"
    w.tracked[(KS, "flux-system", "platform-controllers")].message = "m" * 60
    assert w.heartbeat(75.0, 600.0) == (
        f"Ready 1/5 · 1m15s of 10m timeout · waiting on: platform-controllers ({'m' * 40}), platform-configs "
        "(missing), apps (missing) and 1 more")
    w.budget = 900.0
    assert w.heartbeat(59.6, 600.0).startswith("Ready 1/5 · 1m of 15m budget · ")
    for name in names:
        w.tracked[(KS, "flux-system", name)].state = "ready"
    assert w.heartbeat(1.0, 600.0).endswith("waiting on: ")


def test_a_generation_beyond_the_small_int_cache_is_compared_by_value() -> None:
    """Generations come parsed from JSON: 1000 observed of 1000 is current, even as two distinct int objects."""
    current = flux(KS, "apps", "True", generation=1000, observed=1000)
    assert current["metadata"]["generation"] is not current["status"]["observedGeneration"]
    assert reconcile.classify(current) == ("ready", "")
    assert reconcile.classify(flux(KS, "apps", "True", generation=1001, observed=1000))[0] == "reconciling"


def test_the_heartbeat_names_three_pending_and_counts_the_rest() -> None:
    names = ["a", "b", "c", "d", "e", "f"]
    clock = FakeClock()
    for pending, tail in ((3, ""), (6, " and 3 more")):
        expected = [(KS, "flux-system", n) for n in names[:pending]]
        w = reconcile.Waiter(ScriptedKube(clock, []), expected, clock=clock)  # type: ignore[arg-type]
        assert w.heartbeat(16, 600) == (f"Ready 0/{pending} · 16s of 10m timeout · waiting on: a (missing), "
                                        f"b (missing), c (missing){tail}")


def test_without_a_budget_the_heartbeat_counts_only_the_wait_against_its_timeout(
        capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    kube = ScriptedKube(clock, [(0, flux(KS, "apps", "False", "Progressing", "building")),
                                (20, flux(KS, "apps", "True"))])
    w = reconcile.Waiter(kube, [APPS], clock=clock, spent=300.0)  # type: ignore[arg-type]
    w.wait(timeout=600, poll=2.0)
    beats = [line for line in capsys.readouterr().err.splitlines() if "Ready 0/1" in line]
    assert beats and "Ready 0/1 · 16s of 10m timeout · waiting on: apps (building)" in beats[0]


def test_each_object_keeps_when_it_was_first_seen_and_when_it_became_ready() -> None:
    script = [(5, flux(KS, "apps", "False", "Progressing", "building")), (30, flux(KS, "apps", "True")),
              (40, flux(KS, "apps", "True", generation=2, observed=1)),
              (50, flux(KS, "apps", "True", generation=2, observed=2))]
    w, clock = waiter(script, [APPS])
    w.wait(timeout=600, poll=2.0)
    tracked = w.tracked[APPS]
    assert (tracked.first_seen, tracked.ready_at) == (1_700_000_005, 1_700_000_030)
    clock.now = 60.0
    w.refresh()  # seen again, Ready again (generation 2 observed): the first times stand
    assert (tracked.first_seen, tracked.ready_at) == (1_700_000_005, 1_700_000_030)


class UnservedHelmReleases(ScriptedKube):
    """The HelmRelease kind is not served yet (its CRD is still being applied): listing it is an API error."""

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        from cattle.errors import KubeApiError

        if kind == HR:
            raise KubeApiError("the server could not find the requested resource (helmreleases)")
        return super().list(api_version, kind, namespace)


def test_a_kind_not_served_yet_counts_as_nothing_listed_and_an_unexpected_object_is_tracked_too(
        capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    kube = UnservedHelmReleases(clock, [(0, flux(KS, "apps", "True")), (0, flux(KS, "extra", "False", "Progressing",
                                                                                   "x" * 200)),
                                        (10, flux(KS, "extra", "True"))])
    w = reconcile.Waiter(kube, [APPS], clock=clock)  # type: ignore[arg-type]
    w.wait(timeout=600, poll=2.0)
    assert set(w.tracked) == {APPS, (KS, "flux-system", "extra")}  # what Flux created beyond the plan is waited on
    assert clock.now == 10 and w.tracked[(KS, "flux-system", "extra")].ready_at == 1_700_000_010
    line = next(line for line in capsys.readouterr().err.splitlines() if "extra: reconciling" in line)
    assert line.endswith("x" * 160)  # a long message is cut at 160 characters
    assert "x" * 161 not in line


def test_classify_reads_each_shape_flux_reports() -> None:
    assert reconcile.classify(flux(KS, "apps", "False", "DependencyNotReady", "dependency 'secrets' is not ready")) \
        == ("waiting", "dependency 'secrets' is not ready")
    assert reconcile.classify(flux(KS, "apps", "False", "BuildFailed", "kustomize build failed")) == (
        "failed", "BuildFailed: kustomize build failed")
    assert reconcile.classify(flux(KS, "apps", "False", "Progressing", "applying")) == ("reconciling", "applying")
    assert reconcile.classify(flux(KS, "apps")) == ("reconciling", "no status yet")


def test_the_heartbeat_comes_every_15_seconds_to_the_second(capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    clock.now = 100.0  # the wait starts at some time of the clock, not at its zero
    kube = ScriptedKube(clock, [(0, flux(KS, "apps", "False", "Progressing", "building")),
                                (150, flux(KS, "apps", "True"))])
    reconcile.Waiter(kube, [APPS], clock=clock).wait(timeout=600, poll=1.0)  # type: ignore[arg-type]
    beats = [line for line in capsys.readouterr().err.splitlines() if "Ready 0/1" in line]
    assert [beat.split(" · ")[1] for beat in beats] == ["15s of 10m timeout", "30s of 10m timeout",
                                                        "45s of 10m timeout"]


def test_a_stalled_condition_counts_only_when_true() -> None:
    unknown = flux(KS, "apps", "False", "Progressing", "retrying")
    unknown["status"]["conditions"].append({"type": "Stalled", "status": "Unknown", "reason": "x", "message": "?"})
    assert reconcile.classify(json.loads(json.dumps(unknown))) == ("reconciling", "retrying")


def test_a_hook_runs_for_a_ready_object_only_never_for_a_missing_or_failed_one() -> None:
    ran: list[str] = []
    w, _ = waiter([(10, flux(HR, "feeds-db", "False", "RetriesExceeded", "boom", stalled=True, namespace="feeds")),
                   (0, flux(KS, "apps", "True"))],
                  [APPS, DB], {DB: lambda: ran.append("db"), APPS: lambda: ran.append("apps")})
    w.refresh()
    w.run_hooks()
    assert ran == ["apps"]  # feeds-db is still missing: its hook waits
    with pytest.raises(ReconcileFailed):
        w.wait(timeout=600)
    assert ran == ["apps"]  # and a failed one never runs it


def test_the_timeout_lists_each_pending_object_with_its_message_cut_at_80() -> None:
    w, _ = waiter([(0, flux(KS, "apps", "False", "Progressing", "y" * 100))], [APPS])
    with pytest.raises(WaitTimeout) as caught:
        w.wait(timeout=60)
    assert caught.value.message == f"not Ready within 60s: Kustomization flux-system/apps: reconciling {'y' * 80}"


def test_a_real_change_on_the_watch_is_acted_on_at_once_and_a_resent_object_costs_no_refresh() -> None:
    clock = FakeClock()
    kube = ScriptedKube(clock, [(0, flux(KS, "apps", "False", "Progressing", "building")),
                                (2, flux(KS, "apps", "False", "Progressing", "building")),  # re-sent, unchanged
                                (5, flux(KS, "apps", "True"))])
    reconcile.Waiter(kube, [APPS], clock=clock).wait(timeout=600, poll=10.0)  # type: ignore[arg-type]
    assert clock.now == 5  # not the end of the 10 s window
    assert kube.lists == 2 * len(reconcile.KINDS)  # the first look and the one after the change, nothing between


def test_a_false_stalled_is_no_failure_and_a_failed_object_is_never_ready() -> None:
    settled = flux(KS, "apps", "False", "Progressing", "retrying")
    settled["status"]["conditions"].append({"type": "Stalled", "status": "False", "reason": "x", "message": ""})
    assert reconcile.classify(json.loads(json.dumps(settled)))[0] == "reconciling"
    w, _ = waiter([(0, flux(KS, "apps", "False", "BuildFailed", "bad", stalled=True))], [APPS])
    w.refresh()
    assert w.tracked[APPS].state == "failed" and w.tracked[APPS].ready_at is None


def test_of_two_failures_the_first_tracked_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    configs = (KS, "flux-system", "platform-configs")
    w, _ = waiter([(0, flux(KS, "apps", "False", "BuildFailed", "first", stalled=True)),
                   (0, flux(KS, "platform-configs", "False", "BuildFailed", "second", stalled=True))], [APPS, configs])
    with pytest.raises(ReconcileFailed, match="Kustomization flux-system/apps failed: first"):
        w.wait(timeout=600)
    lines = [line for line in capsys.readouterr().err.splitlines() if "apps: failed" in line]
    assert len(lines) == 1  # an object's line is printed when it changes, not on every look


def test_the_wait_gives_up_at_its_deadline_not_a_second_before_and_even_when_a_hook_overran_it() -> None:
    w, clock = waiter([(0, flux(KS, "apps", "False", "Progressing", "building"))], [APPS])
    with pytest.raises(WaitTimeout):
        w.wait(timeout=10, poll=3.0)
    assert clock.now == 10  # windows of 3, 3, 3 and the last 1 s
    slow = FakeClock()
    kube = ScriptedKube(slow, [(0, flux(KS, "secrets", "True")), (0, flux(KS, "apps", "False", "Progressing", "x"))])
    secrets = (KS, "flux-system", "secrets")
    hooked = reconcile.Waiter(kube, [APPS, secrets], {secrets: lambda: slow.sleep(100)},  # type: ignore[arg-type]
                              clock=slow)
    with pytest.raises(WaitTimeout):
        hooked.wait(timeout=60)
    assert slow.now == 100  # the hook ran past the deadline: no watch with negative time, the wait ends


def test_verify_and_the_status_table_cut_messages_at_80() -> None:
    w, _ = waiter([(0, flux(KS, "apps", "False", "Progressing", "z" * 100))], [APPS])
    with pytest.raises(ReconcileFailed) as caught:
        w.verify()
    assert f"({'reconciling'}: {'z' * 80})" in caught.value.message and "z" * 81 not in caught.value.message
    clock = FakeClock()
    table = reconcile.status_table(ScriptedKube(clock, [(0, flux(KS, "apps", "False", "Progressing",  # type: ignore[arg-type]
                                                                  "z" * 100))]))
    assert "z" * 80 in table and "z" * 81 not in table


def test_the_critical_path_reads_kinds_as_parsed_from_a_rendering() -> None:
    expected = [tuple(t) for t in json.loads(json.dumps([(KS, "flux-system", "secrets"), (KS, "flux-system", "apps")]))]
    w, _ = waiter([(0, flux(KS, "secrets", "True")), (5, flux(KS, "apps", "True"))], expected)  # type: ignore[arg-type]
    w.wait(timeout=600)
    assert reconcile.critical_path(w.tracked, {"apps": ["secrets"]}) == ["secrets", "apps"]


def test_an_objects_line_is_printed_when_it_changes_not_on_every_look(capsys: pytest.CaptureFixture[str]) -> None:
    w, _ = waiter([(0, flux(KS, "apps", "False", "Progressing", "building")), (11, flux(KS, "apps", "True"))], [APPS])
    w.wait(timeout=600, poll=2.0)  # six looks while it builds
    err = capsys.readouterr().err
    assert err.count("apps: reconciling — building") == 1 and err.count("apps: ready") == 1


# --- nudges: `flux reconcile` the moment an object's dependencies are Ready ------------------------------------


SECRETS, PLATFORM = (KS, "flux-system", "secrets"), (KS, "flux-system", "platform")


def _waiting(name: str, *depends: str) -> dict[str, Any]:
    return flux(KS, name, "False", "DependencyNotReady", f"dependency '{depends[0]}' is not ready", depends=depends)


def test_a_waiting_object_is_nudged_once_its_dependencies_are_ready() -> None:
    script = [(0, flux(KS, "secrets", "True")), (0, flux(KS, "platform", "Unknown", "Progressing")),
              (0, _waiting("apps", "secrets", "platform")),
              (40, flux(KS, "platform", "True")),  # platform turns Ready at 40: apps is asked at once
              (41, flux(KS, "apps", "True", depends=("secrets", "platform")))]
    w, _clock = waiter(script, [APPS, SECRETS, PLATFORM])
    w.wait(timeout=600)
    kube = w.kube
    assert [(at, kind, name) for at, kind, name, _ in kube.annotated] == [(40, KS, "apps")]  # type: ignore[attr-defined]
    [(_, _, _, annotations)] = kube.annotated  # type: ignore[attr-defined]
    assert annotations == {reconcile.REQUESTED_AT: f"{1_700_000_040:.6f}"} and w.nudges == 1


def test_no_nudge_while_a_dependency_is_not_ready_and_none_when_switched_off() -> None:
    script = [(0, flux(KS, "secrets", "True")), (0, flux(KS, "platform", "Unknown", "Progressing")),
              (0, _waiting("apps", "secrets", "platform")), (60, flux(KS, "platform", "True")),
              (60, flux(KS, "apps", "True"))]
    w, _ = waiter(script, [APPS, SECRETS, PLATFORM])
    w.wait(timeout=600)
    assert w.kube.annotated == [] and w.nudges == 0  # type: ignore[attr-defined]
    script[1] = (0, flux(KS, "platform", "True"))
    off, _ = waiter(script, [APPS, SECRETS, PLATFORM])
    off.nudge = False
    off.wait(timeout=600)
    assert off.kube.annotated == []  # type: ignore[attr-defined]


def test_a_nudged_object_still_waiting_is_nudged_again_after_a_while() -> None:
    script = [(0, flux(KS, "secrets", "True")), (0, _waiting("apps", "secrets")),
              (25, flux(KS, "apps", "Unknown", "Progressing")), (26, flux(KS, "apps", "True"))]
    w, _ = waiter(script, [APPS, SECRETS])
    w.wait(timeout=600, poll=2.0)
    times = [at for at, *_ in w.kube.annotated]  # type: ignore[attr-defined]
    assert times[0] == 0 and len(times) >= 2
    assert all(later - earlier >= reconcile.Waiter.NUDGE_AGAIN for earlier, later in itertools.pairwise(times))
    assert all(at < 25 for at in times)  # no nudge once Flux works on it
    # on the fake clock the waiter looks every 2 s: again exactly NUDGE_AGAIN (10 s) after each nudge, not later
    assert times == [0, 10, 20]


def test_one_recently_nudged_object_does_not_hold_back_another() -> None:
    """(killed a mutant of the tier's sample: `continue` -> `break` after the re-nudge gate)"""
    script = [(0, flux(KS, "secrets", "True")), (0, flux(KS, "platform", "Unknown", "Progressing")),
              (0, _waiting("apps", "secrets")), (0, _waiting("configs", "platform")),
              (4, flux(KS, "platform", "True")), (30, flux(KS, "apps", "True")), (30, flux(KS, "configs", "True"))]
    configs = (KS, "flux-system", "configs")
    w, _ = waiter(script, [APPS, configs, SECRETS, PLATFORM])
    w.wait(timeout=600, poll=2.0)
    nudged = [(at, name) for at, _, name, _ in w.kube.annotated]  # type: ignore[attr-defined]
    assert (0, "apps") in nudged and (4, "configs") in nudged, nudged


def test_a_dependency_git_does_not_declare_fails_at_once_with_the_controllers_message() -> None:
    missing = flux(KS, "apps", "False", "DependencyNotReady",
                   "unable to get 'flux-system/platform-controler' dependency: not found",
                   depends=("platform-controler",))
    w, clock = waiter([(0, flux(KS, "secrets", "True")), (5, missing)], [APPS, (KS, "flux-system", "secrets")])
    with pytest.raises(ReconcileFailed, match=r"Kustomization flux-system/apps failed: unable to get "
                                              r"'flux-system/platform-controler' dependency: not found \(it depends "
                                              r"on Kustomization flux-system/platform-controler, which git does not "
                                              r"declare\)"):
        w.wait(timeout=600)
    assert clock.now == 5
    # a declared dependency that is not Ready yet is only waited for
    w, _ = waiter([(0, _waiting("apps", "secrets")), (30, flux(KS, "secrets", "True")), (31, flux(KS, "apps", "True"))],
                  [APPS, (KS, "flux-system", "secrets")])
    w.wait(timeout=600)


# --- the status shape of the real controllers (seen on the control plane tier, tests/controlplane) --------------


def _as_flux_sets_it(obj: dict[str, Any], status_generation: int = -1) -> dict[str, Any]:
    """Flux stamps each condition with the generation it looked at and moves status.observedGeneration only when a
    reconcile succeeds (kustomize-controller finalizeStatus; fluxcd/pkg runtime/conditions Set)."""
    for item in obj["status"]["conditions"]:
        item["observedGeneration"] = obj["metadata"]["generation"]
    obj["status"]["observedGeneration"] = status_generation
    return obj


@pytest.mark.parametrize("reason, state", [("DependencyNotReady", "waiting"), ("BuildFailed", "failed"),
                                           ("ReconciliationFailed", "reconciling")])
def test_a_first_reconcile_that_did_not_succeed_is_judged_by_its_conditions_stamp(reason: str, state: str) -> None:
    obj = _as_flux_sets_it(flux(KS, "apps", "False", reason, "it says why"))
    assert reconcile.classify(obj)[0] == state


def test_a_condition_stamped_for_an_older_generation_is_stale() -> None:
    old_ready = _as_flux_sets_it(flux(KS, "apps", "True"), status_generation=1)
    old_ready["metadata"]["generation"] = 2
    assert reconcile.classify(old_ready) == ("reconciling",
                                             "the controller has observed generation 1 of 2 (status is stale)")
    old_stall = _as_flux_sets_it(flux(KS, "apps", "False", "BuildFailed", "bad", stalled=True), status_generation=1)
    old_stall["metadata"]["generation"] = 2
    assert reconcile.classify(old_stall)[0] == "reconciling"
    unstamped = flux(KS, "apps", "False", "BuildFailed", "bad", observed=-1)
    assert reconcile.classify(unstamped) == ("reconciling",
                                             "the controller has observed no generation of 1 (status is stale)")


@pytest.mark.parametrize("message, state", [
    # as kustomize-controller 1.9.4 words them on the control plane tier (tests/controlplane/test_failures.py)
    ('ConfigMap/feeds/Not_A_Valid_Name dry-run failed (Invalid): ConfigMap "Not_A_Valid_Name" is invalid: '
     'metadata.name: Invalid value', "failed"),
    ("CronJob/openbao/openbao-backup dry-run failed: failed to create typed patch object (openbao/openbao-backup; "
     "batch/v1, Kind=CronJob): .spec.jobTemplate.spec.template.spec.containers[name=\"upload\"].env[name=\"KEEP\"]"
     ".value: expected string, got &value.valueUnstructured{Value:3}", "failed"),
    # what a later retry can fix is waited for
    ('ClusterIssuer/selfsigned dry-run failed: no matches for kind "ClusterIssuer" in version "cert-manager.io/v1"',
     "reconciling"),
    ("Deployment/feeds/miniflux dry-run failed: Internal error occurred: context deadline exceeded", "reconciling"),
])
def test_a_manifest_the_api_server_refuses_is_a_failure_not_a_retry(message: str, state: str) -> None:
    obj = _as_flux_sets_it(flux(KS, "apps", "False", "ReconciliationFailed", message))
    found, shown = reconcile.classify(obj)
    assert found == state
    assert (shown == f"the API server refuses a manifest: {message}") == (state == "failed")
