"""The Kubernetes versions the pinned components support (`platform/compatibility.yaml`) and the kind pin
(`clusters/kind.yaml`): checked offline against every environment by validate, and live by preflight."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cattle.errors import ConfigError
from cattle.manifests.ordering import dig
from cattle.manifests.policy import EXACT_VERSION
from cattle.manifests.render import Rendering
from cattle.yamlio import load_file, table_rows

TABLE = "platform/compatibility.yaml"
KIND_PIN = "clusters/kind.yaml"
_MINOR = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$")


def minor(version: str) -> tuple[int, int]:
    """(major, minor) of '1.36', '1.36.4', 'v1.36.4+k3s1' or 'v1.36.2-eks-1a2b3c'."""
    match = _MINOR.match(version.strip())
    if match is None:
        raise ValueError(f"{version!r} is not a Kubernetes version")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class Component:
    """One row of the table: a component at a pinned version and the Kubernetes range its upstream supports."""

    name: str
    version: str
    pin: Mapping[str, str]
    low: tuple[int, int] | None
    high: tuple[int, int] | None
    source: str
    says: str = ""

    def supports(self, version: str) -> bool:
        found = minor(version)
        return (self.low is None or found >= self.low) and (self.high is None or found <= self.high)

    @property
    def range(self) -> str:
        low = f"{self.low[0]}.{self.low[1]}" if self.low else None
        high = f"{self.high[0]}.{self.high[1]}" if self.high else None
        if low and high:
            return low if low == high else f"{low}-{high}"
        return f">= {low}" if low else f"<= {high}" if high else "any (upstream states no range)"


@dataclass(frozen=True)
class KindPin:
    """The kind release scripts/setup installs and the node images built for it."""

    version: str
    source: str
    images: tuple[str, ...] = field(default_factory=tuple)


def _bound(row: Mapping[str, Any], key: str, path: Path) -> tuple[int, int] | None:
    value = (row.get("kubernetes") or {}).get(key)
    if value is None:
        return None
    try:
        return minor(str(value))
    except ValueError as exc:
        raise ConfigError(f"{path}: {row.get('name')}: kubernetes.{key}: {exc}", "write it like \"1.36\"") from exc


def load_table(root: Path) -> list[Component]:
    """Every row of platform/compatibility.yaml."""
    path = root / TABLE
    rows = table_rows(path, "components", ("name", "version", "pin", "source"), "name",
                      "every row names the component, the pinned version, where it is pinned, its Kubernetes range "
                      "and a source")
    table = []
    for row in rows:
        table.append(Component(str(row["name"]), str(row["version"]), dict(row["pin"]), _bound(row, "min", path),
                               _bound(row, "max", path), str(row["source"]), str(row.get("says") or "")))
    return table


def load_kind_pin(root: Path) -> KindPin:
    """clusters/kind.yaml: the kind release and its node images."""
    path = root / KIND_PIN
    doc = load_file(path)
    if not isinstance(doc, Mapping) or not doc.get("version") or not doc.get("images"):
        raise ConfigError(f"{path}: needs version and images", "copy them from the kind release notes")
    return KindPin(str(doc["version"]), str(doc.get("source") or ""), tuple(str(i) for i in doc["images"]))


def unsupported(table: list[Component], version: str) -> list[Component]:
    """The components whose range excludes a Kubernetes version."""
    return [component for component in table if not component.supports(version)]


def pinned_version(rendering: Rendering, root: Path, pin: Mapping[str, str]) -> str | None:
    """What the repository pins where a row points: a HelmRelease's chart version (or its OCIRepository tag), or
    the text of a file. None when the environment does not install the component."""
    if "file" in pin:
        path = root / pin["file"]
        return path.read_text() if path.is_file() else ""
    namespace, _, name = pin["helmRelease"].partition("/")
    release = rendering.find("HelmRelease", namespace, name)
    if release is None:
        return None
    version = dig(release.obj, ("spec", "chart", "spec", "version"))
    if version is not None:
        return str(version)
    ref = dig(release.obj, ("spec", "chartRef")) or {}
    source = rendering.find(str(ref.get("kind")), str(ref.get("namespace") or namespace), str(ref.get("name")))
    return str(dig(source.obj, ("spec", "ref", "tag")) or "") if source else ""


def installed(rendering: Rendering, root: Path, table: list[Component]) -> list[tuple[Component, str]]:
    """The rows that apply to an environment, each with what the repository pins."""
    found = [(row, pinned_version(rendering, root, row.pin)) for row in table]
    return [(row, pinned) for row, pinned in found if pinned is not None]


def pin_matches(component: Component, pinned: str) -> bool:
    """Whether the repository still pins the version a row describes (a non-exact pin is the pinning rule's)."""
    if "file" not in component.pin and not EXACT_VERSION.match(pinned):
        return True
    if "file" in component.pin:
        return re.search(rf"(?<![\w.]){re.escape(component.version)}(?![\w.])", pinned) is not None
    return pinned == component.version
