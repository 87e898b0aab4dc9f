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


def test_a_change_builds_again_only_what_reaches_it(repo_copy: Path, builds: list[Path]) -> None:
    """secrets/testing does not reach platform/: a changed chart release rebuilds the platform builds (and the root,
    which includes nothing of it, is left alone), never the secrets layer."""
    testing = env.load("testing", repo_copy)
    rendering.render(testing)
    cold = [p.relative_to(repo_copy) for p in builds]
    assert Path("secrets/testing") in cold and Path("clusters/testing") in cold
    release = repo_copy / "platform/controllers/base/external-secrets/release.yaml"
    release.write_text(release.read_text().replace("interval: 30m", "interval: 31m"))
    builds.clear()
    rendering.render(testing)
    again = {p.relative_to(repo_copy) for p in builds}
    assert Path("platform/controllers/testing") in again
    assert not again & {Path("secrets/testing"), Path("clusters/testing"), Path("apps/testing")}


def test_a_copy_of_the_tree_elsewhere_reuses_the_builds(repo_copy: Path, builds: list[Path], tmp_path: Path) -> None:
    import shutil

    rendering.render(env.load("testing", repo_copy))
    assert builds
    builds.clear()
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(repo_copy, elsewhere)
    copied = rendering.render(env.load("testing", elsewhere))
    assert builds == [] and not copied.problems


def test_files_named_by_a_generator_or_a_parent_directory_are_part_of_the_key(repo_copy: Path,
                                                                              builds: list[Path]) -> None:
    """Whatever a kustomization names is followed: a `key=path` generator file in a subdirectory, and a resource
    directory outside the build's own, and the kustomization file itself. A change to any of them builds again."""
    shared = repo_copy / "platform" / "shared-settings"
    shared.mkdir()
    (shared / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - namespace.yaml\n")
    (shared / "namespace.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shared\n")
    layer = repo_copy / "platform" / "generated"
    (layer / "files").mkdir(parents=True)
    (layer / "files" / "level.txt").write_text("info\n")
    (layer / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../shared-settings\n"
        "generatorOptions:\n  disableNameSuffixHash: true\n"
        "configMapGenerator:\n  - name: settings\n    namespace: default\n"
        "    files:\n      - log-level=files/level.txt\n")

    def built() -> dict[str, object]:
        return {obj["kind"]: obj for obj in rendering.build(repo_copy, "platform/generated")}

    assert built()["ConfigMap"]["data"] == {"log-level": "info\n"} and len(builds) == 1
    assert built()["Namespace"]["metadata"] == {"name": "shared"} and len(builds) == 1  # cached
    (layer / "files" / "level.txt").write_text("debug\n")
    assert built()["ConfigMap"]["data"] == {"log-level": "debug\n"} and len(builds) == 2
    (shared / "namespace.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: common\n")
    assert built()["Namespace"]["metadata"] == {"name": "common"} and len(builds) == 3
    kustomization = layer / "kustomization.yaml"  # the kustomization file itself, where no name changes
    kustomization.write_text(kustomization.read_text().replace("NameSuffixHash: true", "NameSuffixHash: false"))
    assert built()["ConfigMap"]["metadata"]["name"].startswith("settings-") and len(builds) == 4
