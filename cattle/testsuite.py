"""The project's own test command: a test tier run in the background while another runs in the foreground, its
output kept in a log file and shown, in one piece, once the foreground run has ended."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TextIO

STOP_GRACE = 120.0  # seconds a stopped tier gets to tear its servers down (its conftest turns SIGTERM into Ctrl-C)


class Background:
    """`command` running with its output in `log`; a context manager that stops it (SIGTERM, then SIGKILL after
    STOP_GRACE) when the block is left without `finish()`, so an interrupted test command leaves no servers."""

    def __init__(self, what: str, command: str, log: Path) -> None:
        self.what, self.command, self.log = what, command, log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Background:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(shlex.split(self.command), stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        print(f"{self.what} runs alongside, in the background: {self.command}\n"
              f"  its output goes to {self.log} and is shown here when the foreground run ends", flush=True)
        return self

    def finish(self, out: TextIO = sys.stdout, poll: float = 1.0) -> int:
        """Show the output so far, then follow it until the command ends; its exit code."""
        assert self.process is not None
        print(f"\n--- {self.what} (output from {self.log}) ---", file=out, flush=True)
        with self.log.open(encoding="utf-8", errors="replace") as log:
            while True:
                ended = self.process.poll() is not None
                chunk = log.read()
                if chunk:
                    out.write(chunk)
                    out.flush()
                if ended:
                    return self.process.returncode
                if not chunk:
                    time.sleep(poll)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        print(f"stopping {self.what} (pid {self.process.pid})", file=sys.stderr, flush=True)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
