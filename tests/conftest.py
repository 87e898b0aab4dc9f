"""Shared fixtures: a private copy of the repository, and skips that name a missing tool."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DECLARATIVE = ("clusters", "platform", "apps", "secrets", "vendor")


@pytest.fixture
def repo_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the repository's declarative tree that a test may change; CATTLE_REPO points at it."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in DECLARATIVE:
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / ".sops.yaml", root / ".sops.yaml") if (REPO / ".sops.yaml").exists() else None
    monkeypatch.setenv("CATTLE_REPO", str(root))
    yield root
