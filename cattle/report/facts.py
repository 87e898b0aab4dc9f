"""Gather the report's facts, read once: run records (cattle.dr.history), each environment's backup stores (newest
Vault snapshot, newest database base backup, newest archived WAL) and key custody (cattle.report.custody). The result
is a cattle.report.model.Report; nothing here renders.

A store that cannot be read is a fact of its own ("unreachable: <why>"), never an empty store.
"""

from __future__ import annotations

import calendar
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from cattle import env, tools
from cattle.audit import findings
from cattle.database import backups as database
from cattle.dr import history
from cattle.errors import CattleError
from cattle.report import custody
from cattle.report.model import (
    THRESHOLD,
    Audited,
    Check,
    EnvReport,
    Freshness,
    ImagePull,
    Phase,
    Rebuild,
    Rehearsal,
    Report,
)
from cattle.stores import open_store
from cattle.vault import snapshots


def _float(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def rebuild(record: dict[str, Any], budget: float) -> Rebuild:
    """A timeline record (drill or bootstrap) as the page shows it."""
    started = _float(record["started"])
    critical = tuple(str(name) for name in record.get("critical_path") or [])
    phases = []
    for event in record.get("events") or []:
        name = str(event.get("phase", "?"))
        start = _float(event.get("start"), started) - started
        end = event.get("end")
        seconds = _float(event.get("seconds"), _float(end, started) - started - start)
        phases.append(Phase(name, start, seconds, str(event.get("status", "")), str(event.get("detail", "")),
                            name.startswith("reconcile ") and name.removeprefix("reconcile ") in critical))
    pulls = [ImagePull(str(p.get("image", "?")), _float(p.get("seconds")), _float(p.get("with_waiting")),
                       p.get("size") if isinstance(p.get("size"), int) else None, bool(p.get("cached")))
             for p in record.get("image_pulls") or []]
    detail = str(record.get("detail") or "")
    if record.get("result") != "ok" and not detail:
        failed = [p for p in phases if p.status == "failed"]
        detail = f"{failed[0].name}: {failed[0].detail}" if failed else ""
    overhead = record.get("toolchain_overhead_seconds")
    return Rebuild(str(record["env"]), str(record["kind"]), started, str(record.get("result", "?")),
                   _float(record.get("rto_seconds")), _float(record.get("rto_budget_seconds"), budget),
                   tuple(sorted(phases, key=lambda p: p.start)), critical, tuple(pulls) if pulls else None,
                   _float(overhead) if overhead is not None else None, detail[:300], str(record.get("source", "")))


def rehearsal(record: dict[str, Any]) -> Rehearsal:
    checks = tuple(Check(str(c.get("check", "?")), bool(c.get("ok")), str(c.get("detail", "")))
                   for c in record.get("checks") or [])
    return Rehearsal(str(record["kind"]), _float(record["started"]), str(record.get("result", "?")),
                     str(record.get("detail", "")), checks, str(record.get("source", "")))


def _epoch(text: str, pattern: str | None = None) -> float | None:
    try:
        if pattern:
            return float(calendar.timegm(time.strptime(text, pattern)))
        return datetime.fromisoformat(text).timestamp()  # barman: 2026-11-24 03:15:00.123456+00:00
    except ValueError:
        return None


def _unreachable(exc: CattleError) -> str:
    why = exc.message.splitlines()[0].removeprefix("list: ")
    return "unreachable: " + (why if len(why) <= 200 else why[:199] + "…")


def vault_freshness(environment: env.Environment, now: float) -> Freshness:
    threshold, url = THRESHOLD["vault"], environment.backups.vault_store
    try:
        catalog = snapshots.scan(open_store(url, environment.root), environment.name)
    except CattleError as exc:
        return Freshness(threshold, "bad", None, "", url, _unreachable(exc))
    doubts = f"; {len(catalog.doubts)} object(s) cattle cannot use" if catalog.doubts else ""
    newest = catalog.newest
    created = _epoch(newest.created, "%Y-%m-%dT%H:%M:%SZ") if newest else None
    if newest is None or created is None:
        return Freshness(threshold, "bad", None, "", url, f"no snapshot of {environment.name}{doubts}")
    return Freshness(threshold, threshold.level(now - created), now - created, f"snapshot {newest.id}{doubts}", url)


def database_freshness(environment: env.Environment, now: float) -> tuple[Freshness, Freshness]:
    """The newest complete base backup, and the newest WAL the current (newest) generation archived."""
    base, wal, url = THRESHOLD["base-backup"], THRESHOLD["wal"], environment.backups.database_store
    if not url:
        why = "no database store declared (backups.database)"
        return Freshness(base, "bad", None, "", "", why), Freshness(wal, "bad", None, "", "", why)
    try:
        store = open_store(url, environment.root)
        found = database.generations(store)
        backups = database.listing(store) if found else []
        current = max(found) if found else None
        wal_times = store.times(f"{database.CLUSTER}-g{current}/wals/") if current is not None else {}
    except CattleError as exc:
        why = _unreachable(exc)
        return Freshness(base, "bad", None, "", url, why), Freshness(wal, "bad", None, "", url, why)
    done = [(when, b) for b in backups if b.status == "DONE" and (when := _epoch(b.end_time)) is not None]
    if done:
        when, newest = max(done, key=lambda pair: pair[0])
        note = f" (the current generation is g{current})" if newest.generation != current else ""
        base_fact = Freshness(base, base.level(now - when), now - when,
                              f"g{newest.generation} base backup {newest.backup_id}{note}", url)
    else:
        base_fact = Freshness(base, "bad", None, "", url, "no complete base backup" if found else "no backup")
    if wal_times:
        name, when = max(wal_times.items(), key=lambda item: item[1])
        wal_fact = Freshness(wal, wal.level(now - when), now - when, name, url)
    else:
        wal_fact = Freshness(wal, "bad", None, "", url,
                             f"generation g{current} has archived no WAL" if found else "no WAL archived")
    return base_fact, wal_fact


NOT_CHECKED = "not checked from CI: the report job holds no store credentials (the rehearsal jobs read the stores)"


def unchecked(environment: env.Environment) -> tuple[Freshness, ...]:
    """The freshness rows of stores this report did not read (report --no-check-stores): no level, no age."""
    vault, database_url = environment.backups.vault_store, environment.backups.database_store or ""
    return tuple(Freshness(THRESHOLD[kind], "none", None, "", url, NOT_CHECKED)
                 for kind, url in (("vault", vault), ("base-backup", database_url), ("wal", database_url)))


def env_report(environment: env.Environment, records: tuple[dict[str, Any], ...], runs: int,
               now: float, check_stores: bool = True) -> EnvReport:
    mine = [r for r in records if r["env"] == environment.name]
    refused = [r for r in mine if r.get("result") == history.NOT_RUN]  # stopped at preflight: proves nothing
    mine = [r for r in mine if r.get("result") != history.NOT_RUN]
    timelines = [r for r in mine if r["kind"] in history.TIMELINE_KINDS]
    drills = [r for r in timelines if r["kind"] == "drill"]
    notes = []
    if refused:
        last = refused[-1]
        notes.append(f"{len(refused)} run(s) did not start (not counted as drills or rehearsals); the latest, a "
                     f"{last['kind']} on {time.strftime('%Y-%m-%d', time.gmtime(last['started']))}: "
                     f"{last.get('detail', 'stopped at preflight')}")
    if not drills and timelines:
        notes.append(f"No drill recorded: the runs shown are bootstraps ({len(timelines)}), which do not destroy "
                     "and restore.")
    chosen = (drills or timelines)[-runs:] if runs > 0 else []
    latest: dict[str, dict[str, Any]] = {}
    for record in mine:
        if record["kind"] in ("rehearsal", "db-verify", "audit", "coldstart"):
            latest[record["kind"]] = record  # records are sorted by start time
    freshness = ((vault_freshness(environment, now), *database_freshness(environment, now)) if check_stores
                 else unchecked(environment))
    return EnvReport(environment.name, environment.protected, environment.rto_budget, now,
                     tuple(rebuild(r, environment.rto_budget) for r in chosen), freshness,
                     tuple(rehearsal(latest[k]) for k in ("rehearsal", "db-verify") if k in latest),
                     custody.env_keys(environment.root, environment.name), tuple(notes),
                     audited(latest["audit"]) if "audit" in latest else None,
                     rebuild(latest["coldstart"], environment.rto_budget) if "coldstart" in latest else None)


def audited(record: dict[str, Any]) -> Audited:
    """An audit record (`cattle audit`) as the page shows it."""
    counts = record.get("counts") or {}

    def count(name: str) -> int:
        value = counts.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    rows = tuple((str(f.get("class", "")), f"{f.get('where', '?')} {f.get('field', '')}".strip(), str(f.get("why", "")),
                  str(f.get("todo", ""))) for f in record.get("findings") or [] if isinstance(f, dict))
    return Audited(_float(record["started"]), record.get("result") == "ok",
                   count(findings.NOT_IN_GIT) + count(findings.NO_WAY_BACK), count(findings.HAND_EDIT),
                   count(findings.GIT_NOT_TRUTH), rows, str(record.get("source", "")))


def _revision(root: Path) -> str:
    proc = tools.run(["git", "describe", "--always", "--dirty", "--abbrev=10"], cwd=root, check=False, timeout=30)
    return proc.stdout.decode().strip() if proc.returncode == 0 else "not a git checkout"


def gather(root: Path, names: list[str] | None = None, *, runs: int = 12, now: float | None = None,
           directories: tuple[Path, ...] = (), check_stores: bool = True) -> Report:
    """Everything the page says, for the named environments (default: all); check_stores=False leaves the backup
    stores unread (said so on the page)."""
    moment = time.time() if now is None else now
    loaded = history.load(root, directories)
    environments = [env.load(name, root) for name in (names or env.environment_names(root))]
    return Report(moment, _revision(root),
                  tuple(env_report(e, loaded.records, runs, moment, check_stores) for e in environments),
                  loaded.sources, loaded.problems, runs)
