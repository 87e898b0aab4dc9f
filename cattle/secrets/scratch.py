"""Throwaway places that hold secrets in the clear, owned by one cleanup.

`vault.verify` and `vault.import` run a throwaway OpenBao with the environment's seal key beside its data,
`db.verify` a throwaway PostgreSQL holding the restored database, `secrets.edit` a decrypted file for the editor.
Each lives in a scratch directory made here: mode 0700 under one base directory of this user
(`$TMPDIR/cattle-scratch-<uid>`: 0711, so that a server run as another user, PostgreSQL's `postgres` under root,
reaches its own directory; nobody can list it), with a record of the run that owns it and the processes serving
from it. When the work is done the owner removes it (`release`); on SIGINT, SIGTERM or SIGHUP the handler installed
here stops every process and removes every directory first, then lets the signal take its usual course. What a
SIGKILL (or a power cut) left behind is swept by the next run that makes a scratch directory (`sweep`): directories
whose owning run is gone are removed after the processes recorded in them are stopped (matched by pid and start
time, so a reused pid is never killed).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from cattle.paths import write_atomic

RECORD = "cattle-scratch.json"
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
UNCLAIMED_GRACE = 3600  # seconds a directory without a record is taken for one being made

_lock = threading.RLock()
_owned: dict[Path, list[Callable[[], None]]] = {}  # directory -> what stops its processes (run before removal)
_previous: dict[int, Any] = {}


def base() -> Path:
    """This user's scratch base directory (0711: entered by name only, never listed by others)."""
    path = Path(tempfile.gettempdir()) / f"cattle-scratch-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    if path.is_symlink() or path.stat().st_uid != os.getuid():
        raise OSError(f"{path} is not this user's own directory: refusing to keep secrets there")
    path.chmod(0o711)
    return path


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a process (field 22 of /proc/PID/stat), None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def _write_record(directory: Path, processes: list[tuple[int, str]]) -> None:
    record = {"owner": os.getpid(), "owner_start": _start_time(os.getpid()), "processes": processes}
    write_atomic(directory / RECORD, json.dumps(record).encode())  # a sweep never reads half a record


def _read_record(directory: Path) -> dict[str, Any]:
    try:
        found = json.loads((directory / RECORD).read_text())
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def directory(prefix: str) -> Path:
    """A new scratch directory (0700) owned by this run; the signal handlers are in place once it exists."""
    sweep()
    _install()
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=base()))
    path.chmod(0o700)
    _write_record(path, [])
    with _lock:
        _owned[path] = []
    return path


def track(path: Path, pid: int, stop: Callable[[], None]) -> None:
    """Record a process serving from a scratch directory (found again by `sweep` after a SIGKILL) and how to stop
    it (called before the directory is removed)."""
    start = _start_time(pid)
    record = _read_record(path)
    processes = [tuple(p) for p in record.get("processes") or []]
    if start is not None:
        processes.append((pid, start))
    _write_record(path, [(int(p), str(s)) for p, s in processes])
    with _lock:
        _owned.setdefault(path, []).append(stop)


def release(path: Path) -> None:
    """Stop what serves from a scratch directory and remove it, overwriting its files first."""
    with _lock:
        stops = _owned.pop(path, [])
    for stop in stops:
        with contextlib.suppress(Exception):  # cleanup goes on: the directory must go
            stop()
    _remove(path)


def _remove(path: Path) -> None:
    for child in sorted(path.rglob("*"), reverse=True) if path.is_dir() else []:
        try:
            if child.is_file() and not child.is_symlink():
                with child.open("r+b") as handle:  # no plaintext left in the freed blocks of a plain file system
                    handle.write(b"\0" * child.stat().st_size)
        except OSError:
            pass
    shutil.rmtree(path, ignore_errors=True)


def release_all() -> None:
    with _lock:
        owned = list(_owned)
    for path in owned:
        release(path)


def _stop_orphan(pid: int, start: str) -> None:
    """Stop a process a dead run left serving (only the very process: same pid and start time)."""
    if _start_time(pid) != start:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except OSError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _start_time(pid) != start:
                return
            time.sleep(0.05)


def sweep() -> list[Path]:
    """Remove the scratch directories of runs that are gone (a SIGKILL, a crash), stopping their processes first;
    returns what was removed."""
    removed = []
    for path in sorted(base().iterdir()):
        if not path.is_dir() or path in _owned:
            continue
        record = _read_record(path)
        owner = record.get("owner")
        if not record and time.time() - path.stat().st_mtime < UNCLAIMED_GRACE:
            continue  # just made by a run that has not written its record yet
        if isinstance(owner, int) and _start_time(owner) is not None and _start_time(owner) == record.get(
                "owner_start"):
            continue  # its run is alive
        for pid, start in record.get("processes") or []:
            _stop_orphan(int(pid), str(start))
        _remove(path)
        removed.append(path)
    return removed


def _handle(signum: int, frame: FrameType | None) -> None:
    release_all()
    previous = _previous.get(signum, signal.SIG_DFL)
    for sig, handler in _previous.items():
        signal.signal(sig, handler)
    _previous.clear()
    if callable(previous):
        previous(signum, frame)
    else:
        signal.raise_signal(signum)


def _install() -> None:
    """The handlers for SIGINT, SIGTERM and SIGHUP (once; in the main thread only, where Python handles signals)."""
    if _previous or threading.current_thread() is not threading.main_thread():
        return
    for sig in SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:  # e.g. SIGHUP under nohup: ignored, so nothing to clean
            _previous[sig] = signal.signal(sig, _handle)
