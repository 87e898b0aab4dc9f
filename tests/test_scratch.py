"""Fail closed, round two (7): throwaway servers and plaintext files never outlive the run that made them.

Each test runs a real child process (a real `bao server`, a real PostgreSQL, a real `sops` decryption for the
editor), waits until it says it is ready (a line on its stdout: no sleeping on the clock), signals it as an operator
or a closing terminal would, and looks at what is left.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cattle.secrets import scratch
from tests.conftest import REPO


def _alive(pid: int) -> bool:
    return scratch._start_time(pid) is not None  # gone, or a zombie


def _child(code: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, **kwargs)  # type: ignore[call-overload]


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
        child.wait()


BAO = """
    import sys
    from cattle.vault.server import BaoServer
    server = BaoServer("11" * 32).start()
    print(server.directory, server.process.pid, flush=True)
    sys.stdin.read()
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_stops_the_throwaway_openbao_and_wipes_its_directory(
        children: list[subprocess.Popen[str]], signum: int) -> None:
    """vault.verify's and vault.import's server: the restored data and the seal key beside it."""
    child = _child(BAO)
    children.append(child)
    assert child.stdout is not None
    directory, pid = child.stdout.readline().split()
    workdir, bao = Path(directory), int(pid)
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    assert stat.S_IMODE((workdir / "seal.key").stat().st_mode) == 0o600
    assert _alive(bao)
    child.send_signal(signum)
    assert child.wait() != 0
    assert not workdir.exists()
    assert not _alive(bao)


def test_what_a_sigkill_left_is_swept_by_the_next_run(children: list[subprocess.Popen[str]]) -> None:
    child = _child(BAO)
    children.append(child)
    assert child.stdout is not None
    directory, pid = child.stdout.readline().split()
    workdir, bao = Path(directory), int(pid)
    child.kill()
    child.wait()
    assert workdir.exists() and _alive(bao)  # nothing can run on SIGKILL
    assert workdir in scratch.sweep()
    assert not workdir.exists() and not _alive(bao)


def test_a_closing_terminal_during_secrets_edit_leaves_no_plaintext(secrets_repo: Path, tmp_path: Path,
                                                                    children: list[subprocess.Popen[str]]) -> None:
    """SIGHUP to the whole process group (the terminal went away) while the editor has the decrypted file open."""
    editor = tmp_path / "editor"
    editor.write_text('#!/bin/sh\necho "$1"\nexec sleep 600\n')
    editor.chmod(0o755)
    child = _child(f"""
        from pathlib import Path
        from cattle.secrets import files
        files.edit(Path({str(secrets_repo)!r}), Path("secrets/testing/openbao-backup.secret.yaml"), {str(editor)!r})
    """, start_new_session=True)
    children.append(child)
    assert child.stdout is not None
    plaintext = Path(child.stdout.readline().strip())
    assert b"password" in plaintext.read_bytes()  # decrypted, for the editor
    assert stat.S_IMODE(plaintext.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(plaintext.stat().st_mode) == 0o600
    os.killpg(child.pid, signal.SIGHUP)
    assert child.wait() != 0
    assert not plaintext.exists() and not plaintext.parent.exists()


def _needs_postgres() -> None:
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("needs Debian's PostgreSQL server (./scripts/setup --test installs it)")


def test_the_throwaway_postgresql_is_private_and_stopped_by_a_signal(children: list[subprocess.Popen[str]]) -> None:
    """db.verify's server: 0700, no TCP listener, trust only on a socket in its own 0700 directory; SIGTERM stops
    and wipes it."""
    _needs_postgres()
    child = _child("""
        import sys
        from cattle.database.postgres import Postgres
        pg = Postgres()
        pg.init()
        pg.configure()
        pg.start()
        pid = (pg.datadir / "postmaster.pid").read_text().split()[0]
        print(pg.base, pid, pg.port, pg.sql("SELECT 1"), flush=True)
        sys.stdin.read()
    """)
    children.append(child)
    assert child.stdout is not None
    base, pid, port, answer = child.stdout.readline().split()
    workdir, postmaster = Path(base), int(pid)
    assert answer == "1"
    for private in (workdir, workdir / "data", workdir / "sockets"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert (workdir / "data" / "pg_hba.conf").read_text().splitlines() == ["local all all trust"]
    import socket

    with socket.socket() as probe, pytest.raises(OSError):
        probe.connect(("127.0.0.1", int(port)))  # nothing listens on TCP
    child.send_signal(signal.SIGTERM)
    assert child.wait() != 0
    assert not workdir.exists() and not _alive(postmaster)
