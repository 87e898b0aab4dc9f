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


GO_STAND_IN = """#!/usr/bin/env python3
import os, sys
args = sys.argv[1:]
if args[:2] == ["env", "GOVERSION"]:
    print("go1.26.8"); sys.exit(0)
assert args[0] == "build", args
out = args[args.index("-o") + 1]
package = args[-1]
with open(os.environ["GO_LOG"], "a") as log:
    log.write(package + "\\n")
if package in os.environ.get("GO_FAILS", "").split(","):
    open(out, "w").write("half a binary")  # a build that dies leaves its partial output behind
    print("compile: signal: killed", file=sys.stderr); sys.exit(2)
open(out, "w").write("binary of " + package)
"""


def test_an_interrupted_build_resumes_with_the_program_it_had_not_finished(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stand_ins: object, capsys: pytest.CaptureFixture[str]) -> None:
    stand_ins.put("go", GO_STAND_IN)  # type: ignore[attr-defined]
    log = tmp_path / "go.log"
    monkeypatch.setenv("GO_LOG", str(log))
    monkeypatch.setenv(build.CACHE_VARIABLE, str(tmp_path / "cache"))
    monkeypatch.setenv("GO_FAILS", "k8s.io/kubernetes/cmd/kube-apiserver")
    with pytest.raises(SystemExit, match=r"(?s)building kube-apiserver failed \(exit 2\).*signal: killed.*run "
                                         r"./scripts/setup --test again to resume"):
        build.build_all(["etcd", "kube-apiserver", "kwok"])
    assert log.read_text().split() == [".", "k8s.io/kubernetes/cmd/kube-apiserver"]
    go = build.go_version()
    etcd, apiserver = (build.binary(p, go) for p in build.PROGRAMS if p.name in ("etcd", "kube-apiserver"))
    assert etcd.read_text() == "binary of ." and not apiserver.exists()
    assert not list(apiserver.parent.glob(".*partial"))  # no half binary is ever taken for a whole one
    monkeypatch.delenv("GO_FAILS")
    log.write_text("")
    built = build.build_all(["etcd", "kube-apiserver", "kwok"])
    assert log.read_text().split() == ["k8s.io/kubernetes/cmd/kube-apiserver", "sigs.k8s.io/kwok/cmd/kwok"]
    assert set(built) == {"etcd", "kube-apiserver", "kwok"} and built["etcd"] == etcd
    progress = capsys.readouterr().err
    assert "building 2 of 3 programs" in progress and "kube-apiserver v1.36.3: built in" in progress
    log.write_text("")
    build.build_all(["etcd", "kube-apiserver", "kwok"])  # warm: nothing is built again
    assert log.read_text() == ""
