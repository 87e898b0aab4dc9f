"""Where the kind end-to-end test runs, and how long it may take (issue 27, items 2 and 3)."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO
from tests.e2e import test_kind


def _collected(*args: str) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", *args],
                            cwd=REPO, capture_output=True, text=True, check=False)
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_the_test_command_never_collects_the_kind_test_and_naming_it_does() -> None:
    main = _collected()
    assert main and not any(line.startswith(("tests/e2e/", "tests/controlplane/")) for line in main)
    assert _collected("tests/e2e") == ["tests/e2e/test_kind.py::test_bootstrap_testing_on_kind"]


def test_every_e2e_tests_deadline_covers_the_rebuilds_it_runs() -> None:
    tree = ast.parse((REPO / "tests/e2e/test_kind.py").read_text())
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "run" and isinstance(node.func.value, ast.Name)
             and node.func.value.id == "bootstrap"]
    assert len(calls) == test_kind.REBUILDS
    [limit] = [mark.args[0] for mark in test_kind.pytestmark if mark.name == "timeout"]
    assert limit >= test_kind.REBUILDS * test_kind.BUDGET + 600  # and room to create and delete the cluster
    assert limit > 600  # more than the suite's default deadline, which cut it off before
