"""The database decision at its edges, on a directory store (no S3, no PostgreSQL): what an empty store is, which
base backup is the newest complete one, a point-in-time target exactly at a backup's end or at the last archived
WAL, sizes barman leaves out, ages in hours; and db.verify's steps before PostgreSQL starts (issue 32, mutation
survivors of cattle/database/backups.py and verify.py)."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar, cast

import pytest

from cattle import tools
from cattle.database import backups as database
from cattle.database import verify as dbverify
from cattle.database.postgres import Postgres
from cattle.errors import DatabaseError, StoreError, ToolError
from cattle.stores import FileStore, S3Store, s3_client
from tests.waiting import FakeClock

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def _info(end: datetime | None, status: str = "DONE", size: str = "100") -> bytes:
    ended = f"end_time={end.isoformat(sep=' ')}\n" if end is not None else ""
    return f"backup_label=None\nstatus={status}\n{ended}version=150010\nsize={size}\n".encode()


def _backup(store: FileStore, generation: int, backup_id: str, end: datetime | None, status: str = "DONE",
            size: str = "100") -> None:
    base = f"feeds-db-g{generation}/base/{backup_id}"
    store.put(f"{base}/data.tar", b"x" * 10)
    store.put(f"{base}/backup.info", _info(end, status, size))


def _wal(store: FileStore, generation: int, at: datetime) -> None:
    name = f"feeds-db-g{generation}/wals/0000000100000000/000000010000000000000001"
    store.put(name, b"wal")
    os.utime(store.directory / name, (at.timestamp(), at.timestamp()))


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(f"file://{tmp_path / 'db'}", tmp_path / "db")


def test_an_empty_store_or_one_with_only_the_marker_starts_empty_only_where_allowed(store: FileStore) -> None:
    assert database.decide(store, "testing", protected=False).mode == "initdb"
    store.put(database.MARKER, b"{}")
    decision = database.decide(store, "testing", protected=False)
    assert (decision.mode, decision.generation, decision.source) == ("initdb", 1, None)
    with pytest.raises(DatabaseError, match="no database backup found"):
        database.decide(store, "production", protected=True)
    assert database.decide(store, "production", protected=True, allow_empty=True).mode == "initdb"


def test_a_store_holding_something_else_is_not_empty_and_names_five_of_it(store: FileStore) -> None:
    for n in range(5):
        store.put(f"other/{n}", b"?")
    with pytest.raises(DatabaseError) as five:
        database.decide(store, "testing", protected=False)
    assert "(other/0, other/1, other/2, other/3, other/4); refusing" in five.value.message
    store.put("other/5", b"?")
    with pytest.raises(DatabaseError) as six:
        database.decide(store, "testing", protected=False)
    assert "(other/0, other/1, other/2, other/3, other/4 (and 1 more)); refusing" in six.value.message
    for n in range(6, 12):
        store.put(f"other/{n}", b"?")
    with pytest.raises(DatabaseError, match=r" \(and 7 more\)\); refusing"):
        database.decide(store, "testing", protected=False)
    assert database.decide(store, "testing", protected=True, allow_empty=True).mode == "initdb"


def test_recovery_reads_the_newest_complete_backup_of_the_newest_generation_into_the_next(store: FileStore) -> None:
    _backup(store, 1, "20261101T000000", T0 - timedelta(days=20))
    _backup(store, 2, "20261120T000000", T0 - timedelta(days=2))
    _backup(store, 2, "20261122T000000", T0 - timedelta(days=1))
    _backup(store, 2, "20261123T000000", None, status="STARTED")
    decision = database.decide(store, "testing", protected=True)
    assert (decision.mode, decision.generation, decision.source) == ("recovery", 3, 2)
    assert decision.backup is not None and decision.backup.backup_id == "20261122T000000"
    assert decision.reason.endswith("; skipped: newer base backup 20261123T000000 of g2: not complete (STARTED)")
    assert decision.variables == {"DB_BOOTSTRAP": "recovery", "DB_GENERATION": "g3", "DB_RECOVERY_GENERATION": "g2"}
    named, skipped = database.recovery_point(store, "testing", database.generations(store), 1)
    assert named.backup_id == "20261101T000000"
    assert skipped == ["newer generation g2: generation g1 was asked for"]


def test_a_generation_without_a_complete_backup_is_an_error_never_an_older_one(store: FileStore) -> None:
    _backup(store, 1, "20261101T000000", T0 - timedelta(days=20))
    _backup(store, 2, "20261120T000000", T0, status="FAILED")
    store.put("feeds-db-g2/base/20261121T000000/data.tar", b"x")  # no backup.info: not finished
    with pytest.raises(DatabaseError) as raised:
        database.decide(store, "testing", protected=True)
    assert ("the newest database generation g2 in" in raised.value.message
            and "(20261120T000000: FAILED, 20261121T000000: MISSING backup.info)" in raised.value.message)
    with pytest.raises(DatabaseError, match=r"no database generation g5 in .* \(there are: g1, g2\)"):
        database.recovery_point(store, "testing", database.generations(store), 5)


def test_a_size_barman_left_out_or_zero_is_what_the_store_holds(store: FileStore) -> None:
    for backup_id, size in (("a", "None"), ("b", "0"), ("c", "7")):
        _backup(store, 1, backup_id, T0, size=size)
    sizes = {b.backup_id: b.size for b in database.listing(store)}
    assert sizes == {"a": 10 + len(_info(T0, size="None")), "b": 10 + len(_info(T0, size="0")), "c": 7}


def test_the_age_of_a_backup_is_in_hours_since_it_ended() -> None:
    backup = database.BaseBackup(1, "x", "DONE", "2026-11-24 03:00:00+00:00", 1)
    assert backup.age(now=T0.timestamp() + 90 * 60) == "1.5h"
    assert backup.age(now=T0.timestamp() + 1000 * 3600) == "1000.0h"  # 3600 s an hour, not 3599 or 3601
    assert database.BaseBackup(1, "x", "DONE", "", 1).age() == "?"


def test_backup_info_keeps_everything_after_the_first_equals_sign() -> None:
    assert database.parse_backup_info("a = b=c\nno separator\n k=\n") == {"a": "b=c", "k": ""}


def test_a_point_in_time_exactly_at_a_backups_end_starts_from_it(store: FileStore) -> None:
    _backup(store, 1, "early", T0)
    _backup(store, 1, "late", T0 + timedelta(hours=2))
    _wal(store, 1, T0 + timedelta(hours=3))
    found = database.generations(store)
    chosen, skipped = database.point_in_time(store, "testing", found, T0 + timedelta(hours=2))
    assert (chosen.backup_id, skipped) == ("late", [])
    chosen, skipped = database.point_in_time(store, "testing", found, T0 + timedelta(hours=2) - timedelta(seconds=1))
    assert chosen.backup_id == "early"
    assert skipped == ["base backup(s) late of g1: they ended after 2026-11-24 04:59:59+00:00"]
    with pytest.raises(DatabaseError, match=r"is before the oldest base backup of generation g1 .* ended "
                                            r"2026-11-24 03:00:00\+00:00"):
        database.point_in_time(store, "testing", found, T0 - timedelta(seconds=1))


def test_a_point_in_time_exactly_at_the_last_archived_wal_is_reachable_and_a_second_later_is_not(
        store: FileStore) -> None:
    _backup(store, 1, "only", T0)
    last = T0 + timedelta(hours=1)
    _wal(store, 1, last)
    found = database.generations(store)
    assert database.point_in_time(store, "testing", found, last)[0].backup_id == "only"
    with pytest.raises(DatabaseError, match=r"the newest WAL file was archived at 2026-11-24 04:00:00\+00:00"):
        database.point_in_time(store, "testing", found, last + timedelta(seconds=1))


def test_a_point_in_time_with_no_archived_wal_is_unreachable(store: FileStore) -> None:
    _backup(store, 1, "only", T0)
    with pytest.raises(DatabaseError, match="archived at never"):
        database.point_in_time(store, "testing", database.generations(store), T0)


def test_recovery_to_a_time_recovers_into_the_next_generation_with_the_time_in_utc(store: FileStore) -> None:
    _backup(store, 1, "only", T0)
    _wal(store, 1, T0 + timedelta(hours=2))
    target = datetime(2026, 11, 24, 4, 30, tzinfo=UTC).astimezone(timezone(timedelta(hours=5)))  # 09:30+05:00
    decision = database.decide_to_time(store, "testing", target, protected=True)
    assert (decision.mode, decision.generation, decision.source) == ("recovery-to-time", 2, 1)
    assert decision.target_time == "2026-11-24T04:30:00.000000Z"
    assert decision.variables["DB_RECOVERY_TARGET_TIME"] == '"2026-11-24T04:30:00.000000Z"'
    empty = FileStore(f"file://{store.directory}-empty", Path(f"{store.directory}-empty"))
    with pytest.raises(DatabaseError, match="asks for a point-in-time recovery"):
        database.decide_to_time(empty, "testing", target, protected=False)


def test_a_target_needs_a_zone() -> None:
    assert database.parse_target(" 2026-12-04 14:01:30Z ") == datetime(2026, 12, 4, 14, 1, 30, tzinfo=UTC)
    with pytest.raises(DatabaseError, match="has no time zone"):
        database.parse_target("2026-12-04 14:01:30")
    with pytest.raises(DatabaseError, match="is not a time"):
        database.parse_target("yesterday")


def test_an_unreadable_store_is_an_error_not_an_empty_one(store: FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(under: str = "") -> list[str]:
        raise StoreError("AccessDenied")

    monkeypatch.setattr(store, "keys", denied)
    with pytest.raises(DatabaseError, match="cannot read the database backup store"):
        database.decide(store, "testing", protected=False, allow_empty=True)


def test_offline_rendering_of_a_protected_env_recovers_the_previous_generation() -> None:
    assert database.validation_variables(False) is None
    assert database.validation_variables(True) == {"DB_BOOTSTRAP": "recovery", "DB_GENERATION": "g2",
                                                   "DB_RECOVERY_GENERATION": "g1"}


def test_the_marker_names_the_current_generation(store: FileStore) -> None:
    database.record(store, database.Decision("initdb", 1, None, None, "new"))
    assert b'"current": "g1"' in store.get(database.MARKER) and b'"recovered_from": null' in store.get(database.MARKER)


# --- db.verify's steps that need no PostgreSQL (cattle/database/verify.py) ---------------------------------------


def test_every_wal_file_is_fetched_and_gunzipped(store: FileStore, tmp_path: Path) -> None:
    store.put("feeds-db-g1/wals/0000000100000000/000000010000000000000001.gz", gzip.compress(b"first"))
    store.put("feeds-db-g1/wals/0000000100000000/000000010000000000000002", b"second")
    store.put("feeds-db-g2/wals/0000000100000000/000000010000000000000009", b"other generation")
    target = tmp_path / "wal"
    assert dbverify.fetch_wal(store, "feeds-db-g1", target) == 2
    assert {p.name: p.read_bytes() for p in target.iterdir()} == {"000000010000000000000001": b"first",
                                                                 "000000010000000000000002": b"second"}


def _tar(path: Path, members: dict[str, bytes]) -> bytes:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path.read_bytes()


def _corrupt(detail: str) -> DatabaseError:
    return DatabaseError(f"corrupt: {detail}")


def test_a_directory_store_backup_is_one_data_archive_and_nothing_else(store: FileStore, tmp_path: Path) -> None:
    base = "feeds-db-g1/base/b1/"
    store.put(base + "backup.info", _info(T0))
    with pytest.raises(DatabaseError, match="found: nothing"):
        dbverify._restore_from_directory(store, base, tmp_path / "data", _corrupt)
    store.put(base + "base.tar", b"one archive, but not the data one")
    with pytest.raises(DatabaseError, match=r"found: base\.tar$"):
        dbverify._restore_from_directory(store, base, tmp_path / "data", _corrupt)
    (store.directory / base / "base.tar").unlink()
    store.put(base + "data.tar.gz", _tar(tmp_path / "data.tar.gz", {"PG_VERSION": b"16\n"}))
    dbverify._restore_from_directory(store, base, tmp_path / "data", _corrupt)
    assert (tmp_path / "data" / "PG_VERSION").read_bytes() == b"16\n"
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    store.put(base + "16384.tar", b"a tablespace")
    with pytest.raises(DatabaseError, match=r"found: 16384\.tar, data\.tar\.gz"):
        dbverify._restore_from_directory(store, base, tmp_path / "again", _corrupt)
    (store.directory / base / "16384.tar").unlink()
    store.put(base + "data.tar.gz", b"not a tar at all")
    with pytest.raises(DatabaseError, match="corrupt: ReadError"):
        dbverify._restore_from_directory(store, base, tmp_path / "third", _corrupt)


def test_the_primarys_recovery_settings_are_read_from_pg_control(tmp_path: Path) -> None:
    bindir, datadir = tmp_path / "bin", tmp_path / "data"
    bindir.mkdir()
    pg = SimpleNamespace(datadir=datadir, bindir=bindir, _as_postgres=[])
    with pytest.raises(DatabaseError, match="global/pg_control is missing"):
        dbverify.primary_settings(cast(Postgres, pg), "b1")
    (datadir / "global").mkdir(parents=True)
    (datadir / "global" / "pg_control").write_bytes(b"control")
    output = ("pg_control version number:            1300\nmax_connections setting:              200\n"
              "max_worker_processes setting:         8\nmax_locks_per_xact setting:           64\n"
              "max_prepared_xacts setting:           unknown\nDatabase block size:                  8192\n")
    tool = bindir / "pg_controldata"
    tool.write_text(f"#!/bin/sh\ncat <<'END'\n{output}END\n")
    tool.chmod(0o755)
    assert dbverify.primary_settings(cast(Postgres, pg), "b1") == (
        "max_connections = 200\nmax_worker_processes = 8\nmax_locks_per_transaction = 64\n")
    tool.write_text(f"#!/bin/sh\ncat <<'END'\n{output}END\necho 'WARNING: Calculated CRC checksum does not match'\n")
    with pytest.raises(DatabaseError, match="global/pg_control does not verify"):
        dbverify.primary_settings(cast(Postgres, pg), "b1")
    tool.write_text("#!/bin/sh\necho 'could not open file' >&2\nexit 1\n")
    with pytest.raises(DatabaseError, match=r"does not verify \(could not open file\)"):
        dbverify.primary_settings(cast(Postgres, pg), "b1")
    tool.write_text(f"#!/bin/sh\necho '{'a' * 100}{'b' * 200}' >&2\nexit 1\n")  # only its last 200 characters
    with pytest.raises(DatabaseError) as raised:
        dbverify.primary_settings(cast(Postgres, pg), "b1")
    assert raised.value.message.endswith(f"does not verify ({'b' * 200})")


def test_db_verify_of_an_empty_store_or_one_that_is_not_a_database_store_refuses(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no complete base backup in"):
        dbverify.verify(f"file://{tmp_path / 'empty'}")
    with pytest.raises(DatabaseError, match="database backups live in S3-compatible object storage or a directory"):
        dbverify._kind(cast(FileStore, SimpleNamespace(url="gs://bucket")))


def test_an_object_nested_deeper_under_a_base_backup_still_names_that_backup(store: FileStore) -> None:
    _backup(store, 1, "b1", T0)
    store.put("feeds-db-g1/base/b2/pg_tblspc/16384.tar", b"only a nested object")
    store.put("feeds-db-g1/base/stray", b"not a backup directory")
    listed = {b.backup_id: b.status for b in database.listing(store)}
    assert listed == {"b1": "DONE", "b2": "MISSING backup.info"}
    chosen, skipped = database.recovery_point(store, "testing", database.generations(store))
    assert chosen.backup_id == "b1" and skipped == ["newer base backup b2 of g1: not complete (MISSING backup.info)"]


class _FakePostgres:
    """A PostgreSQL stand-in for db.verify: records what it is configured with and what the data directory holds
    when it is started; recovery ends after `recovering` polls."""

    made: ClassVar[list[_FakePostgres]] = []

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="fake-pg-"))
        self.datadir, self.sockets, self.port = self.base / "data", self.base / "sockets", 5432
        self.configured = ""
        self.at_start: list[str] = []
        self.queries: list[tuple[str, str]] = []
        self.recovering = 2
        self.removed = False
        _FakePostgres.made.append(self)

    def _own(self, path: Path) -> None:
        pass

    def configure(self, extra: str = "") -> None:
        self.configured = extra

    def start(self) -> None:
        self.at_start = sorted(p.name for p in self.datadir.iterdir())

    def sql(self, query: str, database: str = "postgres") -> str:
        self.queries.append((query, database))
        if query == "SELECT pg_is_in_recovery()":
            self.recovering -= 1
            return "t" if self.recovering > 0 else "f"
        if query.startswith("SELECT string_agg(datname"):
            return "miniflux,postgres"
        return "42"

    def remove(self) -> None:
        shutil.rmtree(self.base)
        self.removed = True


def test_db_verify_of_a_directory_store_restores_without_stale_server_files_and_replays_every_wal(
        store: FileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = "feeds-db-g1/base/b1/"
    store.put(base + "backup.info", _info(T0).replace(b"version=150010", b"version=160004"))
    store.put(base + "data.tar.gz", _tar(tmp_path / "data.tar.gz", {"PG_VERSION": b"16\n", "standby.signal": b"",
                                                                     "postmaster.pid": b"123\n"}))
    store.put("feeds-db-g1/wals/0000000100000000/000000010000000000000001.gz", gzip.compress(b"wal"))
    store.put("feeds-db-g1/wals/0000000100000000/000000010000000000000002", b"wal")
    majors: list[int | None] = []

    def server_bin(major: int | None = None) -> Path:
        majors.append(major)
        return tmp_path / "bin"

    monkeypatch.setattr(dbverify, "server_bin", server_bin)
    monkeypatch.setattr(dbverify, "Postgres", _FakePostgres)
    monkeypatch.setattr(dbverify, "primary_settings", lambda pg, backup_id: "max_connections = 200\n")
    begun: list[bool] = []
    report = dbverify.verify(store.url, "SELECT count(*) FROM feeds", env="testing", begun=lambda: begun.append(True))
    pg = _FakePostgres.made[-1]
    assert pg.at_start == ["PG_VERSION", "recovery.signal"]  # a standby.signal would keep it recovering for ever
    assert pg.configured == (f"restore_command = 'cp {pg.base / 'wal'}/%f %p'\nrecovery_target_action = 'promote'\n"
                             "max_connections = 200\n")
    assert majors == [16] and begun == [True] and pg.removed
    assert (report.generation, report.backup_id, report.wal_files, report.postgres_major) == (1, "b1", 2, 16)
    assert (report.databases, report.query_result) == (["miniflux", "postgres"], "42")
    assert ("SELECT count(*) FROM feeds", "miniflux") in pg.queries
    assert report.notes == ["verified generation g1, base backup b1 (2026-11-24 03:00:00+00:00): the one bootstrap "
                            "would recover from"]


def test_db_verify_to_a_time_replays_up_to_it_and_a_recovery_that_never_ends_fails_at_its_deadline(
        store: FileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = "feeds-db-g1/base/b1/"
    store.put(base + "backup.info", _info(T0))
    store.put(base + "data.tar.gz", _tar(tmp_path / "data.tar.gz", {"PG_VERSION": b"15\n"}))
    _wal(store, 1, T0 + timedelta(hours=2))
    monkeypatch.setattr(dbverify, "server_bin", lambda major=None: tmp_path / "bin")
    monkeypatch.setattr(dbverify, "Postgres", _FakePostgres)
    monkeypatch.setattr(dbverify, "primary_settings", lambda pg, backup_id: "")
    target = T0 + timedelta(hours=1)
    report = dbverify.verify(store.url, env="testing", target=target)
    pg = _FakePostgres.made[-1]
    assert "recovery_target_time = '2026-11-24 04:00:00+00:00'\n" in pg.configured
    assert report.notes[0].startswith("restored generation g1, base backup b1")
    assert report.notes[0].endswith("the newest that ended by 2026-11-24 04:00:00+00:00; WAL replayed up to that time")
    assert report.query_result is None
    clock = FakeClock(start=100.0)
    monkeypatch.setattr(time, "monotonic", clock.monotonic)
    monkeypatch.setattr(time, "sleep", clock.sleep)
    monkeypatch.setattr(_FakePostgres, "sql", lambda self, query, database="postgres": "t")
    with pytest.raises(DatabaseError, match="did not finish within 3s"):
        dbverify.verify(store.url, env="testing", timeout=3)
    assert clock.now == 103.5  # polled every 0.5 s until past the deadline
    assert _FakePostgres.made[-1].removed


def test_a_failed_barman_cloud_restore_is_named_with_the_last_300_characters_of_its_error(
        s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    prefix = f"pg-{os.urandom(4).hex()}"
    store = S3Store(f"s3://backups/{prefix}", "backups", prefix, s3_client(s3_endpoint))
    store.put("feeds-db-g1/base/b1/backup.info", _info(T0))
    monkeypatch.setattr(dbverify, "server_bin", lambda major=None: tmp_path / "bin")
    monkeypatch.setattr(dbverify, "Postgres", _FakePostgres)
    ran: list[list[str]] = []

    def barman(argv: list[object], timeout: float = 0) -> None:
        ran.append([str(a) for a in argv])
        raise ToolError("barman-cloud-restore failed", stderr=f"  {'a' * 100}{'b' * 300}\n")

    monkeypatch.setattr(tools, "run", barman)
    with pytest.raises(DatabaseError) as raised:
        dbverify.verify(store.url, env="testing")
    assert raised.value.message.endswith(f"restoring feeds-db-g1/base/b1/{{}} failed: {'b' * 300}")
    assert ran[0][1:] == ["--endpoint-url", s3_endpoint, f"s3://backups/{prefix}", "feeds-db-g1", "b1",
                          str(_FakePostgres.made[-1].datadir)]
    assert _FakePostgres.made[-1].removed


def test_a_backups_end_in_another_zone_or_without_one_is_compared_in_utc(store: FileStore) -> None:
    store.put("feeds-db-g1/base/east/backup.info", b"status=DONE\nend_time=2026-11-24 05:00:00+02:00\n")  # 03:00 UTC
    store.put("feeds-db-g1/base/naive/backup.info", b"status=DONE\nend_time=2026-11-24 03:40:00\n")  # taken as UTC
    _wal(store, 1, T0 + timedelta(hours=2))
    found = database.generations(store)
    assert database.point_in_time(store, "testing", found, T0 + timedelta(minutes=30))[0].backup_id == "east"
    assert database.point_in_time(store, "testing", found, T0 + timedelta(minutes=40))[0].backup_id == "naive"


def test_the_newest_base_backup_is_chosen_by_time_not_by_the_text_of_its_end(store: FileStore) -> None:
    # "05:00+02:00" is 03:00 UTC and sorts after "04:00:00+00:00" as text: the 04:00 UTC backup is the newest
    store.put("feeds-db-g1/base/east/backup.info", b"status=DONE\nend_time=2026-11-24 05:00:00+02:00\n")
    store.put("feeds-db-g1/base/utc/backup.info", b"status=DONE\nend_time=2026-11-24 04:00:00+00:00\n")
    chosen, skipped = database.recovery_point(store, "testing", database.generations(store))
    assert chosen.backup_id == "utc" and skipped == []


def test_a_complete_backup_without_a_readable_end_is_a_doubt_that_stops_the_choice(store: FileStore) -> None:
    _backup(store, 1, "b1", T0)
    store.put("feeds-db-g1/base/b2/backup.info", b"status=DONE\nend_time=yesterday\n")
    with pytest.raises(DatabaseError, match=r"base backup\(s\) b2 of g1 .* no end_time cattle can read"):
        database.recovery_point(store, "testing", database.generations(store))


def test_only_incomplete_backups_newer_than_the_one_chosen_are_named_as_skipped(store: FileStore) -> None:
    _backup(store, 1, "20261101T000000", T0 - timedelta(days=2), status="FAILED")  # older: not a reason, not named
    _backup(store, 1, "20261102T000000", T0 - timedelta(days=1))
    _backup(store, 1, "20261103T000000", None, status="STARTED")
    chosen, skipped = database.recovery_point(store, "testing", database.generations(store))
    assert chosen.backup_id == "20261102T000000"
    assert skipped == ["newer base backup 20261103T000000 of g1: not complete (STARTED)"]
