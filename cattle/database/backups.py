"""Application data across rebuilds: decide `initdb` or `recovery` for the CNPG Cluster before Flux creates it.

Backups go through the Barman Cloud plugin to `<store>/<cluster>-g<N>/` (base backups under `base/<id>/` with a
`backup.info` written last, WAL under `wals/`). Every cluster generation archives to its own serverName: a recovered
cluster reads generation N and writes N+1 (a cluster pointed at a non-empty archive fails with "Expected empty
archive"). cattle records the current generation in `<store>/cattle-generation.json`.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cattle.errors import DatabaseError, StoreError
from cattle.stores import Store

CLUSTER = "feeds-db"
MARKER = "cattle-generation.json"


@dataclass(frozen=True)
class BaseBackup:
    """One base backup as barman describes it in backup.info."""

    generation: int
    backup_id: str
    status: str
    end_time: str
    size: int

    @property
    def server(self) -> str:
        return f"{CLUSTER}-g{self.generation}"

    def age(self, now: float | None = None) -> str:
        """Hours since the backup ended ("?" when backup.info has no end time)."""
        import time
        from datetime import datetime

        try:
            ended = datetime.fromisoformat(self.end_time.strip()).timestamp()
        except ValueError:
            return "?"
        return f"{((time.time() if now is None else now) - ended) / 3600:.1f}h"


@dataclass(frozen=True)
class Decision:
    """How the database of a rebuilt environment starts."""

    mode: str  # initdb | recovery | recovery-to-time (apps/components/database-<mode>)
    generation: int  # the generation the new cluster archives to
    source: int | None  # the generation it recovers from
    backup: BaseBackup | None
    reason: str
    target_time: str | None = None  # recovery-to-time: CNPG's recoveryTarget.targetTime (RFC 3339)

    @property
    def variables(self) -> dict[str, str]:
        """What Flux substitutes (ConfigMap flux-system/cattle-bootstrap)."""
        variables = {"DB_BOOTSTRAP": self.mode, "DB_GENERATION": f"g{self.generation}",
                     "DB_RECOVERY_GENERATION": f"g{self.source}" if self.source else "none"}
        if self.target_time is not None:
            # quoted inside the value: Flux substitutes into YAML text, and a bare 2026-12-04T14:01:30Z would parse
            # as a YAML timestamp (kustomize drops the quotes a manifest puts around ${VAR})
            variables["DB_RECOVERY_TARGET_TIME"] = f'"{self.target_time}"'
        return variables


def validation_variables(protected: bool) -> dict[str, str] | None:
    """The cattle-bootstrap variables to render an env with offline (validate, diff).

    A protected env refuses to build without cattle's decision (apps/components/database-undecided), so it is
    rendered as its rebuilds normally go: recovery from the previous generation.
    """
    return Decision("recovery", 2, 1, None, "offline rendering").variables if protected else None


def parse_backup_info(text: str) -> dict[str, str]:
    """barman's backup.info: key=value lines."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def generations(store: Store) -> dict[int, list[str]]:
    """Every generation found in the store, with its object names."""
    pattern = re.compile(rf"^{re.escape(CLUSTER)}-g(\d+)/(.+)$")
    found: dict[int, list[str]] = {}
    for name in store.keys(f"{CLUSTER}-g"):
        match = pattern.match(name)
        if match:
            found.setdefault(int(match.group(1)), []).append(match.group(2))
    return found


def base_backups(store: Store, generation: int, names: list[str]) -> list[BaseBackup]:
    """The base backups of a generation, complete or not."""
    found: list[BaseBackup] = []
    ids = sorted({n.split("/")[1] for n in names if n.startswith("base/") and n.count("/") >= 2})
    for backup_id in ids:
        info_name = f"{CLUSTER}-g{generation}/base/{backup_id}/backup.info"
        if f"base/{backup_id}/backup.info" not in names:
            found.append(BaseBackup(generation, backup_id, "MISSING backup.info", "", 0))
            continue
        info = parse_backup_info(store.get(info_name).decode(errors="replace"))
        size = info.get("size") or "0"
        if not size.isdigit() or size == "0":  # barman-cloud writes size=None: what the store holds, compressed
            size = str(sum(store.sizes(f"{CLUSTER}-g{generation}/base/{backup_id}/").values()))
        found.append(BaseBackup(generation, backup_id, info.get("status", "UNKNOWN"), info.get("end_time", ""),
                                int(size)))
    return found


