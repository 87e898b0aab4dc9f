"""Scratch directories at their edges, under a private temporary directory: a directory without a record just
inside and just outside its hour of grace, an owner alive, gone or replaced by another process with its pid, files
overwritten before removal (seen through a hard link) but never what a symlink points at, and a stop that fails not
stopping the cleanup (issue 32, mutation survivors of cattle/secrets/scratch.py)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cattle.secrets import scratch


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tempfile's directory (and so scratch.base()) under this test's own tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield tmp_path
    scratch.release_all()


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two child processes that wait on their stdin (killed at the end if still there)."""
    children = [subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
                for _ in range(2)]
    yield children
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()


def _unowned(name: str, record: object | None, age: float = 0) -> Path:
    path = scratch.base() / name
    path.mkdir(mode=0o700)
    if record is not None:
        (path / scratch.RECORD).write_text(json.dumps(record))
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_the_base_is_this_users_own_and_entered_by_name_only(private_tmp: Path) -> None:
    path = scratch.base()
    assert path == private_tmp / f"cattle-scratch-{os.getuid()}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o711
    made = scratch.directory("edit")
    assert made.parent == path and made.name.startswith("edit-")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    record = json.loads((made / scratch.RECORD).read_text())
    assert record == {"owner": os.getpid(), "owner_start": scratch._start_time(os.getpid()), "processes": []}


def test_a_symlinked_base_is_refused(private_tmp: Path) -> None:
    elsewhere = private_tmp / "elsewhere"
    elsewhere.mkdir()
    (private_tmp / f"cattle-scratch-{os.getuid()}").symlink_to(elsewhere)
    with pytest.raises(OSError, match="is not this user's own directory"):
        scratch.base()


def test_a_directory_without_a_readable_record_is_left_for_its_hour_of_grace_then_swept(private_tmp: Path) -> None:
    young = _unowned("a-young", None, scratch.UNCLAIMED_GRACE - 60)
    old = _unowned("b-old", None, scratch.UNCLAIMED_GRACE + 60)
    unreadable = _unowned("c-unreadable", None, scratch.UNCLAIMED_GRACE - 60)
    (unreadable / scratch.RECORD).write_text("{half a rec")  # a record that does not parse is no record
    os.utime(unreadable, (time.time() - scratch.UNCLAIMED_GRACE + 60,) * 2)
    listed = _unowned("d-listed", ["not", "a", "mapping"], scratch.UNCLAIMED_GRACE + 60)
    assert scratch.sweep() == [old, listed]
    assert young.exists() and unreadable.exists()


def test_what_is_swept_and_what_is_kept(private_tmp: Path, sleepers: list[subprocess.Popen[bytes]]) -> None:
    sleeper, bystander = sleepers
    owned = scratch.directory("i-owned")  # first: making one sweeps too
    mine = os.getpid()
    started = scratch._start_time(mine)
    assert started is not None and started.isdigit()
    young = _unowned("a-young", None, scratch.UNCLAIMED_GRACE - 60)
    old = _unowned("b-old", None, scratch.UNCLAIMED_GRACE + 60)
    alive = _unowned("c-alive", {"owner": mine, "owner_start": started, "processes": []})
    reused = _unowned("d-reused", {"owner": mine, "owner_start": "1", "processes": []})  # another process, same pid
    gone = _unowned("e-gone", {"owner": 2 ** 22 + 1, "owner_start": started, "processes": []})
    serving = _unowned("f-serving", {"owner": 2 ** 22 + 1, "owner_start": "1", "processes": [
        [sleeper.pid, scratch._start_time(sleeper.pid)]]})
    other_pid = _unowned("g-other", {"owner": 2 ** 22 + 1, "owner_start": "1", "processes": [
        [bystander.pid, "1"]]})  # a pid reused since by another process: never killed
    (scratch.base() / "h-a-file").write_text("not a directory")
    assert scratch.sweep() == [old, reused, gone, serving, other_pid]
    assert young.exists() and alive.exists() and owned.exists() and (scratch.base() / "h-a-file").exists()
    assert sleeper.poll() is not None  # stopped (sweep waited for it): its scratch directory's owner was gone
    assert bystander.poll() is None and scratch._start_time(bystander.pid) is not None


def test_files_are_overwritten_before_removal_but_not_what_a_symlink_points_at(private_tmp: Path) -> None:
    made = scratch.directory("db")
    (made / "sub").mkdir()
    inside = made / "sub" / "seal.key"
    inside.write_bytes(b"secret bytes")
    witness = private_tmp / "witness"
    os.link(inside, witness)  # the same inode, outside: shows what was written before the unlink
    outside = private_tmp / "outside.txt"
    outside.write_bytes(b"keep me")
    (made / "link").symlink_to(outside)

    def failing_stop() -> None:
        raise RuntimeError("already gone")

    stopped: list[str] = []
    scratch.track(made, os.getpid(), failing_stop)
    scratch.track(made, os.getpid(), lambda: stopped.append("second"))
    record = json.loads((made / scratch.RECORD).read_text())
    assert record["processes"] == [[os.getpid(), scratch._start_time(os.getpid())]] * 2
    scratch.release(made)
    assert not made.exists() and stopped == ["second"]
    assert witness.read_bytes() == b"\0" * len(b"secret bytes")
    assert outside.read_bytes() == b"keep me"


def test_a_process_already_gone_is_not_recorded(private_tmp: Path) -> None:
    made = scratch.directory("bao")
    scratch.track(made, 2 ** 22 + 1, lambda: None)
    assert json.loads((made / scratch.RECORD).read_text())["processes"] == []
    assert scratch._start_time(2 ** 22 + 1) is None
