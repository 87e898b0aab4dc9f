"""`invoke charts.pull` / `charts.check`: every HelmRelease rendered with its pinned chart. No helm binary can be
installed on the development machine and no chart downloaded, so the orchestration is tested here on a tiny chart
(tests/data/charts/tiny) with a stand-in for `helm template`/`helm pull` (tests/data/charts/fake-helm, which checks
the values against values.schema.json as Helm does); the real charts run in the pull-request workflow."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from cattle.errors import ToolError
from cattle.manifests import charts
from tests.conftest import REPO

TINY = REPO / "tests/data/charts/tiny"
BARMAN = "platform/controllers/base/barman-cloud/release.yaml"


@pytest.fixture
def fake_helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `helm` that runs the stand-in with this Python; every call is logged to the returned file."""
    log = tmp_path / "helm.log"
    binary = tmp_path / "bin" / "helm"
    binary.parent.mkdir()
    binary.write_text(f"#!/bin/sh\nexec {sys.executable} {REPO / 'tests/data/charts/fake-helm'} \"$@\"\n")
    binary.chmod(0o755)
    monkeypatch.setenv("FAKE_HELM_LOG", str(log))
    monkeypatch.setattr(charts, "helm", lambda: str(binary))
    return log


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A chart cache holding the tiny chart as plugin-barman-cloud 0.7.0 (every other chart is missing)."""
    root = tmp_path / "charts"
    shutil.copytree(TINY, root / "plugin-barman-cloud-0.7.0" / "plugin-barman-cloud")
    monkeypatch.setenv("CATTLE_CHART_CACHE", str(root))
    return root


def _barman(results: list[charts.ReleaseResult]) -> charts.ReleaseResult:
    [result] = [r for r in results if r.release == "cnpg-system/plugin-barman-cloud"]
    return result


def test_renders_with_the_values_and_skips_what_is_not_cached(repo_copy: Path, fake_helm: Path, cache: Path) -> None:
    results = charts.check(["testing"], repo_copy)
    result = _barman(results)
    assert (result.status, result.objects, result.images, result.problems, result.unread) == (
        "ok", 1, ["docker.io/library/busybox:1.36.1"], [], [])
    [call] = [json.loads(line) for line in fake_helm.read_text().splitlines()]
    assert call[:3] == ["template", "plugin-barman-cloud", str(cache / "plugin-barman-cloud-0.7.0/plugin-barman-cloud")]
    assert call[call.index("--namespace") + 1] == "cnpg-system" and call[call.index("--kube-version") + 1] == "1.36.4"
    others = [r for r in results if r is not result]
    assert others and all(r.status == "SKIPPED" and "./scripts/cattle charts.pull" in r.reason for r in others)
    text = charts.format_text(results)
    assert f"SKIPPED: {len(others)} of {len(results)} release(s) not rendered (nothing was checked for them)" in text
    assert "ok:" not in text


def test_a_key_the_chart_does_not_read_fails(repo_copy: Path, fake_helm: Path, cache: Path) -> None:
    """How the OpenBao ServiceMonitor key was wrong before: Helm ignores an unknown key silently."""
    release = repo_copy / BARMAN
    release.write_text(release.read_text().replace("  values:\n", "  values:\n    serviceMonitor:\n"
                                                   "      enabled: true\n    service:\n      prot: 80\n"))
    result = _barman(charts.check(["testing"], repo_copy))
    assert result.status == "FAILED" and result.unread == ["service.prot", "serviceMonitor"]  # kustomize sorts keys
    assert [p.rule for p in result.problems] == ["chart-values", "chart-values"]
    assert result.problems[1].message == ("values key serviceMonitor is not read by chart plugin-barman-cloud 0.7.0: "
                                          "Helm ignores it")


def test_values_against_the_charts_schema_and_the_output_against_validate(repo_copy: Path, fake_helm: Path,
                                                                           cache: Path) -> None:
    release = repo_copy / BARMAN
    text = release.read_text()
    release.write_text(text.replace("  values:\n", "  values:\n    replicaCount: 0\n"))
    result = _barman(charts.check(["testing"], repo_copy))
    assert result.status == "FAILED" and "values don't meet the specifications of the schema" in result.reason
    # the output goes through validate's schema and pinning rules
    template = cache / "plugin-barman-cloud-0.7.0/plugin-barman-cloud/templates/deployment.yaml"
    template.write_text(template.read_text().replace("  replicas:", "  replicaz:"))
    release.write_text(text.replace("  values:\n", "  values:\n    image:\n      tag: latest\n"))
    result = _barman(charts.check(["testing"], repo_copy))
    assert result.status == "FAILED"
    assert [(p.rule, p.message.split(":")[0]) for p in result.problems] == [
        ("schema", "spec"), ("pinning", "image 'docker.io/library/busybox")]
    assert "replicaz" in result.problems[0].message


def test_without_helm_everything_is_skipped_never_passed(repo_copy: Path, cache: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charts, "helm", lambda: None)
    results = charts.check(["testing"], repo_copy)
    assert {r.status for r in results} == {"SKIPPED"}
    assert all(r.reason == "no helm binary (CI installs the pinned one)" for r in results)
    markdown = charts.format_text(results, markdown=True)
    assert f"**SKIPPED: {len(results)} of {len(results)} release(s) not rendered" in markdown


def test_chart_keys_read_defaults_templates_schema_and_free_form_maps() -> None:
    keys = charts.chart_keys(TINY)
    assert charts.unread_keys({"replicaCount": 2, "image": {"tag": "x", "digest": "y"}, "resources": {"a": {"b": 1}},
                               "service": {"port": 1}, "global": {"x": 1}}, keys) == ["image.digest"]


def test_pull_checks_the_recorded_digest(repo_copy: Path, fake_helm: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    chart = tmp_path / "src" / "plugin-barman-cloud"
    shutil.copytree(TINY, chart)
    monkeypatch.setenv("FAKE_HELM_CHART", str(chart))
    monkeypatch.setenv("CATTLE_CHART_CACHE", str(tmp_path / "cache"))
    table = repo_copy / "platform/versions.yaml"
    rows = yaml.safe_load(table.read_text())
    rows["charts"] = [r for r in rows["charts"] if r["chart"] == "plugin-barman-cloud"]
    table.write_text(yaml.safe_dump(rows))
    with pytest.raises(ToolError, match="the versions table records sha256:683494c0"):
        charts.pull(repo_copy)
    archive = tmp_path / "expected.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(chart, arcname="plugin-barman-cloud")
    del rows["charts"][0]["digest"]
    table.write_text(yaml.safe_dump(rows))
    [line] = charts.pull(repo_copy)
    assert line.startswith("plugin-barman-cloud 0.7.0: pulled (sha256:")
    assert (tmp_path / "cache/plugin-barman-cloud-0.7.0/plugin-barman-cloud/Chart.yaml").is_file()
    assert charts.pull(repo_copy) == ["plugin-barman-cloud 0.7.0: cached"]
    pulls = [json.loads(line) for line in fake_helm.read_text().splitlines()]
    assert pulls[0][:2] == ["pull", "plugin-barman-cloud"] and "--repo" in pulls[0]
    assert hashlib.sha256(archive.read_bytes()).hexdigest()  # the archive the stand-in builds is a real tgz


# Values a pinned chart still accepts but names as deprecated, with where it says so. loki 18.11.0's values.yaml
# (grafana-community/helm-charts, tag loki-18.11.0 = 3386a115, lines 60-70): "Monolithic (deprecated: SingleBinary)"
# and "Monolithic<->SimpleScalable (deprecated: SingleBinary<->SimpleScalable)".
DEPRECATED_VALUES = {("loki", "18.11.0", "deploymentMode"): {"SingleBinary": "Monolithic",
                                                              "SingleBinary<->SimpleScalable":
                                                                  "Monolithic<->SimpleScalable"}}


def test_no_helmrelease_uses_a_value_its_pinned_chart_calls_deprecated() -> None:
    found = []
    for path in sorted((REPO / "platform").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "HelmRelease":
                continue
            spec = (doc.get("spec") or {}).get("chart", {}).get("spec", {})
            values = (doc.get("spec") or {}).get("values") or {}
            for (chart, version, key), renamed in DEPRECATED_VALUES.items():
                if spec.get("chart") == chart and spec.get("version") == version and values.get(key) in renamed:
                    found.append(f"{path.relative_to(REPO)}: {key}: {values[key]} (now {renamed[values[key]]})")
    assert found == []