def decide(store: Store, env: str, *, protected: bool, allow_empty: bool = False) -> Decision:
    """initdb for an empty store; recovery from the newest complete base backup; an error for anything odd."""
    try:
        found = generations(store)
        listed = store.keys() if not found else []
        everything = [n for n in listed if n != MARKER]  # the marker is cattle's own
    except StoreError as exc:
        raise DatabaseError(f"cannot read the database backup store {store.url}: {exc.message}",
                            "fix access to the store (credentials AWS_*, AWS_ENDPOINT_URL, network); cattle will "
                            "not guess whether a backup exists") from exc
    if not found and everything and not allow_empty:
        shown = ", ".join(everything[:5]) + (f" (and {len(everything) - 5} more)" if len(everything) > 5 else "")
        raise DatabaseError(f"{env}: {store.url} holds no database generation cattle can read, but it is not empty "
                            f"({shown}); refusing to start {CLUSTER} empty over it",
                            "inspect the store (a generation lives under feeds-db-gN/); pass "
                            "--allow-empty-database to start empty anyway (nothing there is deleted)")
    if not found:
        if protected and not allow_empty:
            raise DatabaseError(f"{env}: no database backup found in {store.url}; refusing to start "
                                f"{CLUSTER} empty", "if this really is a brand-new environment, run again "
                                "with --allow-empty-database; otherwise fix the backup store setting")
        return Decision("initdb", 1, None, None, f"no backup in {store.url}: new, empty database")
    chosen, skipped = recovery_point(store, env, found)
    latest = chosen.generation
    why = f"; skipped: {'; '.join(skipped)}" if skipped else ""
    return Decision("recovery", latest + 1, latest, chosen,
                    f"recover generation g{latest} from base backup {chosen.backup_id} ({chosen.end_time}){why}")


def recovery_point(store: Store, env: str, found: dict[int, list[str]],
                   generation: int | None = None) -> tuple[BaseBackup, list[str]]:
    """The base backup a recovery reads, and what newer was skipped and why: the newest complete base backup of the
    newest generation (or of `generation`, when an operator names one). bootstrap's decision and db.verify both
    choose with this. A DatabaseError when that generation has no complete base backup: an older generation is
    never taken in its place unless named."""
    latest = max(found) if generation is None else generation
    if latest not in found:
        raise DatabaseError(f"{env}: no database generation g{latest} in {store.url} (there are: "
                            f"{', '.join(f'g{g}' for g in sorted(found))})",
                            "list them with: ./scripts/cattle db.backups")
    try:
        backups = base_backups(store, latest, found[latest])
    except StoreError as exc:
        raise DatabaseError(f"{env}: cannot read the base backups of generation g{latest} in {store.url}: "
                            f"{exc.message}", "fix access to the store; cattle will not guess") from exc
    complete = [b for b in backups if b.status == "DONE"]
    if not complete:
        states = ", ".join(f"{b.backup_id}: {b.status}" for b in backups) or "no base backup, only WAL"
        which = "the newest database generation" if generation is None else "database generation"
        raise DatabaseError(f"{env}: {which} g{latest} in {store.url} has no complete "
                            f"base backup ({states})", "inspect the bucket; take a backup of the running "
                            "cluster (./scripts/cattle db.backup), or restore an older generation deliberately")
    unknown = [b.backup_id for b in complete if _ended(b) is None]
    if unknown:
        raise DatabaseError(f"{env}: base backup(s) {', '.join(unknown)} of g{latest} in {store.url} are complete but "
                            "their backup.info has no end_time cattle can read: which one is newest is a guess",
                            "inspect those backup.info files; take a new backup (./scripts/cattle db.backup), or "
                            "remove the broken one deliberately")
    chosen = max(complete, key=lambda b: (_ended(b), b.backup_id))  # by time, not text: zones may differ
    skipped = [f"newer generation g{g}: generation g{latest} was asked for" for g in sorted(found) if g > latest]
    skipped += [f"newer base backup {b.backup_id} of g{latest}: not complete ({b.status})" for b in backups
                if b.status != "DONE" and b.backup_id > chosen.backup_id]
    return chosen, skipped


def parse_target(text: str) -> datetime:
    """A point-in-time target as an operator types it ("2026-12-04 14:01:30Z", ISO 8601 with a zone)."""
    try:
        target = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise DatabaseError(f"--to {text!r} is not a time", "give it as '2026-12-04 14:01:30Z' (ISO 8601, with a "
                            "zone: Z or +01:00)") from exc
    if target.tzinfo is None:
        raise DatabaseError(f"--to {text!r} has no time zone: cattle will not guess which 14:02 you mean",
                            f"add one: '{text.strip()}Z' for UTC, or '{text.strip()}+01:00'")
    return target


