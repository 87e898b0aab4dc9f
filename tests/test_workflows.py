"""The GitHub workflows are valid, pin every action by SHA, and only call tasks that exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yaml"))


def test_there_are_two_workflows() -> None:
    assert [p.name for p in WORKFLOWS] == ["disaster-recovery.yaml", "validate.yaml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_schema(path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_pinned_and_permissions_least(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert doc["permissions"] == {"contents": "read"}
    assert "concurrency" in doc
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_task_called_exists(path: Path) -> None:
    listed = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout
    tasks = {line.split()[0] for line in listed.splitlines()[1:] if line.strip()}
    called = re.findall(r"\./scripts/cattle ([\w.-]+)", path.read_text())
    assert called, "the workflow calls no task"
    for name in called:
        assert name in tasks, f"{path.name} calls unknown task {name}"


def test_zizmor_finds_nothing_high() -> None:
    proc = subprocess.run([str(Path(sys.executable).parent / "zizmor"), "--offline", "--min-severity", "high",
                           *map(str, WORKFLOWS)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
