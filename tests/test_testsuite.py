"""The test command's background tier (cattle.testsuite): its output shown whole after the foreground run, its exit
code kept, and a run left without finishing stopped, not orphaned."""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path
from typing import TextIO

import pytest

from cattle.testsuite import Background
from tests.conftest import REPO


def test_the_background_runs_output_is_shown_whole_and_its_exit_code_kept(tmp_path: Path) -> None:
    script = "import sys, time; print('first', flush=True); time.sleep(1); print('last'); sys.exit(3)"
    shown = io.StringIO()
    with Background("a tier", f"{sys.executable} -c \"{script}\"", tmp_path / "logs" / "tier.log") as run:
        code = run.finish(shown, poll=0.05)
    assert code == 3
    assert shown.getvalue().endswith("first\nlast\n")
    assert (tmp_path / "logs" / "tier.log").read_text() == "first\nlast\n"


def test_a_background_run_left_unfinished_is_stopped(tmp_path: Path) -> None:
    pid = tmp_path / "pid"
    script = f"import os, time; open('{pid}', 'w').write(str(os.getpid())); time.sleep(600)"
    try:
        with Background("a tier", f"{sys.executable} -c \"{script}\"", tmp_path / "tier.log") as run:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert run.process is not None and run.process.returncode is not None  # waited for: it has ended
    if pid.exists():
        try:
            os.kill(int(pid.read_text()), 0)
        except ProcessLookupError:
            pass
        else:
            raise AssertionError("the background run is still alive")


class _Result:
    def __init__(self, exited: int) -> None:
        self.exited = exited

    def __bool__(self) -> bool:  # as invoke's Result: false when the command failed
        return self.exited == 0


@pytest.mark.parametrize("k, main, tier, fails", [
    (None, 0, 0, None),
    (None, 1, 0, "the main suite (exit 1)"),
    (None, 0, 1, "the control plane tier (exit 1)"),
    (None, 0, 5, "the control plane tier (exit 5)"),  # the whole suite collecting nothing in a tier is a failure
    ("loopback", 5, 0, None),  # -k naming tests of one tier only
    ("nothing", 5, 5, "the main suite (exit 5) and the control plane tier (exit 5)"),
])
def test_the_test_command_fails_when_either_tier_fails(monkeypatch: pytest.MonkeyPatch, k: str | None, main: int,
                                                        tier: int, fails: str | None) -> None:
    from invoke.context import Context
    from invoke.exceptions import Exit

    from cattle import testsuite

    sys.path.insert(0, str(REPO))
    import tasks

    ran: list[str] = []

    def run(self: Context, command: str, **kwargs: object) -> _Result:
        ran.append(command)
        return _Result(main if "pytest" in command else 0)

    class Finished(testsuite.Background):
        def __enter__(self) -> Finished:
            ran.append(f"background: {self.command}")
            return self

        def finish(self, out: TextIO = sys.stdout, poll: float = 1.0) -> int:
            return tier

    monkeypatch.setattr(Context, "run", run)
    monkeypatch.setattr(testsuite, "Background", Finished)
    if fails is None:
        tasks.ns["test"](Context(), k=k)
    else:
        with pytest.raises(Exit, match=re.escape(f"pytest failed in {fails}")):
            tasks.ns["test"](Context(), k=k)
    assert next(r for r in ran if "tests/controlplane" in r).startswith("background: ")  # the tier alongside
