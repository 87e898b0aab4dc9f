"""The local PostgreSQL instance at its edges, with the commands it runs recorded instead of run (no PostgreSQL):
the newest major version by number, not by text, a version asked for and one missing named, the private directories
0700 and handed to the postgres user as root only, no TCP port in the configuration, each command's arguments and
time limit, the pid tracked only for a scratch directory, and the log's last 1500 characters (issue 32, boundaries
of cattle/database/postgres.py, which only tests with a real PostgreSQL reached)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from cattle import tools
from cattle.database import postgres
from cattle.errors import DatabaseError
from cattle.secrets import scratch


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """/usr/lib/postgresql as a directory of the test's: majors 9, 13 and 16, and Debian's `common`."""
    root = tmp_path / "usr-lib-postgresql"
    for name in ("9", "13", "16", "common"):
        (root / name / "bin").mkdir(parents=True)
    monkeypatch.setattr(postgres, "Path", lambda p: root if p == "/usr/lib/postgresql" else Path(p))
    return root


def test_the_newest_major_is_chosen_by_number(installed: Path) -> None:
    assert postgres.server_bin() == installed / "16" / "bin"  # by text "9" would win
    assert postgres.server_bin(13) == installed / "13" / "bin"
    assert postgres.server_bin(9) == installed / "9" / "bin"


def test_a_major_not_installed_or_none_at_all_is_named_with_its_package(installed: Path) -> None:
    with pytest.raises(DatabaseError, match="PostgreSQL 15 is not installed here") as raised:
        postgres.server_bin(15)
    assert "apt-get install postgresql-15 " in (raised.value.hint or "")
    shutil.rmtree(installed)
    with pytest.raises(DatabaseError, match="a PostgreSQL server is not installed here") as raised:
        postgres.server_bin()
    assert "apt-get install postgresql (" in (raised.value.hint or "")


class _Recorder:
    def __init__(self) -> None:
        self.runs: list[tuple[list[str], float]] = []
        self.chowned: list[str] = []
        self.out = b""

    def run(self, argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
        self.runs.append(([str(a) for a in argv], timeout))
        return subprocess.CompletedProcess(argv, 0, self.out, b"")


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    recorder = _Recorder()
    monkeypatch.setattr(tools, "run", recorder.run)
    monkeypatch.setattr(shutil, "chown", lambda path, user, group: recorder.chowned.append(f"{path} {user}:{group}"))
    return recorder


def _instance(tmp_path: Path, euid: int, monkeypatch: pytest.MonkeyPatch) -> postgres.Postgres:
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    base = tmp_path / "pg"
    base.mkdir(mode=0o755)
    return postgres.Postgres(tmp_path / "bin", base, 5999)


def test_as_root_every_command_runs_as_postgres_on_directories_it_owns(tmp_path: Path, recorded: _Recorder,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pg = _instance(tmp_path, 0, monkeypatch)
    assert stat.S_IMODE(pg.base.stat().st_mode) == 0o700
    assert stat.S_IMODE(pg.sockets.stat().st_mode) == 0o700
    assert recorded.chowned == [f"{pg.base} postgres:postgres", f"{pg.sockets} postgres:postgres"]
    pg.init()
    assert stat.S_IMODE(pg.datadir.stat().st_mode) == 0o700
    bindir = tmp_path / "bin"
    assert recorded.runs == [(["runuser", "-u", "postgres", "--", f"{bindir}/initdb", "-D", str(pg.datadir), "-U",
                               "postgres", "--auth=trust", "--no-sync"], 120)]


def test_as_another_user_commands_run_as_that_user_and_nothing_is_handed_over(tmp_path: Path, recorded: _Recorder,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pg = _instance(tmp_path, 1000, monkeypatch)
    pg.init()
    assert recorded.chowned == []
    assert recorded.runs[0][0][0] == f"{tmp_path / 'bin'}/initdb"


def test_the_configuration_listens_on_the_private_socket_only(tmp_path: Path, recorded: _Recorder,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pg = _instance(tmp_path, 1000, monkeypatch)
    pg.datadir.mkdir()
    (pg.datadir / "postgresql.auto.conf").write_text("listen_addresses = '*'\n")
    pg.configure("restore_command = 'false'\n")
    conf = (pg.datadir / "postgresql.conf").read_text()
    assert "listen_addresses = ''\nport = 5999\n" in conf
    assert f"unix_socket_directories = '{pg.sockets}'\n" in conf
    assert conf.endswith("log_destination = 'stderr'\nrestore_command = 'false'\n")
    assert (pg.datadir / "postgresql.auto.conf").read_text() == ""
    assert (pg.datadir / "pg_hba.conf").read_text() == "local all all trust\n"


def test_start_waits_its_timeout_and_ten_seconds_more_and_stop_only_a_running_server(
        tmp_path: Path, recorded: _Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    pg = _instance(tmp_path, 1000, monkeypatch)
    pg.datadir.mkdir(mode=0o755)
    tracked: list[object] = []
    monkeypatch.setattr(scratch, "track", lambda *args: tracked.append(args))
    pg.stop()  # no postmaster.pid: nothing runs
    pg.start()
    assert stat.S_IMODE(pg.datadir.stat().st_mode) == 0o700
    (pg.datadir / "postmaster.pid").write_text("4242\n/var/lib/data\n")
    pg.start(timeout=30)
    pg.stop()
    bindir = tmp_path / "bin"
    assert recorded.runs == [
        ([f"{bindir}/pg_ctl", "-D", str(pg.datadir), "-l", str(pg.base / "server.log"), "-w", "-t", "120", "start"],
         130),
        ([f"{bindir}/pg_ctl", "-D", str(pg.datadir), "-l", str(pg.base / "server.log"), "-w", "-t", "30", "start"],
         40),
        ([f"{bindir}/pg_ctl", "-D", str(pg.datadir), "-m", "fast", "-w", "stop"], 60)]
    assert tracked == []  # a directory of the caller's, not a scratch one


def test_a_scratch_instance_tracks_the_servers_pid(recorded: _Recorder, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    tracked: list[tuple[object, ...]] = []
    monkeypatch.setattr(scratch, "track", lambda *args: tracked.append(args))
    pg = postgres.Postgres(tmp_path / "bin", port=5999)
    try:
        assert pg.base.parent == scratch.base()
        pg.datadir.mkdir()
        (pg.datadir / "postmaster.pid").write_text("4242\n/var/lib/data\n")
        pg.start()
        assert tracked == [(pg.base, 4242, pg.stop)]
        (pg.datadir / "postmaster.pid").write_text("\n")  # not a pid: nothing to track
        pg.start()
        assert len(tracked) == 1
    finally:
        (pg.datadir / "postmaster.pid").unlink()
        pg.remove()
    assert not pg.base.exists()


def test_sql_asks_psql_on_the_socket_and_strips_the_answer(tmp_path: Path, recorded: _Recorder,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pg = _instance(tmp_path, 1000, monkeypatch)
    recorded.out = b" 42\n"
    assert pg.sql("select 42", "app") == "42"
    assert recorded.runs == [([f"{tmp_path / 'bin'}/psql", "-h", str(pg.sockets), "-p", "5999", "-U", "postgres",
                               "-d", "app", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", "select 42"], 120)]


def test_the_log_tail_is_its_last_1500_characters_and_remove_wipes_a_callers_directory(
        tmp_path: Path, recorded: _Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    pg = _instance(tmp_path, 1000, monkeypatch)
    assert pg.log_tail() == ""
    (pg.base / "server.log").write_text("a" * 1000 + "b" * 1499 + "c")
    assert pg.log_tail() == "b" * 1499 + "c"
    with pg:
        pass
    assert not pg.base.exists()
    assert recorded.runs == []  # no server ran: nothing stopped
