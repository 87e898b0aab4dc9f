"""The recovery report as data: what `report` gathered (cattle.report.facts) and renders (cattle.report.html).

Frozen dataclasses, the freshness thresholds in one place (THRESHOLDS, documented in docs/report.md), and the
plain-word sentences a reader sees. Every state has a level (ok / warn / bad / none) and a word; colour is only ever
added to the word, never instead of it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from cattle.console import duration

Level = Literal["ok", "warn", "bad", "none"]
_RANK: dict[str, int] = {"none": 0, "ok": 1, "warn": 2, "bad": 3}
HOUR, DAY = 3600.0, 86400.0


def worst(levels: list[Level]) -> Level:
    """The most severe level; 'none' (nothing known) only when nothing is known at all."""
    return max(levels, key=lambda level: _RANK[level], default="none")


def day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def moment(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def age(seconds: float) -> str:
    """An age in the unit a person would use: 42s, 17m, 5.5h, 3 days."""
    if seconds < 0:
        return "in the future (clock skew?)"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < HOUR:
        return f"{seconds / 60:.0f}m"
    if seconds < 2 * DAY:
        return f"{seconds / HOUR:.1f}h"
    return f"{seconds / DAY:.0f} days"


def span(seconds: float) -> str:
    """A threshold as written in the docs: 15m, 26h, 8 days."""
    if seconds % DAY == 0:
        return f"{seconds / DAY:.0f} days"
    if seconds % HOUR == 0:
        return f"{seconds / HOUR:.0f}h"
    return f"{seconds / 60:.0f}m"


@dataclass(frozen=True)
class Threshold:
    """How old something may be: at most `ok` is fresh, at most `warn` is aging, older is stale."""

    key: str
    what: str
    ok: float
    warn: float
    why: str

    def level(self, seconds: float) -> Level:
        return "ok" if seconds <= self.ok else "warn" if seconds <= self.warn else "bad"


# The one place the report's thresholds live (docs/report.md explains each; a test keeps the two in step).
THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("vault", "Newest Vault snapshot", 7 * HOUR, 26 * HOUR,
              "the openbao-backup CronJob runs every 6 h (7 h: one run late); dr.rehearse fails past 26 h"),
    Threshold("base-backup", "Newest database base backup", 26 * HOUR, 50 * HOUR,
              "ScheduledBackup feeds-db-daily runs daily at 03:15; the backup alert fires at 26 h; 50 h: two "
              "runs missed"),
    Threshold("wal", "WAL archive lag", 15 * 60, HOUR,
              "CloudNativePG switches WAL segments every 5 min (archive_timeout) when there is activity; "
              "15 min: three switches missed"),
    Threshold("drill", "Last drill", 8 * DAY, 15 * DAY, "the disaster-recovery workflow drills weekly"),
    Threshold("rehearsal", "Last restore rehearsal", 8 * DAY, 15 * DAY,
              "the disaster-recovery workflow rehearses the real backups weekly"),
)
THRESHOLD = {t.key: t for t in THRESHOLDS}

FRESHNESS_WORDS: dict[str, str] = {"ok": "FRESH", "warn": "AGING", "bad": "STALE", "none": "NO DATA"}
PROOF_WORDS: dict[str, str] = {"ok": "PROVEN", "warn": "CHECK", "bad": "FAILED", "none": "NOT PROVEN"}


@dataclass(frozen=True)
class Phase:
    """One line of a run's timeline, in seconds after the run started."""

    name: str
    start: float
    seconds: float
    status: str
    detail: str
    critical: bool

    @property
    def end(self) -> float:
        return self.start + self.seconds


@dataclass(frozen=True)
class ImagePull:
    image: str
    seconds: float
    with_waiting: float
    size: int | None
    cached: bool