def _ended(backup: BaseBackup) -> datetime | None:
    try:
        ended = datetime.fromisoformat(backup.end_time.strip())
    except ValueError:
        return None
    return ended if ended.tzinfo is not None else ended.replace(tzinfo=UTC)


def point_in_time(store: Store, env: str, found: dict[int, list[str]], target: datetime,
                  generation: int | None = None) -> tuple[BaseBackup, list[str]]:
    """The base backup a recovery to `target` starts from: in the generation recovery_point chooses (the same
    decision as bootstrap's and db.verify's), the newest complete base backup that ended at or before `target`.
    A DatabaseError when `target` is before that generation's oldest base backup ended, or after its newest
    archived WAL (the changes up to then are not in the store)."""
    newest, skipped = recovery_point(store, env, found, generation)
    chosen_generation = newest.generation
    wanted = target.isoformat(sep=" ")
    complete = [(b, _ended(b)) for b in base_backups(store, chosen_generation, found[chosen_generation])
                if b.status == "DONE"]
    before = [(b, ended) for b, ended in complete if ended is not None and ended <= target]
    if not before:
        oldest = min((ended for _, ended in complete if ended is not None), default=None)
        raise DatabaseError(f"{env}: {wanted} is before the oldest base backup of generation g{chosen_generation} in "
                            f"{store.url} (it ended {oldest.isoformat(sep=' ') if oldest else 'at an unknown time'}): "
                            "no backup holds the database as it was then",
                            "choose a time after that; an older generation: --generation N (db.backups lists them)")
    try:
        archived = store.times(f"{CLUSTER}-g{chosen_generation}/wals/")
    except StoreError as exc:
        raise DatabaseError(f"{env}: cannot read the WAL archive of g{chosen_generation} in {store.url}: "
                            f"{exc.message}", "fix access to the store; cattle will not guess") from exc
    last = max(archived.values(), default=None)
    if last is None or target.timestamp() > last:
        until = datetime.fromtimestamp(last, UTC).isoformat(sep=" ") if last is not None else "never"
        raise DatabaseError(f"{env}: {wanted} is after the archived WAL of generation g{chosen_generation} in "
                            f"{store.url} (the newest WAL file was archived at {until}): the changes up to that time "
                            "are not in the store",
                            "choose a time up to then; for the newest state the store holds, leave --to out")
    chosen = max(before, key=lambda pair: (pair[1], pair[0].backup_id))[0]  # by time: end_time's zones may differ
    later = [b.backup_id for b, ended in complete if ended is not None and ended > target]
    if later:
        skipped.append(f"base backup(s) {', '.join(sorted(later))} of g{chosen_generation}: they ended after {wanted}")
    return chosen, skipped


def decide_to_time(store: Store, env: str, target: datetime, *, protected: bool) -> Decision:
    """bootstrap --to TIME: the same decision as decide() (recovery into the next generation), recovering to
    `target` (point_in_time refuses a time the store cannot reach); an error when there is nothing to recover."""
    decision = decide(store, env, protected=protected)
    if decision.mode != "recovery" or decision.source is None:
        raise DatabaseError(f"{env}: --to {target.isoformat(sep=' ')} asks for a point-in-time recovery, but "
                            f"{decision.reason}", "leave --to out for a new, empty database")
    backup, _ = point_in_time(store, env, generations(store), target, decision.source)
    stamp = target.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return Decision("recovery-to-time", decision.generation, decision.source, backup,
                    f"{decision.reason}; to {stamp} (base backup {backup.backup_id}, then WAL up to that time)",
                    stamp)


def record(store: Store, decision: Decision) -> None:
    """Remember which generation is current (for people reading the bucket, and for db.backups)."""
    body: dict[str, Any] = {"current": f"g{decision.generation}", "mode": decision.mode,
                            "recovered_from": f"g{decision.source}" if decision.source else None,
                            "backup": asdict(decision.backup) if decision.backup else None,
                            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    store.put(MARKER, json.dumps(body, indent=2).encode())


def listing(store: Store) -> list[BaseBackup]:
    """Every base backup of every generation, oldest first."""
    result: list[BaseBackup] = []
    for generation, names in sorted(generations(store).items()):
        result += base_backups(store, generation, names)
    return result
