"""The test command's background tier (cattle.testsuite): its output shown whole after the foreground run, its exit
code kept, and a run left without finishing stopped, not orphaned."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

from cattle.testsuite import Background


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