@dataclass(frozen=True)
class Rebuild:
    """One rebuild from nothing: a drill's generation 2, or a bootstrap."""

    env: str
    kind: str
    started: float
    result: str
    rto: float
    budget: float
    phases: tuple[Phase, ...]
    critical_path: tuple[str, ...]
    pulls: tuple[ImagePull, ...] | None  # None: not measured in this run
    overhead: float | None
    detail: str
    source: str

    @property
    def within_budget(self) -> bool:
        return self.result == "ok" and self.rto <= self.budget

    @property
    def level(self) -> Level:
        return "ok" if self.within_budget else "bad"

    @property
    def verdict(self) -> str:
        if self.result != "ok":
            return "FAILED"
        return "WITHIN BUDGET" if self.within_budget else "OVER BUDGET"

    @property
    def pulling(self) -> float | None:
        """Wall time from the first image pull to the last (the timeline's 'image pulls' line)."""
        spans = [p.seconds for p in self.phases if p.name == "image pulls"]
        return spans[0] if spans else None

    @property
    def what(self) -> str:
        return "drill" if self.kind == "drill" else "bootstrap (not a drill)"


@dataclass(frozen=True)
class Freshness:
    """How old the newest backup of one kind is, against its threshold."""

    threshold: Threshold
    level: Level
    age: float | None
    newest: str
    store: str
    problem: str = ""  # why there is no age: the store is unreachable, or holds nothing usable

    @property
    def word(self) -> str:
        if self.problem.startswith("unreachable"):
            return "UNREACHABLE"
        if self.problem.startswith("not checked"):
            return "NOT CHECKED"
        if self.age is None:
            return "NONE"
        return FRESHNESS_WORDS[self.level]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Rehearsal:
    """A restore of the real backups without a cluster: dr.rehearse (kind rehearsal) or db.verify (db-verify)."""

    kind: str
    started: float
    result: str
    detail: str
    checks: tuple[Check, ...]
    source: str

    @property
    def ok(self) -> bool:
        return self.result in ("ready", "ok")

    @property
    def title(self) -> str:
        return "Vault and secrets (dr.rehearse)" if self.kind == "rehearsal" else "Database (db.verify)"

    @property
    def word(self) -> str:
        if self.kind == "rehearsal":
            return "READY" if self.ok else "NOT READY"
        return "RESTORED" if self.ok else "FAILED"

    def summary(self) -> str:
        if self.ok or not self.checks:
            return self.detail
        failed = [c for c in self.checks if not c.ok]
        return "; ".join(f"{c.name}: {c.detail}" for c in failed) or self.detail


@dataclass(frozen=True)
class Key:
    """One age recipient of an environment's SOPS rule, and when it last changed."""

    role: str
    recipient: str
    rotated: float | None
    how: str  # where the date comes from, or why there is none


@dataclass(frozen=True)
class Audited:
    """The latest `cattle audit` of an environment: what a rebuild then would have lost."""

    started: float
    ok: bool
    objects: int  # not reproducible from git, and data with no way back
    hand_edits: int
    git_not_truth: int
    findings: tuple[tuple[str, str, str, str], ...]  # (class, where and field, why, what to do)
    source: str

    def words(self) -> str:
        if self.ok:
            return "nothing"
        def many(n: int, one: str, more: str) -> str:
            return f"{n} {one if n == 1 else more}"

        return (many(self.objects, "object", "objects") + ", " + many(self.hand_edits, "hand edit", "hand edits")
                + (", " + many(self.git_not_truth, "place where git is not what runs",
                               "places where git is not what runs") if self.git_not_truth else ""))


def origin(source: str) -> str:
    """Where a record was read, in words: the history branch CI pushes, or this checkout's own runs."""
    if source.startswith(("cattle-runs:", "origin/cattle-runs:")):
        return "kept on branch cattle-runs"
    if "/.cattle/runs/" in source or source.startswith(".cattle/runs/"):
        return "run on this machine (.cattle/runs)"
    return f"read from {source}" if source else "origin not recorded"


def budget_words(budget: float) -> str:
    minutes, seconds = divmod(round(budget), 60)
    return f"the {minutes}-minute budget" if not seconds else f"the {duration(budget)} budget"


