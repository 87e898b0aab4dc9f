"""Serving the checkout over git smart HTTP: a real git client clones exactly the working tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cattle import tools
from cattle.bootstrap.gitserve import GitServer, docker_gateway
from cattle.errors import ProviderError

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


INSPECT = Path(__file__).parent / "data" / "docker-network-inspect"


@pytest.mark.parametrize(("fixture", "gateway"), [("dual-stack-ipv6-first.json", "172.18.0.1"),
                                                  ("dual-stack-ipv4-first.json", "172.18.0.1"),
                                                  ("ipv4-only.json", "172.20.0.1")])
def test_the_ipv4_gateway_whatever_the_order(fixture: str, gateway: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """kind >= v0.27 lists the gateway-less IPv6 entry first: index 0 would give Flux http://:PORT/."""
    docker = _fake_docker(tmp_path, INSPECT / fixture)
    monkeypatch.setattr(tools, "find", lambda name: docker)
    assert docker_gateway("kind") == gateway
    assert (tmp_path / "argv").read_text().split() == ["network", "inspect", "kind"]


def test_no_ipv4_gateway_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "find", lambda name: _fake_docker(tmp_path, INSPECT / "no-gateway.json"))
    with pytest.raises(ProviderError) as caught:
        docker_gateway("kind")
    assert "docker network 'kind' has no IPv4 gateway (IPAM subnets: fc00:f853:ccd:e793::/64, 172.18.0.0/16)" \
        in caught.value.message
    assert "CATTLE_SERVE_HOST" in (caught.value.hint or "")


def _fake_docker(tmp_path: Path, output: Path) -> Path:
    """A docker stand-in that records its argv and prints a saved `docker network inspect` answer."""
    script = tmp_path / "docker"
    script.write_text(f'#!/bin/sh\necho "$*" > "{tmp_path / "argv"}"\ncat "{output}"\n')
    script.chmod(0o755)
    return script
