"""Serving the checkout over git smart HTTP: a real git client clones exactly the working tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cattle.gitserve import GitServer

GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]


def test_clone_gets_the_working_tree_including_uncommitted_changes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run([*GIT, "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "committed.yaml").write_text("a: 1\n")
    (repo / ".gitignore").write_text("ignored.txt\n")
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "one"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout
    (repo / "committed.yaml").write_text("a: 2\n")
    (repo / "new.yaml").write_text("b: 1\n")
    (repo / "ignored.txt").write_text("secret\n")
    with GitServer(repo, "main") as server:
        clone = tmp_path / "clone"
        subprocess.run(["git", "clone", "-q", "--branch", "main", server.url("127.0.0.1"), str(clone)], check=True,
                       timeout=60)
    assert (clone / "committed.yaml").read_text() == "a: 2\n"
    assert (clone / "new.yaml").read_text() == "b: 1\n"
    assert not (clone / "ignored.txt").exists()
    # the user's branch and index were not touched
    assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout == head
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    assert " M committed.yaml" in status and "?? new.yaml" in status
