"""kustomize builds are cached by content: a warm render runs no kustomize and gives the same objects; any change to a
file a build can reach builds again (the cache never serves a stale rendering)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cattle import env
from cattle.manifests import render as rendering


@pytest.fixture
def builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    monkeypatch.setenv("CATTLE_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[Path] = []
    real = rendering.kustomize_build

    def counted(directory: Path) -> list[dict[str, object]]:
        calls.append(directory)
        return real(directory)

    monkeypatch.setattr(rendering, "kustomize_build", counted)
    return calls


def _objects(result: rendering.Rendering) -> list[object]:
    return [(item.kustomization, item.source, item.obj) for item in result.objects]


def test_a_warm_render_runs_no_kustomize_and_renders_the_same(repo_copy: Path, builds: list[Path]) -> None:
    testing = env.load("testing", repo_copy)
    cold = rendering.render(testing)
    assert builds and not cold.problems
    counted = len(builds)
    warm = rendering.render(testing)
    assert len(builds) == counted  # every build came from the cache
    assert _objects(warm) == _objects(cold)


def test_any_change_a_build_can_reach_builds_again(repo_copy: Path, builds: list[Path]) -> None:
    testing = env.load("testing", repo_copy)
    rendering.render(testing)
    counted = len(builds)
    release = repo_copy / "platform/controllers/base/external-secrets/release.yaml"
    release.write_text(release.read_text().replace("interval: 30m", "interval: 31m"))
    changed = rendering.render(testing)
    assert len(builds) > counted
    [found] = [i.obj for i in changed.objects if i.obj.get("kind") == "HelmRelease"
               and i.obj["metadata"]["name"] == "external-secrets"]
    assert found["spec"]["interval"] == "31m"
