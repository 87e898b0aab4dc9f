"""`./scripts/cattle bootstrap --env all`: rebuild every environment at once.

Each environment runs its own bootstrap (its own guards, timeline and errors) in a thread; their progress lines carry
the environment's name, and every 15 s one combined view shows a line per environment (phase, Ready n/m, elapsed of
its budget). One environment's failure does not stop the others; the result fails if any failed.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from cattle import console
from cattle import env as environments
from cattle.bootstrap import reconcile
from cattle.bootstrap.rebuild import Options, run
from cattle.bootstrap.timeline import Timeline
from cattle.console import duration, table
from cattle.errors import CattleError

ALL = "all"
VIEW_EVERY = 15.0


@dataclass
class Watched:
    """One environment's run as the combined view sees it."""

    environment: environments.Environment  # loaded once, handed to its run
    timeline: Timeline
    started: float = field(default_factory=time.monotonic)
    waiter: reconcile.Waiter | None = None
    result: str = "running"
    error: str = ""

    @property
    def env(self) -> str:
        return self.environment.name

    @property
    def budget(self) -> float:
        return self.environment.rto_budget

    def line(self) -> str:
        phase = next((e.phase for e in reversed(self.timeline.events) if not e.phase.startswith("reconcile ")),
                     "starting")
        ready = ""
        if self.waiter is not None:
            done = sum(1 for t in self.waiter.tracked.values() if t.state == "ready")
            ready = f" · Ready {done}/{len(self.waiter.tracked)}"
        elapsed = duration(time.monotonic() - self.started)
        return f"{self.env}: {self.result if self.result != 'running' else phase}{ready} · {elapsed} of " \
               f"{duration(self.budget)} budget"


@dataclass
class FleetResult:
    runs: list[Watched]

    @property
    def ok(self) -> bool:
        return all(w.result == "ok" for w in self.runs)

    def summary(self) -> str:
        rows = [[w.env, w.result, f"{w.timeline.total:.0f}s" if w.timeline.events else "-", duration(w.budget),
                 w.error[:70]] for w in self.runs]
        return table(["env", "result", "RTO", "budget", "error"], rows)


def names(selected: str) -> list[str]:
    """The environments `--env` names: one, or every one for `all`."""
    return environments.environment_names() if selected == ALL else [selected]


def _one(watched: Watched, options: Options) -> None:
    with console.labelled(watched.env):
        try:
            run(watched.environment, options, watched.timeline, on_waiter=lambda w: setattr(watched, "waiter", w))
            watched.result = "ok"
        except CattleError as exc:
            watched.result, watched.error = "failed", exc.message.splitlines()[0]
            console.say(f"FAILED: {exc}")


def run_all(options: Options, selected: list[str] | None = None) -> FleetResult:
    """Rebuild the environments concurrently (a dry run plans them one after another)."""
    chosen = selected or environments.environment_names()
    runs = [Watched(environments.load(name), Timeline(name)) for name in chosen]
    if options.dry_run:
        for watched in runs:
            _one(watched, options)
        return FleetResult(runs)
    stop = threading.Event()

    def view() -> None:
        while not stop.wait(VIEW_EVERY):
            console.say("all environments:\n" + "\n".join(f"    {w.line()}" for w in runs))

    viewer = threading.Thread(target=view, daemon=True)
    viewer.start()
    try:
        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            list(pool.map(lambda w: _one(w, replace(options)), runs))
    finally:
        stop.set()
        viewer.join(5)
    return FleetResult(runs)
