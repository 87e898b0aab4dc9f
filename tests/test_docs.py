"""Every command the docs tell an operator to run exists as written: the task, and each flag it names."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMAND = re.compile(r"(?:\./scripts/cattle|\binvoke)\s+([a-z][a-z-]*(?:\.[a-z-]+)?)([^`\n|#]*)")


def _tasks() -> dict[str, set[str]]:
    """Every task name (and alias) with the flags it accepts."""
    sys.path.insert(0, str(REPO))
    try:
        import tasks
    finally:
        sys.path.remove(str(REPO))
    found: dict[str, set[str]] = {}
    for name in tasks.ns.task_names:
        task = tasks.ns[name]
        flags = {"--help", "-h"}
        for argument in task.get_arguments():
            flags |= {f"--{n.replace('_', '-')}" if len(n) > 1 else f"-{n}" for n in argument.names}
            if argument.kind is bool:
                flags |= {f"--no-{n.replace('_', '-')}" for n in argument.names if len(n) > 1}
        for alias in [name, *tasks.ns.task_names[name]]:
            found[alias] = flags
    return found


def commands(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, task, flags) of every cattle command a doc names."""
    found = []
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        follow = number
        while line.rstrip().endswith("\\") and follow < len(lines):  # a command continued on the next line
            line = line.rstrip()[:-1] + " " + lines[follow].strip()
            follow += 1
        if number > 1 and lines[number - 2].rstrip().endswith("\\"):
            continue  # read already, as part of the line it continues
        for match in COMMAND.finditer(line):
            task, rest = match.group(1), match.group(2)
            if task in ("layer", "task", "tasks", "is", "the", "runs"):  # prose: "a thin invoke layer", "<task>"
                continue
            if line[match.end(1):match.end(1) + 2] == ".*":  # a family of tasks: `secrets.*`
                continue
            flags = re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", rest)
            found.append((number, task, flags))
    return found


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_documented_command_exists_as_written(path: Path) -> None:
    tasks = _tasks()
    wrong = []
    for number, task, flags in commands(path):
        if task not in tasks:
            wrong.append(f"{path.name}:{number}: no task {task!r}")
            continue
        wrong += [f"{path.name}:{number}: {task} has no flag {flag}" for flag in flags if flag not in tasks[task]]
    assert not wrong, "\n".join(wrong)


def test_the_extraction_reads_continued_lines(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("```bash\n./scripts/cattle adopt --git-url u \\\n  --domain d \\\n  --bucket b\n```\n")
    assert commands(doc) == [(2, "adopt", ["--git-url", "--domain", "--bucket"])]


def test_the_extraction_sees_the_runbooks_commands() -> None:
    found = {(task, tuple(flags)) for _, task, flags in commands(REPO / "docs/runbook.md")}
    assert ("bootstrap", ("--env", "--dry-run")) in found and ("dr.rehearse", ("--env",)) in found
    assert ("bootstrap", ("--env", "--provider", "--context")) in found


SOURCES = [REPO / "tasks.py", *sorted((REPO / "cattle").rglob("*.py"))]


def test_every_command_a_hint_names_exists_as_written() -> None:
    """Error hints are runbook lines too: `./scripts/cattle TASK --flag` in cattle's messages must run as written."""
    tasks = _tasks()
    wrong = []
    for path in SOURCES:
        for number, task, flags in commands(path):
            where = f"{path.relative_to(REPO)}:{number}"
            if task not in tasks:
                wrong.append(f"{where}: no task {task!r}")
                continue
            wrong += [f"{where}: {task} has no flag {flag}" for flag in flags if flag not in tasks[task]]
    assert not wrong, "\n".join(wrong)
