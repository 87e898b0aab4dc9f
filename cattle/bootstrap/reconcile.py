"""Wait until every Flux Kustomization and HelmRelease of an environment is Ready, printing one line per
state change (waiting on dependsOn / reconciling / Ready / Failed with the controller's message); fail fast on
a terminal failure; time out with what is still pending."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cattle import console
from cattle.console import table
from cattle.errors import KubeApiError, ReconcileFailed, WaitTimeout
from cattle.kube import Kube, condition

KINDS = {"Kustomization": "kustomize.toolkit.fluxcd.io/v1", "HelmRelease": "helm.toolkit.fluxcd.io/v2"}
# Ready=False reasons Flux does not retry its way out of (helm-controller's RetriesExceeded comes with Stalled too).
TERMINAL_REASONS = {"BuildFailed", "ValidationFailed", "DecryptionFailed", "InvalidChartReference",
                    "RetriesExceeded"}
# kustomize-controller reports a manifest the API server refuses as ReconciliationFailed and retries it every
# retryInterval, but the same revision is refused again: these words in its message mean git must change.
REFUSED_BY_API_SERVER = ("dry-run failed (Invalid)", "dry-run failed (BadRequest)",
                         "failed to create typed patch object")
# `flux reconcile`'s annotation: a controller reconciles an object at once when its value changes.
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


class Clock:
    """Time as the waits see it: monotonic for deadlines, wall time for the timeline. Tests inject their own."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = Clock()


