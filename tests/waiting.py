"""Waiting in tests without a wall-clock budget: poll until the condition holds. A busy machine only makes a wait
longer; a wait that never ends is stopped by pytest-timeout's per-test limit (pyproject.toml), which names the test.
tests/test_architecture.py keeps deadlines out of the tests."""

from __future__ import annotations

import time
from collections.abc import Callable


def until(condition: Callable[[], bool], poll: float = 0.2) -> None:
    """Return once `condition()` is true; no deadline of its own."""
    while not condition():
        time.sleep(poll)
