"""Flux postBuild variable substitution (`${VAR}`, `${VAR:=default}`, `$${VAR}` escapes) on object trees."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

SUBSTITUTE_ANNOTATION = "kustomize.toolkit.fluxcd.io/substitute"
_PATTERN = re.compile(r"\$(\$?)\{([^}:=\-]*)(?:(:?[=\-])([^}]*))?\}")
_NAME = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
LEFTOVER = re.compile(r"(?<!\$)\$\{[^}]*\}")


def substitute_text(text: str, variables: Mapping[str, str], missing: Callable[[str], None]) -> str:
    """Replace variables in one string the way kustomize-controller does; report undefined names."""

    def replace(match: re.Match[str]) -> str:
        escaped, name, operator, default = match.groups()
        if escaped:
            return match.group(0)[1:]
        if not _NAME.match(name):
            return match.group(0)
        if name in variables and (operator is None or not operator.startswith(":") or variables[name] != ""):
            return variables[name]
        if operator is not None:
            return default
        missing(name)
        return match.group(0)

    return _PATTERN.sub(replace, text)


def substitute_object(obj: Any, variables: Mapping[str, str], missing: Callable[[str], None]) -> Any:
    """A copy of an object tree with every string substituted."""
    if isinstance(obj, str):
        return substitute_text(obj, variables, missing)
    if isinstance(obj, list):
        return [substitute_object(item, variables, missing) for item in obj]
    if isinstance(obj, dict):
        return {substitute_object(k, variables, missing): substitute_object(v, variables, missing)
                for k, v in obj.items()}
    return obj


def disabled(obj: Mapping[str, Any]) -> bool:
    """Whether an object opts out of substitution by annotation."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(SUBSTITUTE_ANNOTATION, "")).lower() == "disabled"