@dataclass(frozen=True)
class EnvReport:
    """Everything the page says about one environment."""

    name: str
    protected: bool
    budget: float
    now: float
    rebuilds: tuple[Rebuild, ...]  # oldest first
    freshness: tuple[Freshness, ...]
    rehearsals: tuple[Rehearsal, ...]  # the latest of each kind
    keys: tuple[Key, ...]
    notes: tuple[str, ...] = ()
    audit: Audited | None = None
    coldstart: Rebuild | None = None  # the latest cold-start drill (dr.coldstart): power off and on, nothing run

    def coldstart_line(self) -> str:
        """`cold start: came back in 1m 35s on 2026-12-04 (budget 15m 0s)`, or its failure, or that none ran."""
        run = self.coldstart
        if run is None:
            return "cold start: never drilled (./scripts/cattle dr.coldstart, on kind)"
        when = time.strftime("%Y-%m-%d", time.gmtime(run.started))
        came = f"came back in {run.rto:.0f}s on {when} (budget {run.budget:.0f}s)"
        if run.result == "ok":
            return f"cold start: {came}"
        if run.rto > 0:  # measured: back, but too slowly or with a canary changed
            return f"cold start: {came}, FAILED: {run.detail or 'failed'}"
        return f"cold start: did NOT come back on {when}: {run.detail or 'failed'}"

    @property
    def latest(self) -> Rebuild | None:
        return self.rebuilds[-1] if self.rebuilds else None

    @property
    def recency(self) -> Level:
        """Is the proof recent? The last drill (or rehearsal, where nothing was rebuilt) against its threshold."""
        if self.latest is not None:
            return THRESHOLD["drill"].level(self.now - self.latest.started)
        if self.rehearsals:
            return THRESHOLD["rehearsal"].level(self.now - max(r.started for r in self.rehearsals))
        return "none"

    @property
    def proof_level(self) -> Level:
        levels: list[Level] = [self.recency]
        if self.latest is not None:
            levels.append(self.latest.level)
        else:
            levels += ["ok" if r.ok else "bad" for r in self.rehearsals]
        return worst(levels)

    @property
    def backup_level(self) -> Level:
        return worst([f.level for f in self.freshness])

    def headline(self) -> str:
        """One or two sentences in plain words: the last rebuild against the budget, or what proves recovery."""
        budget = budget_words(self.budget)
        latest = self.latest
        if latest is not None:
            what = "rebuilt" if latest.kind == "drill" else "rebuilt by a bootstrap (not a drill)"
            if latest.result != "ok":
                noun = "drill" if latest.kind == "drill" else "bootstrap"
                why = f": {latest.detail}" if latest.detail else ""
                text = f"{self.name}: the {noun} on {day(latest.started)} failed after {duration(latest.rto)}{why}."
            elif latest.within_budget:
                text = f"{self.name}: {what} in {duration(latest.rto)} on {day(latest.started)}, within {budget}."
            else:
                over = duration(latest.rto - latest.budget)
                text = f"{self.name}: {what} in {duration(latest.rto)} on {day(latest.started)}, {over} over {budget}."
            if self.recency != "ok":
                text += (f" No newer drill in {age(self.now - latest.started)} (one a week is expected).")
            return text
        if self.protected:
            text = f"{self.name}: never drilled (protected: a drill destroys the cluster)."
        else:
            text = f"{self.name}: no drill recorded."
        if not self.rehearsals:
            return text + " No restore rehearsal recorded either: recovery is not proven."
        parts = [f"{r.title.split(' (')[0].lower()} {r.word}" for r in self.rehearsals]
        newest = max(r.started for r in self.rehearsals)
        if all(r.ok for r in self.rehearsals):
            text += f" Its real backups were restored in a rehearsal on {day(newest)}: {', '.join(parts)}."
        else:  # a rehearsal that failed (or never reached its store) restored nothing: say what stopped it
            failed = next(r for r in self.rehearsals if not r.ok)
            text += (f" A restore rehearsal of its real backups on {day(newest)} did not pass: {', '.join(parts)} "
                     f"({failed.summary()[:160]}).")
        if self.recency != "ok":
            text += f" That was {age(self.now - newest)} ago (one a week is expected)."
        return text


@dataclass(frozen=True)
class Report:
    """The whole page."""

    generated: float
    revision: str
    envs: tuple[EnvReport, ...]
    sources: tuple[str, ...]
    problems: tuple[str, ...]
    runs: int
    thresholds: tuple[Threshold, ...] = THRESHOLDS
