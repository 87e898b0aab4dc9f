"""The run's timeline: phases with start and end, the RTO, the critical path, and cattle's own overhead.
Kept as data (JSON in .cattle/runs/) and rendered as a table."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cattle import console
from cattle.console import table


@dataclass
class Event:
    """One phase (or one Kustomization's reconcile) of a run."""

    phase: str
    start: float
    end: float | None = None
    status: str = "running"
    detail: str = ""
    waiting: bool = False  # time spent waiting on the cluster rather than working

    @property
    def seconds(self) -> float:
        return (self.end if self.end is not None else time.time()) - self.start


@dataclass
class Timeline:
    """Every event of a run, in order."""

    env: str
    started: float = field(default_factory=time.time)
    events: list[Event] = field(default_factory=list)
    critical_path: list[str] = field(default_factory=list)
    result: str = "running"
    # per image, from pod events (cattle.bootstrap.imagepulls)
    pulls: list[dict[str, Any]] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str, waiting: bool = False) -> Iterator[Event]:
        """Time a phase; it is marked failed if the block raises."""
        event = Event(name, time.time(), waiting=waiting)
        self.events.append(event)
        console.say(f"▶ {name}")
        try:
            yield event
        except BaseException as exc:
            event.end, event.status = time.time(), "failed"
            event.detail = event.detail or str(exc).splitlines()[0][:200]
            console.say(f"✗ {name} failed after {event.seconds:.1f}s")
            raise
        event.end = time.time()
        if event.status == "running":
            event.status = "ok"
        icon = {"ok": "✓", "failed": "✗", "skipped": "-"}.get(event.status, "•")
        console.say(f"{icon} {name} ({event.seconds:.1f}s){': ' + event.detail if event.detail else ''}")

    def record(self, name: str, start: float, end: float, status: str, detail: str = "") -> None:
        self.events.append(Event(name, start, end, status, detail, waiting=True))

    @property
    def total(self) -> float:
        ends = [e.end for e in self.events if e.end is not None]
        return (max(ends) if ends else time.time()) - self.started

    @property
    def waiting_seconds(self) -> float:
        """Wall time inside waiting phases; overlapping phases (a restore during the reconcile) count once."""
        spans = sorted((e.start, e.start + e.seconds) for e in self.events if e.waiting)
        total, covered_to = 0.0, float("-inf")
        for start, end in spans:
            if end > covered_to:
                total += end - max(start, covered_to)
                covered_to = end
        return total

    def as_dict(self) -> dict[str, Any]:
        return {"env": self.env, "started": self.started, "result": self.result, "rto_seconds": round(self.total, 2),
                "toolchain_overhead_seconds": round(self.total - self.waiting_seconds, 2),
                "critical_path": self.critical_path, "image_pulls": self.pulls,
                "events": [{**asdict(e), "seconds": round(e.seconds, 2)} for e in self.events]}

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.started))
        path = directory / f"{self.env}-{stamp}.json"
        path.write_text(json.dumps(self.as_dict(), indent=2))
        return path

    def render(self) -> str:
        rows = [[e.phase, f"{e.start - self.started:7.1f}s", f"{e.seconds:7.1f}s", e.status, e.detail[:70]]
                for e in self.events]
        lines = [table(["phase", "start", "took", "status", "detail"], rows), ""]
        lines.append(f"RTO ({self.env}): {self.total:.1f}s  [{self.result}]")
        if self.critical_path:
            lines.append("critical path: " + " → ".join(self.critical_path))
        pulled = sorted((p for p in self.pulls if not p.get("cached")), key=lambda p: -float(p["with_waiting"]))
        if pulled:
            lines.append("slowest image pulls: " + ", ".join(f"{p['image']} {float(p['seconds']):.1f}s"
                                                            for p in pulled[:5]))
        lines.append(f"toolchain overhead (time not spent waiting on the cluster): "
                     f"{self.total - self.waiting_seconds:.1f}s")
        return "\n".join(lines)

    def mermaid(self) -> str:
        """A mermaid Gantt chart of the phases (for a job summary)."""
        lines = ["gantt", f"  title cattle bootstrap of {self.env}", "  dateFormat X", "  axisFormat %M:%S"]
        for e in self.events:
            start = int(e.start - self.started)
            end = max(start + 1, int((e.end or time.time()) - self.started))
            tag = "crit, " if e.status == "failed" else ""
            lines.append(f"  {e.phase.replace(':', ' ')} : {tag}{start}, {end}")
        return "\n".join(lines)
