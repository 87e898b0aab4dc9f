"""What a real cluster needs, declared per environment: Kubernetes version, node image, capacity, registry mirror."""

from __future__ import annotations

from pathlib import Path

import pytest

from cattle import env
from cattle.errors import ConfigError

IMAGE = "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed"


def _edit(root: Path, name: str, old: str, new: str) -> Path:
    path = root / "clusters" / name / "environment.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return path


def _problems(name: str) -> str:
    with pytest.raises(ConfigError) as caught:
        env.load(name)
    return caught.value.message


def test_every_environment_declares_its_kubernetes_and_testing_its_runner() -> None:
    loaded = {e.name: e for e in env.load_all()}
    assert loaded["testing"].kubernetes == env.KubernetesSpec("1.36.4", IMAGE)
    assert loaded["production"].kubernetes == env.KubernetesSpec("1.36", None)
    capacity = loaded["testing"].capacity
    assert capacity is not None
    assert (capacity.cpu_millis, capacity.memory_bytes) == (2000, 7_000_000_000)  # GitHub's 2 vCPU / 7 GB runner
    assert (capacity.overhead_cpu_millis, capacity.overhead_memory_bytes) == (950, 290 * 2 ** 20)
    assert loaded["staging"].capacity is None and loaded["testing"].registry_mirrors == {}


def test_kubernetes_version_is_required(repo_copy: Path) -> None:
    path = _edit(repo_copy, "staging", '  version: "1.36"\n', "  nodeImage: none\n")
    assert f"{path}: kubernetes.version: required but missing" in _problems("staging")
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                            if not line.startswith(("kubernetes:", "  "))))
    assert f"{path}: kubernetes: required but missing" in _problems("staging")


def test_an_unquoted_minor_version_is_a_number_not_a_version(repo_copy: Path) -> None:
    path = _edit(repo_copy, "staging", 'version: "1.36"', "version: 1.36")
    assert f"{path}: kubernetes.version: must be a string, got float 1.36" in _problems("staging")


def test_a_kind_cluster_needs_a_node_image_pinned_by_digest(repo_copy: Path) -> None:
    path = _edit(repo_copy, "testing", f"  nodeImage: {IMAGE}\n", "")
    assert f"{path}: kubernetes.nodeImage: required for a kind cluster" in _problems("testing")
    _edit(repo_copy, "testing", "  version: 1.36.4\n", "  version: 1.36.4\n  nodeImage: kindest/node:v1.36.4\n")
    assert f"{path}: kubernetes.nodeImage: 'kindest/node:v1.36.4' is not a node image pinned by tag and digest" \
        in _problems("testing")


def test_the_node_image_runs_the_declared_version(repo_copy: Path) -> None:
    path = _edit(repo_copy, "testing", "version: 1.36.4", "version: 1.35.8")
    assert f"{path}: kubernetes.nodeImage: its tag v1.36.4 is not kubernetes.version 1.35.8" in _problems("testing")


def test_capacity_quantities_and_overhead_are_checked(repo_copy: Path) -> None:
    path = _edit(repo_copy, "testing", "  memory: 7G\n", "  memory: 7 GB\n")
    assert f"{path}: capacity.memory: '7 GB' is not a memory quantity like 7G, 6Gi or 512Mi" in _problems("testing")


def test_registry_mirrors(repo_copy: Path) -> None:
    _edit(repo_copy, "staging", "git:\n", "registry:\n  mirrors:\n    docker.io: https://mirror.example.com\ngit:\n")
    assert env.load("staging").registry_mirrors == {"docker.io": "https://mirror.example.com"}
    path = _edit(repo_copy, "staging", "https://mirror.example.com", "mirror.example.com")
    assert f"{path}: registry.mirrors.docker.io: 'mirror.example.com' is not a mirror URL" in _problems("staging")
