"""`./scripts/cattle db.verify`: restore the newest base backup plus its WAL from the backup store into a throwaway
PostgreSQL on 127.0.0.1, let it replay to the end of the archive, and run a canary query. No cluster needed.

Uses the Barman Cloud tools (the same barman that the CNPG plugin runs) to fetch the base backup; the WAL files are
fetched beforehand so the server's restore_command is a plain copy."""

from __future__ import annotations

import gzip
import os
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cattle import tools
from cattle.database import backups as database
from cattle.database.postgres import Postgres, server_bin
from cattle.errors import DatabaseError, ToolError
from cattle.stores import FileStore, S3Store, Store, open_store


@dataclass(frozen=True)
class VerifyReport:
    generation: int
    backup_id: str
    wal_files: int
    seconds: float
    databases: list[str]
    query_result: str | None = None
    postgres_major: int = 0
    notes: list[str] = field(default_factory=list)


def barman_cloud(name: str) -> Path:
    """A Barman Cloud tool from the venv (installed by ./scripts/setup)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise DatabaseError(f"{name} is not installed", "run ./scripts/setup (it installs barman's cloud tools)")
    return path


def _kind(store: Store) -> Store:
    """The database stores every task reads: S3-compatible (barman-cloud restores) and file:// directories (a
    copy of the same layout; cattle unpacks the base backup itself)."""
    if not isinstance(store, S3Store | FileStore):
        raise DatabaseError(f"{store.url}: database backups live in S3-compatible object storage or a directory",
                            "point backups.database (or CATTLE_DB_STORE) at s3://BUCKET/PREFIX or file://DIR")
    return store


def _restore_from_directory(store: Store, base: str, datadir: Path, corrupt: Callable[[str], DatabaseError]) -> None:
    """What barman-cloud-restore does for an S3 store, for a directory: unpack the base backup's data.tar[.gz|.bz2|
    .xz] into the data directory (a backup with tablespaces is refused: their paths belong to the old server)."""
    assert isinstance(store, FileStore)
    names = [n for n in store.keys(base) if not n.endswith("backup.info")]
    data = [n for n in names if Path(n).name in ("data.tar", "data.tar.gz", "data.tar.bz2", "data.tar.xz")]
    if len(data) != 1 or len(names) != 1:
        raise corrupt(f"expected one data.tar[.gz|.bz2|.xz] and no tablespace archives, found: "
                      f"{', '.join(Path(n).name for n in names) or 'nothing'}")
    datadir.mkdir(mode=0o700, parents=True, exist_ok=True)
    datadir.chmod(0o700)
    try:
        with tarfile.open(store.directory / data[0], mode="r:*") as archive:
            archive.extractall(datadir, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise corrupt(f"{exc.__class__.__name__}: {exc}") from exc


def _endpoint_args() -> list[str]:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    return ["--endpoint-url", endpoint] if endpoint else []


def fetch_wal(store: Store, server: str, target: Path) -> int:
    """Download (and gunzip) every WAL file the generation archived."""
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for name in store.keys(f"{server}/wals/"):
        data = store.get(name)
        base = Path(name).name
        if base.endswith(".gz"):
            data, base = gzip.decompress(data), base[:-3]
        (target / base).write_bytes(data)
        count += 1
    return count


# Settings a server replaying WAL must have at least as high as the primary had (PostgreSQL aborts recovery with
# "insufficient parameter settings" otherwise); pg_controldata prints the primary's values from pg_control.
RECOVERY_MINIMUMS = {
    "max_connections setting": "max_connections",
    "max_worker_processes setting": "max_worker_processes",
    "max_wal_senders setting": "max_wal_senders",
    "max_prepared_xacts setting": "max_prepared_transactions",
    "max_locks_per_xact setting": "max_locks_per_transaction",
}


def primary_settings(pg: Postgres, backup_id: str) -> str:
    """postgresql.conf lines that match the primary's recovery-relevant settings, read from the backup's
    pg_control; a missing or damaged pg_control means the base backup is corrupt."""
    control = pg.datadir / "global" / "pg_control"
    if not control.is_file():
        raise DatabaseError(f"base backup {backup_id} is corrupt: global/pg_control is missing from what it "
                            "restored", "use an older base backup (db.verify --generation N) and take a new one")
    proc = tools.run([*pg._as_postgres, str(pg.bindir / "pg_controldata"), "-D", str(pg.datadir)], timeout=60,
                     check=False)
    text = proc.stdout.decode(errors="replace")
    if proc.returncode != 0 or "CRC" in text or "CRC" in proc.stderr.decode(errors="replace"):
        raise DatabaseError(f"base backup {backup_id} is corrupt: global/pg_control does not verify "
                            f"({(proc.stderr or proc.stdout).decode(errors='replace').strip()[-200:]})",
                            "use an older base backup (db.verify --generation N) and take a new one")
    lines = []
    for line in text.splitlines():
        label, _, value = line.partition(":")
        setting = RECOVERY_MINIMUMS.get(label.strip())
        if setting and value.strip().isdigit():
            lines.append(f"{setting} = {value.strip()}\n")
    return "".join(lines)


def verify(store_url: str, query: str | None = None, generation: int | None = None,
           root: Path | None = None, timeout: float = 180, env: str = "",
           begun: Callable[[], None] | None = None, target: datetime | None = None,
           dump: Path | None = None) -> VerifyReport:
    """Restore the base backup a rebuild would recover from (the same choice as bootstrap's decision,
    database.recovery_point), or the newest complete one of `generation`; the notes say which and what newer was
    skipped and why. `begun()` is called once the backup is chosen: what fails before it is a preflight refusal.

    `target`: a point-in-time restore (db.restore --to): the newest base backup that ended by then, WAL replayed up
    to that time and no further (database.point_in_time refuses a time the store cannot reach). `dump`: write a
    pg_dump of the restored application database there."""
    started = time.monotonic()
    store = _kind(open_store(store_url, root))
    found = database.generations(store)
    if not found:
        raise DatabaseError(f"no complete base backup in {store.url}",
                            "take one: ./scripts/cattle db.backup --env E (or wait for the ScheduledBackup)")
    if target is None:
        backup, skipped = database.recovery_point(store, env or store.url, found, generation)
        why = "the one bootstrap would recover from" if generation is None else "the generation asked for"
    else:
        backup, skipped = database.point_in_time(store, env or store.url, found, target, generation)
        why = f"the newest that ended by {target.isoformat(sep=' ')}; WAL replayed up to that time"
    notes = [f"{'verified' if target is None else 'restored'} generation g{backup.generation}, base backup "
             f"{backup.backup_id} ({backup.end_time}): {why}"]
    notes += [f"skipped {why}" for why in skipped]
    if begun is not None:
        begun()
    info = database.parse_backup_info(
        store.get(f"{backup.server}/base/{backup.backup_id}/backup.info").decode(errors="replace"))
    major = int(info.get("version", "0")) // 10000
    pg = Postgres(bindir=server_bin(major or None))
    try:
        base = f"{backup.server}/base/{backup.backup_id}/"
        def corrupt(detail: str) -> DatabaseError:
            files = ", ".join(n[len(base):] for n in store.keys(base) if not n.endswith("backup.info"))
            return DatabaseError(f"base backup {backup.backup_id} in {store.url} is corrupt or unreadable: "
                                 f"restoring {base}{{{files}}} failed: {detail}",
                                 "use an older base backup (db.verify --generation N) and take a new one")

        if isinstance(store, S3Store):
            destination = f"s3://{store.bucket}/{store.prefix}" if store.prefix else f"s3://{store.bucket}"
            try:
                tools.run([barman_cloud("barman-cloud-restore"), *_endpoint_args(), destination, backup.server,
                           backup.backup_id, str(pg.datadir)], timeout=900)
            except ToolError as exc:
                raise corrupt(exc.stderr.strip()[-300:] or exc.message) from exc
        else:
            _restore_from_directory(store, base, pg.datadir, corrupt)
            pg._own(pg.datadir)  # the server's own user reads it (barman-cloud-restore keeps the archive's owners)
        try:
            settings = primary_settings(pg, backup.backup_id)
        except DatabaseError as exc:  # a truncated archive can restore "successfully" without pg_control
            raise corrupt(exc.message.split(" is corrupt: ", 1)[-1]) from exc
        wal_dir = pg.base / "wal"
        wal_files = fetch_wal(store, backup.server, wal_dir)
        until = f"recovery_target_time = '{target.isoformat(sep=' ')}'\n" if target is not None else ""
        pg.configure(f"restore_command = 'cp {wal_dir}/%f %p'\nrecovery_target_action = 'promote'\n{until}{settings}")
        (pg.datadir / "recovery.signal").write_text("")
        for stale in ("postmaster.pid", "standby.signal"):
            (pg.datadir / stale).unlink(missing_ok=True)
        pg._own(pg.base)
        try:
            pg.start()
        except Exception as exc:
            raise DatabaseError(f"the restored backup {backup.backup_id} did not start: {pg.log_tail()}") from exc
        deadline = time.monotonic() + timeout
        while pg.sql("SELECT pg_is_in_recovery()") == "t":
            if time.monotonic() > deadline:
                raise DatabaseError(f"recovery of {backup.backup_id} did not finish within {timeout:.0f}s")
            time.sleep(0.5)
        databases = pg.sql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database "
                           "WHERE NOT datistemplate").split(",")
        result = None
        target_db = "miniflux" if "miniflux" in databases else "postgres"
        if query:
            result = pg.sql(query, target_db)
        if dump is not None:
            dumped = pg.run([str(pg.bindir / "pg_dump"), "-h", str(pg.sockets), "-p", str(pg.port), "-U", "postgres",
                             "-d", target_db], timeout=900).stdout
            dump.write_bytes(dumped)
            notes.append(f"wrote a pg_dump of database {target_db} to {dump} ({len(dumped)} bytes)")
        return VerifyReport(backup.generation, backup.backup_id, wal_files, time.monotonic() - started, databases,
                            result, major, notes)
    finally:
        pg.remove()
