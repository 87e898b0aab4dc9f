"""platform/audit-baseline.yaml: what the audit does not count as lost (kinds it skips, field managers whose writes
are not hand edits, objects the cluster or cattle makes by itself), each entry with its reason."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cattle import yamlio
from cattle.errors import ConfigError

FILE = Path("platform") / "audit-baseline.yaml"
_HINT = "every entry of platform/audit-baseline.yaml needs a reason (see the comment at its top)"


@dataclass(frozen=True)
class Baseline:
    """The parsed baseline file."""

    skip: dict[str, str]  # kind -> reason
    managers: dict[str, str]  # field manager -> reason
    objects: list[dict[str, str]]  # matchers (kind, namespace, name, type, manager) with a reason

    def known_manager(self, manager: str) -> bool:
        """A field manager whose writes are not hand edits."""
        return manager in self.managers

    def made_by_cluster(self, obj: dict[str, Any]) -> str | None:
        """The reason an object that no Flux object owns is still not lost (None: it would be)."""
        meta = obj.get("metadata") or {}
        managers = {e.get("manager", "") for e in meta.get("managedFields") or []}
        for rule in self.objects:
            if "kind" in rule and rule["kind"] != obj.get("kind"):
                continue
            if "name" in rule and not fnmatch.fnmatchcase(str(meta.get("name", "")), rule["name"]):
                continue
            if "namespace" in rule and rule["namespace"] != meta.get("namespace"):
                continue
            if "type" in rule and rule["type"] != obj.get("type"):
                continue
            # made by that manager, and written since by known managers only: a hand edit on top is not the cluster's
            if "manager" in rule and (rule["manager"] not in managers
                                      or not all(m == rule["manager"] or self.known_manager(m) for m in managers)):
                continue
            return rule["reason"]
        return None


def load(root: Path) -> Baseline:
    """Read the baseline; a ConfigError names an entry without its reason."""
    path = root / FILE
    doc = yamlio.load_file(path)
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping with skip, managers and objects", _HINT)
    sections: dict[str, list[dict[str, str]]] = {}
    for key in ("skip", "managers", "objects"):
        rows = doc.get(key) or []
        for row in rows:
            if not isinstance(row, dict) or not str(row.get("reason") or "").strip():
                raise ConfigError(f"{path}: an entry of {key} has no reason: {row}", _HINT)
        sections[key] = [{k: str(v) for k, v in row.items()} for row in rows]
    return Baseline({r["kind"]: r["reason"] for r in sections["skip"]},
                    {r["name"]: r["reason"] for r in sections["managers"]}, sections["objects"])
