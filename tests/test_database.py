"""Database recovery: the initdb/recovery decision against a real S3-compatible server, both rendered modes
against the CNPG schema, and db.verify restoring a real PostgreSQL backup taken in the test."""

from __future__ import annotations

import json
import secrets as random
import shutil
import subprocess
from pathlib import Path

import pytest

from cattle import env, tools
from cattle.database import backups as database
from cattle.database import verify as dbverify
from cattle.database.postgres import Postgres
from cattle.errors import DatabaseError
from cattle.manifests import validate
from cattle.manifests.render import render
from cattle.stores import S3Store, s3_client
from tests.conftest import REPO as REPO_ROOT
from tests.waiting import until

DONE = "backup_label=None\nstatus=DONE\nend_time=2026-11-24 03:15:00+00:00\nversion=150010\nsize=123456\n"


def _store(endpoint: str) -> S3Store:
    prefix = f"pg-{random.token_hex(4)}"
    return S3Store(f"s3://backups/{prefix}", "backups", prefix, s3_client(endpoint))


def test_empty_store_means_initdb(s3_endpoint: str) -> None:
    decision = database.decide(_store(s3_endpoint), "testing", protected=False)
    assert (decision.mode, decision.generation, decision.source) == ("initdb", 1, None)
    assert decision.variables == {"DB_BOOTSTRAP": "initdb", "DB_GENERATION": "g1", "DB_RECOVERY_GENERATION": "none"}


def test_protected_env_with_no_backup_refuses_unless_allowed(s3_endpoint: str) -> None:
    store = _store(s3_endpoint)
    with pytest.raises(DatabaseError, match=r"no database backup found .* refusing to start feeds-db empty"):
        database.decide(store, "production", protected=True)
    assert database.decide(store, "production", protected=True, allow_empty=True).mode == "initdb"


def test_valid_backup_means_recovery_into_the_next_generation(s3_endpoint: str) -> None:
    store = _store(s3_endpoint)
    store.put("feeds-db-g1/base/20261101T031500/backup.info", DONE.encode())
    store.put("feeds-db-g2/base/20261123T031500/backup.info", DONE.replace("11-24", "11-23").encode())
    store.put("feeds-db-g2/base/20261124T031500/backup.info", DONE.encode())
    store.put("feeds-db-g2/wals/0000000100000000/000000010000000000000003.gz", b"wal")
    decision = database.decide(store, "staging", protected=True)
    assert (decision.mode, decision.source, decision.generation) == ("recovery", 2, 3)
    assert decision.backup is not None and decision.backup.backup_id == "20261124T031500"
    assert decision.variables["DB_RECOVERY_GENERATION"] == "g2" and decision.variables["DB_GENERATION"] == "g3"
    database.record(store, decision)
    assert json.loads(store.get(database.MARKER))["current"] == "g3"


@pytest.mark.parametrize("layout", ["started", "no-info", "wal-only"])
def test_partial_backup_is_a_clear_error(s3_endpoint: str, layout: str) -> None:
    store = _store(s3_endpoint)
    store.put("feeds-db-g1/base/20261101T031500/backup.info", DONE.encode())
    if layout == "started":
        store.put("feeds-db-g2/base/20261124T031500/backup.info", DONE.replace("DONE", "STARTED").encode())
    elif layout == "no-info":
        store.put("feeds-db-g2/base/20261124T031500/data.tar.gz", b"partial")
    store.put("feeds-db-g2/wals/0000000100000000/000000010000000000000003.gz", b"wal")
    with pytest.raises(DatabaseError, match=r"newest database generation g2 .* has no complete base backup"):
        database.decide(store, "staging", protected=True)


def test_unreachable_store_is_an_error_not_an_empty_database() -> None:
    store = S3Store("s3://backups/pg", "backups", "pg", s3_client("http://127.0.0.1:1"))
    with pytest.raises(DatabaseError, match="cannot read the database backup store"):
        database.decide(store, "production", protected=True)


