"""Progress output for long steps: timestamped lines on stderr, results on stdout."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_status_shown = False  # a terminal status line is on screen (cleared before the next plain line)
_thread = threading.local()  # .label: the environment a thread works on (several rebuilds at once)


@contextmanager
def labelled(label: str) -> Iterator[None]:
    """Prefix this thread's progress lines with a label, e.g. the environment."""
    previous = getattr(_thread, "label", None)
    _thread.label = label
    try:
        yield
    finally:
        _thread.label = previous


def say(message: str) -> None:
    """One progress line on stderr."""
    global _status_shown
    if _status_shown:
        print("\r\033[K", end="", file=sys.stderr)
        _status_shown = False
    label = getattr(_thread, "label", None)
    prefix = f"[{label}] " if label else ""
    print(f"[{time.strftime('%H:%M:%S')}] {prefix}{message}", file=sys.stderr, flush=True)


def status(message: str) -> None:
    """A heartbeat: on a terminal one line updated in place, in a log a plain line each time."""
    global _status_shown
    if sys.stderr.isatty() and getattr(_thread, "label", None) is None:  # one updating line needs one writer
        print(f"\r\033[K[{time.strftime('%H:%M:%S')}] {message}", end="", file=sys.stderr, flush=True)
        _status_shown = True
    else:
        say(message)


def duration(seconds: float) -> str:
    """4m12s, 15m, 38s."""
    minutes, rest = divmod(round(seconds), 60)
    if not minutes:
        return f"{rest}s"
    return f"{minutes}m{rest:02d}s" if rest else f"{minutes}m"


@contextmanager
def step(message: str) -> Iterator[None]:
    """Announce a step, then say how long it took (or that it failed)."""
    say(f"{message} ...")
    started = time.monotonic()
    try:
        yield
    except KeyboardInterrupt:
        say(f"{message}: interrupted after {time.monotonic() - started:.1f}s")
        raise
    except BaseException:
        say(f"{message}: FAILED after {time.monotonic() - started:.1f}s")
        raise
    say(f"{message}: done in {time.monotonic() - started:.1f}s")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain text table with aligned columns."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)
