"""The versions table (`platform/versions.yaml`): what each pinned chart installs. Validate checks that the
repository agrees with it: the HelmRelease pins the row's chart version from the row's repository, each vendored
CRD set is the version the chart installs, and an image tag set in the values is the chart's appVersion."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cattle.env import Environment
from cattle.manifests.compatibility import pinned_version
from cattle.manifests.ordering import dig
from cattle.manifests.policy import EXACT_VERSION
from cattle.manifests.render import Rendering
from cattle.problems import Problem
from cattle.yamlio import table_rows

TABLE = "platform/versions.yaml"
CRDS = "vendor/crds"
_VERSION_LINE = re.compile(r"^version:\s+.*?\bv?(\d+\.\d+\.\d+[\w.+-]*)", re.M)


def same(a: str, b: str) -> bool:
    """Versions equal up to a leading 'v' (chart appVersions and image tags disagree on it)."""
    return a.strip().removeprefix("v") == b.strip().removeprefix("v")


@dataclass(frozen=True)
class Row:
    """One pinned chart: its version, the app version it installs, where it comes from, what it owns."""

    release: str
    chart: str
    version: str
    app_version: str
    repository: str
    source: str
    crds: Mapping[str, str] = field(default_factory=dict)  # vendored CRD dir -> the version the chart installs
    image: str | None = None
    digest: str | None = None
    rollout: str | None = None  # values path of a StatefulSet update strategy whose chart default is OnDelete
    deprecated: Mapping[str, str] = field(default_factory=dict)  # values path -> why and what replaces it


def load(root: Path) -> list[Row]:
    """Every row of platform/versions.yaml."""
    path = root / TABLE
    rows = table_rows(path, "charts", ("release", "chart", "version", "appVersion", "repository", "source"), "chart",
                      "every row names the release, chart, version, appVersion, repository and source")
    table = []
    for row in rows:
        crds: dict[str, str] = {}
        for entry in row.get("crds") or []:
            if isinstance(entry, Mapping):
                crds.update({str(k): str(v) for k, v in entry.items()})
            else:
                crds[str(entry)] = str(row["appVersion"])
        table.append(Row(str(row["release"]), str(row["chart"]), str(row["version"]), str(row["appVersion"]),
                         str(row["repository"]), str(row["source"]), crds, row.get("image"), row.get("digest"),
                         row.get("rollout"), {str(k): str(v) for k, v in (row.get("deprecated") or {}).items()}))
    return table


def vendored_version(root: Path, directory: str) -> str | None:
    """The upstream version a vendored CRD set records (its VERSION file's `version:` line)."""
    path = root / CRDS / directory / "VERSION"
    if not path.is_file():
        return None
    match = _VERSION_LINE.search(path.read_text())
    return match.group(1) if match else None


def chart_source(rendering: Rendering, release: dict[str, Any]) -> dict[str, Any] | None:
    """The HelmRepository or OCIRepository a HelmRelease takes its chart from."""
    namespace = str((release.get("metadata") or {}).get("namespace"))
    ref = dig(release, ("spec", "chart", "spec", "sourceRef")) or dig(release, ("spec", "chartRef")) or {}
    found = rendering.find(str(ref.get("kind")), str(ref.get("namespace") or namespace), str(ref.get("name")))
    return found.obj if found else None


def check(environment: Environment, rendering: Rendering) -> list[Problem]:
    """Every disagreement between the repository and the versions table, for the charts this env installs."""
    root, found = environment.root, []

    def problem(file: str, what: str, message: str, hint: str) -> None:
        found.append(Problem(environment.name, file, what, message, hint, "versions"))

    for row in load(root):
        namespace, _, name = row.release.partition("/")
        item = rendering.find("HelmRelease", namespace, name)
        if item is None:
            continue
        pinned = pinned_version(rendering, root, {"helmRelease": row.release}) or ""
        if pinned != row.version and EXACT_VERSION.match(pinned):  # a range is the pinning rule's problem
            problem(TABLE, row.chart, f"the table describes {row.chart} {row.version}, but the repository pins "
                    f"{pinned or '(nothing)'}", "re-read the chart's Chart.yaml at the pinned version and update the "
                    "row (version, appVersion, source)")
        source = chart_source(rendering, item.obj)
        url = str(dig(source, ("spec", "url")) or "") if source else ""
        if source is not None and url.rstrip("/") != row.repository.rstrip("/"):
            problem(item.source, item.name, f"chart {row.chart} comes from {url}, the table says "
                    f"{row.repository}", f"take the chart from {row.repository} (or fix the row with its source)")
        for directory, installs in row.crds.items():
            vendored = vendored_version(root, directory)
            if vendored is None or not same(vendored, installs):
                problem(f"{CRDS}/{directory}/VERSION", row.chart,
                        f"vendored CRDs are {directory} {vendored or '(none)'}, but chart {row.chart} {row.version} "
                        f"installs {installs}: objects are validated against another release than the cluster runs",
                        f"vendor the CRDs of {installs} (unmodified, with VERSION), or pin the chart that installs "
                        f"{vendored}")
        if row.image:
            tag = dig(item.obj, ("spec", "values", *row.image.split(".")))
            if tag is not None and not same(str(tag).split("@")[0], row.app_version):
                problem(item.source, item.name, f"values {row.image} runs {str(tag).split('@')[0]}, but chart "
                        f"{row.chart} {row.version} targets {row.app_version}",
                        "run the chart's appVersion, or pin the chart version made for that image")
        if row.rollout and dig(item.obj, ("spec", "values", *row.rollout.split("."))) != "RollingUpdate":
            problem(item.source, item.name, f"values {row.rollout} is not RollingUpdate (chart {row.chart} defaults "
                    "to OnDelete): a new image or config never restarts a running pod",
                    f"set {row.rollout}: RollingUpdate (safe when pods unseal/recover by themselves)")
    return found


def deprecated_values(root: Path) -> dict[tuple[str, str], str]:
    """{(HelmRelease namespace/name, values path): why} of every deprecated values key in the table."""
    return {(row.release, path): why for row in load(root) for path, why in row.deprecated.items()}
