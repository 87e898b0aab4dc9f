"""The control plane tier's pins (tests/controlplane/modules) agree with what the repository deploys, and its build
cache is keyed by them. Runs in the main suite: no Go build, no control plane."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.controlplane import build

FLUX_PROGRAMS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")


def _image_tags() -> dict[str, str]:
    text = (REPO / "clusters/flux-system/gotk-components.yaml").read_text()
    return dict(re.findall(r"image: ghcr\.io/fluxcd/([a-z-]+):(v[\w.]+)", text))


def test_flux_controllers_are_built_at_the_versions_flux_install_deploys() -> None:
    tags = _image_tags()
    programs = {p.name: p for p in build.PROGRAMS}
    assert set(tags) == set(FLUX_PROGRAMS)
    for name in FLUX_PROGRAMS:
        built = programs[name].version()
        assert built == tags[name], f"{name}: built {built}, deployed {tags[name]}"


def test_the_kubernetes_minor_is_inside_every_supported_range() -> None:
    version = next(p for p in build.PROGRAMS if p.name == "kube-apiserver").version()
    minor = tuple(int(part) for part in version.lstrip("v").split(".")[:2])
    components = yaml.safe_load((REPO / "platform/compatibility.yaml").read_text())["components"]
    assert components
    for component in components:
        bounds = component["kubernetes"]
        low = tuple(int(p) for p in str(bounds.get("min", "1.0")).split("."))
        high = tuple(int(p) for p in str(bounds.get("max", "1.999")).split("."))
        assert low <= minor <= high, f"{component['name']} supports {bounds}, the tier runs {version}"


def test_every_program_reports_its_release_version() -> None:
    kube = next(p for p in build.PROGRAMS if p.name == "kube-apiserver")
    flags = " ".join(kube.ldflags())
    # kubectl refuses a server that says v0.0.0-master+$Format:%H$: the version ldflags are set
    assert "k8s.io/component-base/version.gitVersion=v1.36.3" in flags
    assert "k8s.io/component-base/version.gitMinor=36" in flags
    assert all(p.version().startswith("v") for p in build.PROGRAMS)


def test_the_build_cache_is_keyed_by_the_pins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modules = tmp_path / "modules"
    shutil.copytree(build.MODULES, modules)
    monkeypatch.setattr(build, "MODULES", modules)
    monkeypatch.setenv(build.CACHE_VARIABLE, str(tmp_path / "cache"))
    programs = {p.name: p for p in build.PROGRAMS}
    before = {name: build.binary(p, "go1.26.8") for name, p in programs.items()}
    assert len(set(before.values())) == len(before)
    assert all(str(path).startswith(str(tmp_path / "cache")) for path in before.values())
    # a changed checksum of the Flux helm-controller's dependencies rebuilds that program only
    go_sum = modules / "flux-helm" / "go.sum"
    go_sum.write_text(go_sum.read_text() + "example.com/x v1.0.0 h1:AAAA=\n")
    after = {name: build.binary(p, "go1.26.8") for name, p in programs.items()}
    assert {name for name in programs if after[name] != before[name]} == {"helm-controller"}
    # another Go rebuilds everything
    assert all(build.binary(p, "go1.27.3") != after[name] for name, p in programs.items())
    monkeypatch.setattr(build, "go_version", lambda: "go1.26.8")
    with pytest.raises(FileNotFoundError, match=r"not built yet: .*kube-apiserver"):
        build.binaries()