@dataclass
class Tracked:
    """What cattle knows about one Flux object while waiting."""

    kind: str
    namespace: str
    name: str
    state: str = "missing"
    message: str = ""
    first_seen: float | None = None
    ready_at: float | None = None
    depends: tuple[tuple[str, str, str], ...] = ()  # its dependsOn, from the live object
    nudged_at: float | None = None  # when cattle last asked the controller to look again

    @property
    def label(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def classify(obj: dict[str, Any]) -> tuple[str, str]:
    """(state, message) of a Flux object from its conditions.

    Conditions only count for the generation the controller has observed. Flux stamps every condition it sets with
    the generation it looked at (`observedGeneration` on the condition), while `status.observedGeneration` moves only
    when a reconcile succeeds: an object that failed or waits on dependsOn keeps -1 there, so the condition's own
    stamp decides (status.observedGeneration where a condition has none). A Ready=True left from an earlier spec is
    not Ready.
    """
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")

    def current(found: dict[str, Any]) -> bool:
        return generation is None or found.get("observedGeneration", observed) == generation

    stalled = condition(obj, "Stalled")
    if stalled and stalled.get("status") == "True" and current(stalled):
        return "failed", str(stalled.get("message", ""))
    ready = condition(obj, "Ready")
    if ready is None:
        return "reconciling", "no status yet"
    if not current(ready):
        seen = ready.get("observedGeneration", observed)
        shown = "no generation" if seen is None or seen == -1 else f"generation {seen}"
        return "reconciling", f"the controller has observed {shown} of {generation} (status is stale)"
    message = str(ready.get("message", ""))
    if ready.get("status") == "True":
        return "ready", message
    if ready.get("reason") == "DependencyNotReady":
        return "waiting", message
    if ready.get("reason") in TERMINAL_REASONS:
        return "failed", f"{ready.get('reason')}: {message}"
    if ready.get("reason") == "ReconciliationFailed" and any(words in message for words in REFUSED_BY_API_SERVER):
        return "failed", f"the API server refuses a manifest: {message}"
    return "reconciling", message


Key = tuple[str, str, str]


class Waiter:
    """Tracks the expected objects against what the cluster reports.

    `on_ready` hooks run once, in the waiting loop, as soon as their object is Ready (e.g. restore OpenBao while
    the layers that need it are still reconciling); a hook that raises ends the wait with its error.
    """

    HEARTBEAT = 15.0  # seconds between progress lines while waiting
    NUDGE_AGAIN = 10.0  # a nudged object still waiting on Ready dependencies is nudged again after this long

    def __init__(self, kube: Kube, expected: list[Key], on_ready: dict[Key, Callable[[], None]] | None = None,
                 clock: Clock = SYSTEM_CLOCK, budget: float | None = None, spent: float = 0.0) -> None:
        self.kube = kube
        self.clock = clock
        self.budget = budget  # the RTO budget shown in the heartbeat (None: the wait's own timeout)
        self.spent = spent  # seconds the run had used before this wait: the budget covers the whole run
        self.tracked = {(k, ns, n): Tracked(k, ns, n) for k, ns, n in expected}
        self.declared = set(self.tracked)  # what git declares: a dependency outside it will never turn Ready
        self.on_ready = dict(on_ready or {})
        self.nudge = True  # ask Flux to look again the moment an object's dependencies are Ready
        self.nudges = 0

    def run_hooks(self) -> None:
        """Run (once) the hook of every object that is Ready now."""
        for key in [k for k in self.on_ready if k in self.tracked and self.tracked[k].state == "ready"]:
            self.on_ready.pop(key)()

    def refresh(self) -> None:
        now = self.clock.time()
        for kind, api_version in KINDS.items():
            try:
                items = self.kube.list(api_version, kind)
            except KubeApiError:
                items = []  # the CRD may not be served yet
            for obj in items:
                meta = obj.get("metadata") or {}
                key = (kind, str(meta.get("namespace")), str(meta.get("name")))
                item = self.tracked.get(key)
                if item is None:
                    item = self.tracked[key] = Tracked(*key)
                self._update(item, obj, now)

    def _update(self, item: Tracked, obj: dict[str, Any], now: float) -> None:
        namespace = str((obj.get("metadata") or {}).get("namespace"))
        item.depends = tuple((item.kind, str(d.get("namespace") or namespace), str(d.get("name")))
                             for d in (obj.get("spec") or {}).get("dependsOn") or [])
        state, message = classify(obj)
        undeclared = [d for d in item.depends if d not in self.declared]
        if state == "waiting" and undeclared and self.declared:
            names = ", ".join(f"{kind} {ns}/{name}" for kind, ns, name in undeclared)
            state, message = "failed", f"{message} (it depends on {names}, which git does not declare)"
        if item.first_seen is None:
            item.first_seen = now
        if state == "ready" and item.ready_at is None:
            item.ready_at = now
        if (state, message) != (item.state, item.message):
            item.state, item.message = state, message
            icon = {"ready": "✓", "failed": "✗", "waiting": "…", "reconciling": "↻"}.get(state, " ")
            shown = {"waiting": "waiting on dependsOn"}.get(state, state)
            console.say(f"  {icon} {item.label}: {shown}{' — ' + message[:160] if message else ''}")

    def nudge_dependents(self) -> None:
        """Annotate every object Flux left waiting on dependsOn whose dependencies are all Ready now, as
        `flux reconcile` does: the controller would otherwise look again only after its dependency retry interval."""
        if not self.nudge:
            return
        now = self.clock.monotonic()
        for item in self.tracked.values():
            if item.state != "waiting" or not item.depends:
                continue
            if not all(key in self.tracked and self.tracked[key].state == "ready" for key in item.depends):
                continue
            if item.nudged_at is not None and now - item.nudged_at < self.NUDGE_AGAIN:
                continue
            item.nudged_at = now
            try:
                self.kube.annotate(KINDS[item.kind], item.kind, item.name, item.namespace,
                                   {REQUESTED_AT: f"{self.clock.time():.6f}"})
                self.nudges += 1
            except KubeApiError as exc:  # only a speed-up: Flux retries on its own interval
                console.say(f"  (could not ask Flux to reconcile {item.label} now: {exc.message})")

    def failures(self) -> list[Tracked]:
        return [t for t in self.tracked.values() if t.state == "failed"]

    def pending(self) -> list[Tracked]:
        return [t for t in self.tracked.values() if t.state != "ready"]

    def heartbeat(self, elapsed: float, timeout: float) -> str:
        """`Ready 9/14 · 4m12s of 15m budget · waiting on: platform-configs (…)`."""
        ready = sum(1 for t in self.tracked.values() if t.state == "ready")
        budget = self.budget if self.budget is not None else timeout
        word = "budget" if self.budget is not None else "timeout"
        pending = [t for t in self.tracked.values() if t.state != "ready"]
        shown = ", ".join(f"{t.name} ({t.message[:40] or t.state})" for t in pending[:3])
        more = f" and {len(pending) - 3} more" if len(pending) > 3 else ""
        return (f"Ready {ready}/{len(self.tracked)} · {console.duration(elapsed)} of {console.duration(budget)} "
                f"{word} · waiting on: {shown}{more}")

    def wait(self, timeout: float, poll: float = 2.0) -> None:
        started = self.clock.monotonic()
        deadline = started + timeout
        last_beat = started
        while True:
            self.refresh()
            self.run_hooks()
            self.nudge_dependents()
            now = self.clock.monotonic()
            if now - last_beat >= self.HEARTBEAT and self.pending():
                elapsed = now - started + (self.spent if self.budget is not None else 0.0)
                console.status(self.heartbeat(elapsed, timeout))
                last_beat = now
            failed = self.failures()
            if failed:
                first = failed[0]
                raise ReconcileFailed(f"{first.label} failed: {first.message}",
                                      f"fix it in git and push; then re-run bootstrap (it resumes). "
                                      f"kubectl -n {first.namespace} describe {first.kind.lower()} {first.name}")
            if not self.pending():
                return
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                listing = "; ".join(f"{t.label}: {t.state} {t.message[:80]}" for t in self.pending())
                raise WaitTimeout(f"not Ready within {timeout:.0f}s: {listing}",
                                  "raise reconcile.timeout in the environment file if this is just slow, or "
                                  "look at the messages above and the controller logs")
            for _, obj in self.kube.watch(KINDS["Kustomization"], "Kustomization", min(poll, remaining)):
                meta = obj.get("metadata") or {}
                known = self.tracked.get(("Kustomization", str(meta.get("namespace")), str(meta.get("name"))))
                if known is None or classify(obj) != (known.state, known.message):
                    break  # a real change: refresh everything (watches replay current objects first)


    def verify(self) -> int:
        """After the wait: every tracked object is still Ready now; returns how many."""
        self.refresh()
        pending = self.pending()
        if pending:
            raise ReconcileFailed(f"{len(pending)} Flux objects are no longer Ready: "
                                  + ", ".join(f"{t.label} ({t.state}: {t.message[:80]})" for t in pending),
                                  "look at them with ./scripts/cattle status; re-run bootstrap once fixed")
        return len(self.tracked)


def status_table(kube: Kube) -> str:
    """The current readiness of every Flux Kustomization and HelmRelease."""
    rows = []
    for kind, api_version in KINDS.items():
        for obj in kube.list(api_version, kind):
            state, message = classify(obj)
            meta = obj["metadata"]
            rows.append([kind, f"{meta.get('namespace')}/{meta.get('name')}", state, message[:80]])
    return table(["kind", "object", "state", "message"], rows) if rows else "no Flux objects found"


def critical_path(tracked: dict[tuple[str, str, str], Tracked],
                  depends: dict[str, list[str]]) -> list[str]:
    """The chain of Kustomizations that decided the total: from the last Ready back through its slowest dependency."""
    ready = {t.name: t.ready_at for t in tracked.values() if t.kind == "Kustomization" and t.ready_at}
    if not ready:
        return []
    current: str | None = max(ready, key=lambda n: ready[n] or 0)
    chain: list[str] = []
    while current is not None and current not in chain:
        chain.append(current)
        options = [d for d in depends.get(current, []) if d in ready]
        current = max(options, key=lambda n: ready[n] or 0) if options else None
    return list(reversed(chain))