@pytest.mark.parametrize("name", ["testing", "staging", "production"])
def test_both_modes_render_and_validate(name: str) -> None:
    environment = env.load(name)
    crds = validate.load_crd_files(validate.vendored_crd_files(environment.root))
    initdb = database.Decision("initdb", 1, None, None, "new").variables  # protected envs need cattle's decision
    to_time = database.Decision("recovery-to-time", 5, 4, None, "to a time", "2026-12-04T14:01:30.000000Z")
    for variables in (initdb, {"DB_BOOTSTRAP": "recovery", "DB_GENERATION": "g5", "DB_RECOVERY_GENERATION": "g4"},
                      to_time.variables):
        report = validate.validate_env(environment, crds, variables)
        assert report.problems == [], validate.format_text([report])
        cluster = next(i.obj for i in render(environment, variables).objects if i.obj["kind"] == "Cluster")
        params = cluster["spec"]["plugins"][0]["parameters"]
        if variables is initdb:
            assert "initdb" in cluster["spec"]["bootstrap"] and params["serverName"] == "feeds-db-g1"
        elif variables["DB_BOOTSTRAP"] == "recovery-to-time":  # issue 31, item 3: bootstrap --to TIME
            assert cluster["spec"]["bootstrap"]["recovery"]["recoveryTarget"] == {
                "targetTime": "2026-12-04T14:01:30.000000Z"}
            assert cluster["spec"]["externalClusters"][0]["plugin"]["parameters"]["serverName"] == "feeds-db-g4"
        else:
            assert cluster["spec"]["bootstrap"] == {"recovery": {"source": "origin", "database": "miniflux",
                                                                 "owner": "miniflux"}}
            origin = cluster["spec"]["externalClusters"][0]["plugin"]["parameters"]
            assert origin["serverName"] == "feeds-db-g4" and params["serverName"] == "feeds-db-g5"


