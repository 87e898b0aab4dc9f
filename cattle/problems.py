"""A problem found in the repository: where it is, what is wrong, how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One finding of validate (or of a check): env, file, object, message and a one-line fix hint."""

    env: str
    file: str
    object: str
    message: str
    hint: str
    rule: str

    def as_dict(self) -> dict[str, Any]:
        return {"env": self.env, "file": self.file, "object": self.object, "rule": self.rule,
                "message": self.message, "hint": self.hint}


def describe(obj: dict[str, Any]) -> str:
    """'Kind namespace/name' (or 'Kind name' when cluster-scoped)."""
    meta = obj.get("metadata") or {}
    name = meta.get("name", "?")
    namespace = meta.get("namespace")
    return f"{obj.get('kind', '?')} {namespace}/{name}" if namespace else f"{obj.get('kind', '?')} {name}"
