"""`./scripts/cattle dr.coldstart --env testing`: a complete shutdown, disks intact.

Every node of the environment's running cluster is powered off, then on (kind: `docker stop`, then `docker start`, of
every node container), and cattle only watches: no bootstrap, no restore, no unseal, nobody. The timeline says when
the API server answered, the nodes were Ready, every Deployment/StatefulSet had its replicas ready again, every Flux
Kustomization/HelmRelease reconciled and was Ready again, OpenBao was unsealed by its static seal, the CNPG primary
was Ready, and the canaries written before the power cut read back unchanged. The RTO runs from power on to the last
of those readiness checks, held to the environment's budget; the run record (kind `coldstart`) is kept like a
drill's. A check that cannot apply to the cluster (no database, an OpenBao outside it) is SKIPPED in the timeline
with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from cattle import console, env
from cattle.bootstrap.timeline import Timeline
from cattle.dr import history
from cattle.dr.coldchecks import Before, ColdStartFailed, LiveChecks, Outcome
from cattle.errors import CattleError, PreflightError
from cattle.paths import state_dir
from cattle.providers import get_provider
from cattle.providers.base import PowerCycling, Provider

KIND = "coldstart"
# the phases whose end is the RTO's: the cluster is back when the last of them is Ready (canaries only verify)
READINESS = ("API server answers", "nodes Ready", "workloads Ready", "Flux Ready", "OpenBao unsealed",
             "database primary")


class Checks(Protocol):
    """What the drill reads from the cluster (cattle.dr.coldchecks.LiveChecks; tests stand in for it)."""

    def before(self) -> Before: ...
    def api(self, before: Before) -> Outcome: ...
    def nodes(self, before: Before) -> Outcome: ...
    def workloads(self, before: Before) -> Outcome: ...
    def flux(self, before: Before) -> Outcome: ...
    def openbao(self, before: Before) -> Outcome: ...
    def database(self, before: Before) -> Outcome: ...
    def canaries(self, before: Before) -> Outcome: ...
    def close(self) -> None: ...


class Cluster(Provider, PowerCycling, Protocol):
    """A provider whose nodes can be powered off and on."""


def power_cycling(provider: Provider) -> Cluster:
    """The provider if it can power its nodes off and on; a PreflightError saying where the drill runs if not."""
    if not callable(getattr(provider, "stop_nodes", None)) or not callable(getattr(provider, "start_nodes", None)):
        raise PreflightError(f"cold-start drills run on kind: the {provider.name} provider cannot power the "
                             "cluster's nodes off and on", "run it where the environment is a kind cluster "
                             "(./scripts/cattle dr.coldstart --env testing, or --provider kind)")
    return provider  # type: ignore[return-value]


def _check(timeline: Timeline, phase: str, check: Callable[[], Outcome], waiting: bool = True) -> None:
    with timeline.phase(phase, waiting=waiting) as event:
        outcome = check()
        if outcome.skipped:
            event.status, event.detail = "skipped", f"SKIPPED: {outcome.skipped}"
        else:
            event.detail = outcome.detail


def record(timeline: Timeline, power_on: float | None, rto: float | None, budget: float,
           detail: str = "") -> dict[str, Any]:
    """The run record: the timeline, the RTO from power on (None: never powered on, or not back) and the budget,
    and every skipped check with its reason."""
    skipped = {e.phase: e.detail.removeprefix("SKIPPED: ") for e in timeline.events if e.status == "skipped"}
    return {**timeline.as_dict(), "kind": KIND, "rto_seconds": None if rto is None else round(rto, 2),
            "rto_budget_seconds": budget, "power_on": power_on, "skipped": skipped,
            **({"detail": detail} if detail else {})}


def verdict(timeline: Timeline, rto: float | None, budget: float) -> str:
    """`came back in 95.2s (power on → everything Ready), within the budget of 900s`, or why it did not."""
    if rto is None:
        return f"did not come back ({timeline.result})"
    return (f"came back in {rto:.1f}s (power on → everything Ready), {'within' if rto <= budget else 'OVER'} the "
            f"budget of {budget:.0f}s")


def summary_markdown(timeline: Timeline, rto: float | None, budget: float) -> str:
    return (f"## Cold start: {timeline.env}\n\nEvery node powered off and on, no cattle command in between: "
            f"**{verdict(timeline, rto, budget)}**.\n\n```\n{timeline.render()}\n```\n")


def coldstart(name: str, *, provider: str | None = None, cluster: Provider | None = None,
              checks: Checks | None = None, summary: Path | None = None) -> Timeline:
    """Power the environment's cluster off and on, watch it come back by itself, keep the record."""
    environment = env.load(name)
    timeline = Timeline(name)
    power_on: float | None = None
    rto: float | None = None
    detail = ""
    try:
        if environment.protected:
            raise PreflightError(f"{name} is protected: a cold-start drill powers every node of the cluster off",
                                 "drill testing (or a copy of production on kind)")
        found = cluster or get_provider(environment, provider, state_dir(environment.root))
        cycler = power_cycling(found)
        checks = checks or LiveChecks(environment, found)
        with timeline.phase("before: everything Ready") as event:
            before = checks.before()
            event.detail = (f"{len(before.nodes)} nodes, {len(before.flux)} Flux objects Ready; canary "
                            f"{before.canary}")
        with timeline.phase("power off") as event:
            nodes = cycler.stop_nodes()
            event.detail = f"{found.name}: stopped {', '.join(nodes)}"
        with timeline.phase("power on") as event:
            power_on = event.start
            cycler.start_nodes(nodes)
            event.detail = f"{found.name}: started {', '.join(nodes)}"
        for phase, check in zip(READINESS, (checks.api, checks.nodes, checks.workloads, checks.flux,
                                                   checks.openbao, checks.database), strict=True):
            _check(timeline, phase, lambda c=check: c(before))  # type: ignore[misc]
        rto = float(timeline.events[-1].end or 0.0) - power_on
        _check(timeline, "canaries", lambda: checks.canaries(before), waiting=False)
        if rto > environment.rto_budget:
            raise ColdStartFailed(f"the cluster came back in {rto:.0f}s, over the RTO budget of "
                                  f"{environment.rto_budget:.0f}s", "see which phase took longest in the timeline")
        timeline.result = "ok"
    except CattleError as exc:
        not_run = isinstance(exc, PreflightError) and power_on is None and not any(
            e.phase == "power off" for e in timeline.events)
        timeline.result = history.NOT_RUN if not_run else "failed"
        detail = history.stopped_at_preflight(exc.message) if not_run else exc.message.splitlines()[0][:300]
        raise
    except BaseException:
        timeline.result, detail = "failed", "interrupted"
        raise
    finally:
        if checks is not None:
            checks.close()
        console.say(history.save(environment.root, record(timeline, power_on, rto, environment.rto_budget,
                                                          detail)).describe())
        if summary:
            summary.write_text(summary_markdown(timeline, rto, environment.rto_budget))
        print(timeline.render())
        print(f"cold start of {name}: {verdict(timeline, rto, environment.rto_budget)}")
    return timeline
