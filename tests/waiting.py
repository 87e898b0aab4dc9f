"""Waiting in tests without a wall-clock budget: poll until the condition holds (`until`), or drive the wait under
test on fake time (`FakeClock`, bounded, so a wait that never ends fails in seconds). A busy machine only makes a wait
longer; a wait that never ends is stopped by pytest-timeout's per-test limit (pyproject.toml), which names the test.
tests/test_architecture.py keeps deadlines out of the tests."""

from __future__ import annotations

import time
from collections.abc import Callable


def until(condition: Callable[[], bool], poll: float = 0.2) -> None:
    """Return once `condition()` is true; no deadline of its own."""
    while not condition():
        time.sleep(poll)


class WaitNeverEnded(AssertionError):
    """A wait driven by a FakeClock went past the clock's bound: it would never have ended."""


class FakeClock:
    """Fake time for a wait under test: nothing really waits, `sleep` (or a fake watch setting `now`) moves it on.

    A wait that never ends would spin on fake time until pytest-timeout's 600 s; this clock counts every time it is
    read or moved (a poll) and fails the test within seconds, with WaitNeverEnded ("wait never ended: N polls / T fake
    seconds"), once either bound is passed. Every wait the tests drive ends far inside both (at most 1202 polls and
    610 fake seconds, measured 2026-12-04 over test_reconcile, test_fluxinstall, test_drill and test_drill_smoke).
    Tripped once, every later poll raises again, so code that swallows one error cannot spin on. `start` is where
    fake time begins."""

    MAX_POLLS = 20_000
    MAX_SECONDS = 21_600.0  # six fake hours

    def __init__(self, start: float = 0.0, max_polls: int | None = None, max_seconds: float | None = None) -> None:
        self._now = start
        self.polls = 0
        self.max_polls = self.MAX_POLLS if max_polls is None else max_polls
        self.max_seconds = self.MAX_SECONDS if max_seconds is None else max_seconds
        self.tripped = False

    def _poll(self) -> None:
        self.polls += 1
        if self.tripped or self.polls > self.max_polls or self._now > self.max_seconds:
            self.tripped = True
            raise WaitNeverEnded(f"wait never ended: {self.polls} polls / {self._now:.0f} fake seconds (bounds: "
                                 f"{self.max_polls} polls, {self.max_seconds:.0f} fake seconds)")

    @property
    def now(self) -> float:
        return self._now

    @now.setter
    def now(self, value: float) -> None:
        self._now = value
        self._poll()

    def monotonic(self) -> float:
        self._poll()
        return self._now

    def sleep(self, seconds: float) -> None:
        self.now = self._now + seconds
