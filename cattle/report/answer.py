"""The boss's question, answered first: can we rebuild everything within the budget today? Yes, or "not proven"
with each cause in one sentence and the one command that fixes it. Each environment's two numbers: time to recover
(the last measured RTO against the budget) and data we would lose (the newest Vault snapshot's age and the WAL
archive lag against their targets), each saying where and when it was measured."""

from __future__ import annotations

from dataclasses import dataclass

from cattle.console import duration
from cattle.report.model import EnvReport, Freshness, Report, age, budget_words, day, origin

CLI = "./scripts/cattle"
RPO_KINDS = ("vault", "wal")  # the two figures of "data we would lose"; base backups are in the table below


@dataclass(frozen=True)
class Cause:
    """Why one environment is not proven, and the one command that fixes it."""

    env: str
    why: str
    fix: str
    measured: bool  # False: nothing was measured here (e.g. the report holds no store credentials)


def _recovery_causes(report: EnvReport) -> list[Cause]:
    name, latest = report.name, report.latest
    drill = f"{CLI} dr.drill --env {name}"
    if latest is None:
        if report.protected:
            return [Cause(name, f"{name} was never rebuilt in a drill (protected: a drill destroys the cluster)",
                          f"{CLI} dr.rehearse --env {name} (its backups), and a drill of staging (the rebuild)", True)]
        return [Cause(name, f"{name} has no drill recorded", drill, True)]
    if latest.result != "ok":
        return [Cause(name, f"the {name} drill on {day(latest.started)} failed after {duration(latest.rto)}"
                      + (f" ({latest.detail[:120]})" if latest.detail else ""), drill, True)]
    if not latest.within_budget:
        return [Cause(name, f"the {name} drill on {day(latest.started)} took {duration(latest.rto)}, "
                      f"{duration(latest.rto - latest.budget)} over {budget_words(latest.budget)}",
                      f"shorten the critical path shown below, then {drill}", True)]
    if report.recency != "ok":
        return [Cause(name, f"the last {name} drill was {age(report.now - latest.started)} ago (one a week is "
                      "expected)", drill, True)]
    return []


_BACKUP_FIX = {"vault": "vault.backup --env {env}", "base-backup": "db.backup --env {env}",
               "wal": "db.backups --env {env} (then the database's WAL archiving)"}
_STORE_READ = {"vault": "vault.snapshots --env {env}", "base-backup": "db.backups --env {env}",
               "wal": "db.backups --env {env}"}


def _backup_causes(report: EnvReport) -> list[Cause]:
    """Stale backups, one cause each; a store that could not be read (or was not), one cause per store."""
    causes: list[Cause] = []
    unread: dict[str, Freshness] = {}
    for fact in report.freshness:
        if fact.age is None:
            unread.setdefault(fact.store, fact)
        elif fact.level != "ok":
            target = f"target ≤ {age(fact.threshold.ok)}"
            why = (f"{report.name}'s WAL archive is {age(fact.age)} behind ({target})" if fact.threshold.key == "wal"
                   else f"{report.name}'s {fact.threshold.what.lower()} is {age(fact.age)} old ({target})")
            causes.append(Cause(report.name, why, f"{CLI} " + _BACKUP_FIX[fact.threshold.key].format(env=report.name),
                                True))
    for store, fact in unread.items():
        read = f"{CLI} " + _STORE_READ[fact.threshold.key].format(env=report.name)
        if fact.word == "NOT CHECKED":
            causes.append(Cause(report.name, f"{report.name}'s backup store {store} was not checked from CI (the "
                                "report job holds no store credentials)", f"{read} with its read-only credentials",
                                False))
        elif "credentials" in fact.problem.lower():
            causes.append(Cause(report.name, f"{report.name}'s backup store {store} could not be read: no "
                                "credentials here", f"set them (README, Environment variables), then {read}", False))
        else:
            causes.append(Cause(report.name, f"{report.name}'s backup store {store}: {fact.problem[:100]}",
                                f"check the store is up and reachable: {read}", True))
    return causes


def _audit_causes(report: EnvReport) -> list[Cause]:
    command = f"{CLI} audit --env {report.name}"
    if report.audit is None:
        return [Cause(report.name, f"nobody has audited {report.name}: what a rebuild would lose is unknown", command,
                      False)]
    if not report.audit.ok:
        return [Cause(report.name, f"a rebuild of {report.name} would lose {report.audit.words()} (audit of "
                      f"{day(report.audit.started)})", command, True)]
    return []


def causes(report: EnvReport) -> list[Cause]:
    """Every reason the environment is not proven, measured problems first."""
    found = _recovery_causes(report) + _backup_causes(report) + _audit_causes(report)
    return sorted(found, key=lambda c: not c.measured)


def question(report: Report) -> str:
    budgets = {e.budget for e in report.envs}
    if len(budgets) != 1:
        return "Can we rebuild everything within each environment's budget today?"
    budget = budgets.pop()
    within = f"{budget / 60:.0f} minutes" if budget % 60 == 0 else duration(budget)
    return f"Can we rebuild everything within {within} today?"


def verdict(report: Report) -> tuple[bool, str, list[Cause]]:
    """(yes?, the answer in one sentence, every cause)."""
    every = [c for e in report.envs for c in causes(e)]
    if not every:
        return True, ("Yes: every environment was rebuilt within its budget in the last week, its backups are fresh, "
                      "and a rebuild now would lose nothing."), []
    first = sorted(every, key=lambda c: not c.measured)[0]
    more = f" (and {len(every) - 1} more below)" if len(every) > 1 else ""
    only = "" if any(c.measured for c in every) else " Nothing measured is wrong: what is missing is a measurement."
    return False, f"Not proven, because {first.why}{more}.{only}", every


def time_to_recover(report: EnvReport) -> str:
    """The last measured RTO against the budget, where and when measured."""
    latest = report.latest
    if latest is None:
        return f"not measured: no rebuild recorded (budget {duration(report.budget)})"
    if latest.result != "ok":
        return (f"not measured: the {latest.what} on {day(latest.started)} failed after {duration(latest.rto)} "
                f"({origin(latest.source)})")
    return (f"{duration(latest.rto)} of {duration(report.budget)} — {latest.what} on {day(latest.started)}, "
            f"{origin(latest.source)}")


def _rpo_part(fact: Freshness, now: float) -> str:
    label = "Vault snapshot" if fact.threshold.key == "vault" else "WAL archive lag"
    if fact.age is None:
        return f"{label}: {fact.word.lower()}"
    return f"{label} {age(fact.age)} (target ≤ {age(fact.threshold.ok)}), read from {fact.store} at {day(now)}"


def data_we_would_lose(report: EnvReport) -> str:
    """RPO: the newest Vault snapshot's age and the WAL archive lag, against their targets."""
    parts = [_rpo_part(f, report.now) for f in report.freshness if f.threshold.key in RPO_KINDS]
    return "; ".join(parts) or "not measured: no backup store configured"


def rebuild_would_lose(report: EnvReport) -> str:
    if report.audit is None:
        return "not audited (./scripts/cattle audit)"
    return f"{report.audit.words()} — audit of {day(report.audit.started)}, {origin(report.audit.source)}"
