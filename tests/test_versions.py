"""Versions that agree, images pinned by digest, no deprecated options: validate's rules versions, pinning and
deprecated, each shown failing on the state before issue 15 (planted in a copy of the repository)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from cattle.manifests import policy, validate
from tests.conftest import REPO


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _problems(root: Path, name: str = "testing") -> list[str]:
    [report] = validate.validate([name], root)
    return [f"{p.rule}|{p.file}|{p.object}|{p.message}" for p in report.problems]


def test_old_barman_plugin_chart_disagrees_with_the_vendored_crd(repo_copy: Path) -> None:
    """Chart 0.4.0 installs plugin v0.10.0; the vendored ObjectStore CRD was v0.14.0."""
    _edit(repo_copy / "platform/controllers/base/barman-cloud/release.yaml", "version: 0.7.0", "version: 0.4.0")
    for table in ("platform/versions.yaml", "platform/chart-workloads.yaml", "platform/compatibility.yaml"):
        _edit(repo_copy / table, "version: 0.7.0", "version: 0.4.0")
    _edit(repo_copy / "platform/versions.yaml", "appVersion: v0.13.0", "appVersion: v0.10.0")
    _edit(repo_copy / "vendor/crds/plugin-barman-cloud/VERSION", "plugin-barman-cloud v0.13.0",
          "plugin-barman-cloud v0.14.0")
    assert _problems(repo_copy) == [
        "versions|vendor/crds/plugin-barman-cloud/VERSION|plugin-barman-cloud|vendored CRDs are plugin-barman-cloud "
        "0.14.0, but chart plugin-barman-cloud 0.4.0 installs v0.10.0: objects are validated against another "
        "release than the cluster runs"]


def test_a_chart_bump_without_its_row_is_an_error(repo_copy: Path) -> None:
    _edit(repo_copy / "platform/controllers/base/barman-cloud/release.yaml", "version: 0.7.0", "version: 0.6.0")
    problems = [p for p in _problems(repo_copy) if p.startswith("versions|")]
    assert problems == ["versions|platform/versions.yaml|plugin-barman-cloud|the table describes plugin-barman-cloud "
                        "0.7.0, but the repository pins 0.6.0"]


def test_loki_from_the_old_repository_is_an_error(repo_copy: Path) -> None:
    _edit(repo_copy / "platform/controllers/base/loki/release.yaml", "name: grafana-community", "name: grafana")
    assert _problems(repo_copy) == [
        "versions|platform/controllers/base/loki/release.yaml|HelmRelease logging/loki|chart loki comes from "
        "https://grafana.github.io/helm-charts, the table says https://grafana-community.github.io/helm-charts"]


def test_openbao_image_other_than_the_charts_and_on_delete(repo_copy: Path) -> None:
    """The old state: chart targets another server than the image it runs, OnDelete, tag only."""
    release = repo_copy / "platform/controllers/base/openbao/release.yaml"
    text = release.read_text()
    text = re.sub(r'tag: "2\.6\.2@sha256:[0-9a-f]{64}"', 'tag: "2.7.2"', text)
    release.write_text(text.replace("      updateStrategyType: RollingUpdate\n", ""))
    where = "platform/controllers/base/openbao/release.yaml|HelmRelease openbao/openbao"
    assert _problems(repo_copy) == [
        f"pinning|{where}|values server.image.tag sets image tag '2.7.2' without a digest",
        f"versions|{where}|values server.image.tag runs 2.7.2, but chart openbao 0.29.2 targets v2.6.2",
        f"versions|{where}|values server.updateStrategyType is not RollingUpdate (chart openbao defaults to "
        "OnDelete): a new image or config never restarts a running pod"]


def test_deprecated_options_are_errors(repo_copy: Path) -> None:
    _edit(repo_copy / "apps/base/miniflux/database.yaml", "  storage:\n",
          "  monitoring:\n    enablePodMonitor: true\n  storage:\n")
    _edit(repo_copy / "platform/controllers/base/cert-manager/release.yaml", "      gatewayAPI:\n        enabled: true",
          "      enableGatewayAPI: true")
    problems = _problems(repo_copy)
    assert [p.split("|")[:3] for p in problems] == [
        ["deprecated", "apps/base/miniflux/database.yaml", "Cluster feeds/feeds-db"],
        ["deprecated", "platform/controllers/base/cert-manager/release.yaml", "HelmRelease cert-manager/cert-manager"]]
    assert "spec.monitoring.enablePodMonitor is deprecated: Deprecated: This feature will be removed" in problems[0]
    assert "values config.enableGatewayAPI is deprecated: since v1.21" in problems[1]


def test_tag_only_images_are_errors(repo_copy: Path) -> None:
    """The old state: images by tag only (postgresql:17.6 a rolling tag), in manifests and in values."""
    database = repo_copy / "apps/base/miniflux/database.yaml"
    database.write_text(re.sub(r"imageName: \S+", "imageName: ghcr.io/cloudnative-pg/postgresql:17.6",
                               database.read_text()))
    cronjob = repo_copy / "platform/configs/base/openbao-backup/cronjob.yaml"
    cronjob.write_text(re.sub(r"(python:3\.11\.14-slim)@sha256:[0-9a-f]{64}", r"\1", cronjob.read_text()))
    assert _problems(repo_copy) == [
        "pinning|apps/base/miniflux/database.yaml|Cluster feeds/feeds-db|image "
        "'ghcr.io/cloudnative-pg/postgresql:17.6' is pinned by tag only (a tag can be re-pushed)",
        "pinning|platform/configs/base/openbao-backup/cronjob.yaml|CronJob openbao/openbao-backup|image "
        "'docker.io/library/python:3.11.14-slim' is pinned by tag only (a tag can be re-pushed)"]


def test_unpinned_list_is_exact_and_current() -> None:
    """Every entry names an image git really uses by tag only (a bumped tag needs its digest, or a new entry)."""
    unpinned = policy.load_unpinned(REPO)
    assert set(unpinned) == {"docker.io/miniflux/miniflux:2.2.13"}
    used = set()
    for path in [*REPO.glob("apps/**/*.yaml"), *REPO.glob("platform/**/*.yaml"), *REPO.glob("clusters/**/*.yaml")]:
        used |= set(re.findall(r"image(?:Name)?: (\S+)", path.read_text()))
    assert set(unpinned) <= used
    assert all(reason.strip() for reason in unpinned.values())


def test_every_vendored_crd_set_belongs_to_a_charted_controller() -> None:
    rows = yaml.safe_load((REPO / "platform/versions.yaml").read_text())["charts"]
    owned = {entry if isinstance(entry, str) else next(iter(entry)) for row in rows for entry in row.get("crds", [])}
    vendored = {p.parent.name for p in (REPO / "vendor/crds").glob("*/VERSION")}
    assert owned == vendored


def test_every_newest_claim_in_the_version_tables_says_when_it_was_checked() -> None:
    """"Newest" goes stale: each table row of docs/versions.md that calls a version the newest says the date it was
    checked (issue 27, item 7)."""
    rows = [line for line in (REPO / "docs/versions.md").read_text().splitlines()
            if line.startswith("|") and "newest" in line]
    assert rows
    undated = [row[:80] for row in rows if not re.search(r"checked (on )?20\d\d-\d\d-\d\d", row)]
    assert undated == []


def test_alloy_is_the_newest_chart_whose_values_were_checked() -> None:
    """grafana/alloy tag helm-chart/1.11.1 (233907cf, 2026-08-06) is the newest chart tag in the snapshot read on
    2026-12-04; every values key cattle sets (controller.type, alloy.resources, alloy.configMap.create/content,
    configReloader.resources) is in its values.yaml, and its CHANGELOG since 1.5.0 breaks none of them."""
    pins = {p["release"]: p for p in yaml.safe_load((REPO / "platform/versions.yaml").read_text())["charts"]}
    alloy = pins["logging/alloy"]
    assert (alloy["version"], alloy["appVersion"]) == ("1.11.1", "v1.18.1")
    assert "helm-chart/1.11.1" in alloy["source"]
    release = yaml.safe_load((REPO / "platform/controllers/base/alloy/release.yaml").read_text())
    assert release["spec"]["chart"]["spec"]["version"] == "1.11.1"