def _needs_postgres() -> None:
    if shutil.which("initdb", path="/usr/lib/postgresql/15/bin") is None and not list(
            Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("needs Debian's PostgreSQL server (./scripts/setup --test installs it)")


def _archiving_primary(source: Postgres) -> Path:
    """Start `source` as a stock primary archiving its WAL into a directory of its own; returns that directory.
    CNPG's default max_connections is 100, and recovery aborts on a server with fewer."""
    archive = source.base / "archive"
    archive.mkdir()
    source._own(archive)
    source.init()
    source.configure(f"wal_level = replica\narchive_mode = on\narchive_command = 'cp %p {archive}/%f'\n"
                     "max_connections = 100\nmax_locks_per_transaction = 128\n")
    source.start()
    return archive


def _base_backup(source: Postgres, s3_endpoint: str, destination: str) -> None:
    """barman-cloud-backup of `source` into the store, as generation g1 of feeds-db."""
    tools.run([dbverify.barman_cloud("barman-cloud-backup"), "--endpoint-url", s3_endpoint, "-z",
               "-h", str(source.sockets), "-p", str(source.port), "-U", "postgres", destination, "feeds-db-g1"],
              timeout=300)


def _ship_wal(source: Postgres, archive: Path, s3_endpoint: str, destination: str) -> None:
    """Once `source` has archived every switched segment, upload the archive with barman-cloud-wal-archive."""
    until(lambda: source.sql("SELECT last_archived_wal IS NOT NULL AND failed_count = 0 "
                             "FROM pg_stat_archiver") == "t")
    for wal in sorted(archive.iterdir()):
        subprocess.run([str(dbverify.barman_cloud("barman-cloud-wal-archive")), "--endpoint-url", s3_endpoint,
                        "-z", destination, "feeds-db-g1", str(wal)], check=True, timeout=120)


@pytest.mark.slow
def test_db_verify_restores_a_real_backup_with_its_wal(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _needs_postgres()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    store = _store(s3_endpoint)
    destination = f"s3://backups/{store.prefix}"
    with Postgres() as source:
        archive = _archiving_primary(source)
        source.sql("CREATE TABLE cattle_canary (id serial PRIMARY KEY, v text NOT NULL)")
        source.sql("INSERT INTO cattle_canary (v) VALUES ('before-backup')")
        _base_backup(source, s3_endpoint, destination)
        source.sql("INSERT INTO cattle_canary (v) VALUES ('after-backup')")
        source.sql("SELECT pg_switch_wal()")
        source.sql("SELECT pg_switch_wal()")
        _ship_wal(source, archive, s3_endpoint, destination)
    [data] = [n for n in store.keys("feeds-db-g1/base/") if "/data.tar" in n]
    real = data.split("/")[2]
    store.put("feeds-db-g1/base/29991231T000000/data.tar", b"an upload that never finished")  # no backup.info
    decision = database.decide(store, "testing", protected=False)
    assert (decision.mode, decision.source, decision.generation) == ("recovery", 1, 2)
    report = dbverify.verify(destination, "SELECT string_agg(v, ',' ORDER BY id) FROM cattle_canary", env="testing")
    assert (report.generation, report.backup_id) == (1, decision.backup.backup_id if decision.backup else None)
    assert report.wal_files >= 2
    assert report.query_result == "before-backup,after-backup"  # the second row only exists in the WAL
    # Fail closed, round two (8): it says which generation and backup, and why it skipped the newer one
    assert report.notes[0].startswith(f"verified generation g1, base backup {real}")
    assert "skipped newer base backup 29991231T000000 of g1: not complete (MISSING backup.info)" in report.notes

    store.put("feeds-db-g2/wals/0000000100000000/000000010000000000000003.gz", b"wal")  # g2 never backed up
    with pytest.raises(DatabaseError) as refused:  # the same refusal as bootstrap's, not a quiet older g1
        dbverify.verify(destination, env="testing")
    with pytest.raises(DatabaseError) as decided:
        database.decide(store, "testing", protected=False)
    assert refused.value.message == decided.value.message
    assert "the newest database generation g2" in refused.value.message
    store.put(data, store.get(data)[:4096])  # a truncated upload
    with pytest.raises(DatabaseError, match=r"is corrupt or unreadable: restoring .*data\.tar"):
        dbverify.verify(destination, generation=1)  # named: an older generation deliberately


def test_a_named_generation_says_which_newer_one_it_skipped(s3_endpoint: str) -> None:
    """Fail closed, round two (8): db.verify --generation 1 with a g2 in the store names the skip."""
    store = _store(s3_endpoint)
    store.put("feeds-db-g1/base/20261101T031500/backup.info", DONE.encode())
    store.put("feeds-db-g2/wals/0000000100000000/000000010000000000000003.gz", b"wal")
    chosen, skipped = database.recovery_point(store, "staging", database.generations(store), generation=1)
    assert (chosen.generation, chosen.backup_id) == (1, "20261101T031500")
    assert skipped == ["newer generation g2: generation g1 was asked for"]
    with pytest.raises(DatabaseError, match="no database generation g3 in"):
        database.recovery_point(store, "staging", database.generations(store), generation=3)


def dropped_table_in_testings_store(s3_endpoint: str, root: Path) -> str:
    """The dropped-table drill's backups copied into testing's own database store (backups.database, a directory
    under the checkout `root`); returns the target time. Needs PostgreSQL."""
    _needs_postgres()
    store, _, target = _dropped_table_drill(s3_endpoint)
    copy = root / ".cattle" / "backups" / "testing" / "postgres"
    for name in store.keys(""):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(store.get(name))
    return target


def _dropped_table_drill(s3_endpoint: str) -> tuple[S3Store, str, str]:
    """A real PostgreSQL backed up with barman-cloud to moto: a row in the base backup, a row before the target
    time, then "someone dropped a table" and a row after it, all archived; returns the store, its URL, the target."""
    store = _store(s3_endpoint)
    destination = f"s3://backups/{store.prefix}"
    with Postgres() as source:
        archive = _archiving_primary(source)
        source.sql("CREATE TABLE feeds (id serial PRIMARY KEY, v text NOT NULL)")
        source.sql("INSERT INTO feeds (v) VALUES ('in-the-base-backup')")
        _base_backup(source, s3_endpoint, destination)
        source.sql("INSERT INTO feeds (v) VALUES ('before-the-target')")
        target = source.sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                            "'YYYY-MM-DD HH24:MI:SS.US') || 'Z'")  # after that commit, before the next one
        source.sql("DROP TABLE feeds")  # "someone dropped a table at 14:02"
        source.sql("CREATE TABLE feeds (id serial PRIMARY KEY, v text NOT NULL)")
        source.sql("INSERT INTO feeds (v) VALUES ('after-the-target')")
        source.sql("SELECT pg_switch_wal()")
        _ship_wal(source, archive, s3_endpoint, destination)
    return store, destination, target


def _cattle_db(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    """A db.* task run as ./scripts/cattle runs it; run records go to the test's repository copy (CATTLE_REPO)."""
    import os
    import sys

    from tests.conftest import REPO

    assert os.environ.get("CATTLE_REPO"), "use repo_copy: db.verify keeps a run record in the repository"
    return subprocess.run([sys.executable, str(REPO / "tasks.py"), *args], capture_output=True, text=True,
                          check=False, timeout=900, env={**os.environ, "AWS_ENDPOINT_URL": endpoint,
                                                         "CATTLE_CWD": os.environ["CATTLE_REPO"]})


@pytest.mark.slow
def test_point_in_time_restore_has_the_rows_before_the_target_and_none_after(
        s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo_copy: Path) -> None:
    """Issue 31, item 3: db.restore --to TIME on the real PostgreSQL drill (barman-cloud, moto): the rows committed
    before the target are there, the rows committed after it are not; a time before the oldest base backup or after
    the archived WAL is refused before anything is restored."""
    from datetime import datetime, timedelta

    _needs_postgres()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    store, destination, target = _dropped_table_drill(s3_endpoint)
    dump = tmp_path / "feeds.sql"
    proc = _cattle_db("db.restore", "--env", "testing", "--store", destination, "--to", target, "--query",
                      "SELECT string_agg(v, ',' ORDER BY id) FROM feeds", "--dump", str(dump), endpoint=s3_endpoint)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "; query: in-the-base-backup,before-the-target\n" in proc.stdout  # not after-the-target, not dropped
    assert "after-the-target" not in dump.read_text() and "before-the-target" in dump.read_text()

    [backup] = database.listing(store)
    ended = datetime.fromisoformat(backup.end_time)
    with pytest.raises(DatabaseError) as early:
        dbverify.verify(destination, env="testing", target=ended - timedelta(hours=1))
    assert early.value.message.startswith(f"testing: {(ended - timedelta(hours=1)).isoformat(sep=' ')} is before the "
                                          f"oldest base backup of generation g1 in {destination}")
    late = database.parse_target("2099-01-01 00:00:00Z")
    with pytest.raises(DatabaseError, match=r"is after the archived WAL of generation g1 .*the newest WAL file was "
                                            r"archived at 20\d\d-"):
        dbverify.verify(destination, env="testing", target=late)
    with pytest.raises(DatabaseError, match="has no time zone"):
        database.parse_target("2026-12-04 14:01:30")


@pytest.mark.slow
def test_every_database_task_reads_a_directory_store_as_it_reads_s3(s3_endpoint: str, tmp_path: Path,
                                                                    repo_copy: Path) -> None:
    """Issue 31, items 2 and 3: db.backups, db.verify and db.restore agree on the stores they accept: a file://
    copy of a real barman-cloud store, in the testing environment's own default store, restores exactly as the S3
    one does (db.verify refused it before); docs/database.md's local block runs as written (TIME put in)."""
    import re
    import shlex

    target = dropped_table_in_testings_store(s3_endpoint, repo_copy)
    text = (REPO_ROOT / "docs" / "database.md").read_text()
    block = re.search(r"<!-- local: db-restore -->\n```bash\n(.*?)```", text, re.S)
    assert block is not None
    said = []
    for line in block.group(1).splitlines():
        argv = shlex.split(line.replace("TIME", target))
        assert argv[0] == "./scripts/cattle"
        proc = _cattle_db(*argv[1:], endpoint=s3_endpoint)
        assert proc.returncode == 0, f"{line}\n{proc.stdout}{proc.stderr}"
        said.append(proc.stdout)
    assert " DONE " in said[0] and "g1" in said[0]
    assert "; query: 1\n" in said[1]  # every archived change replayed: the table as re-created, one row
    assert "; query: 2\n" in said[2]  # as it was before it was dropped: both rows
    assert "before-the-target" in (repo_copy / "feeds.sql").read_text()
