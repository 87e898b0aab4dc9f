"""Flux postBuild variable substitution (`${VAR}`, `${VAR:=default}`, `$${VAR}` escapes) on object trees."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml

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


class _PlainDumper(yaml.SafeDumper):
    """Dumps every value where it stands (no anchors and aliases for repeated values)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def substitute_object(obj: Any, variables: Mapping[str, str], missing: Callable[[str], None]) -> Any:
    """A copy of an object with its variables substituted as kustomize-controller does it: in the object's YAML
    text, which is then parsed again (fluxcd/pkg kustomize SubstituteVariables: AsYAML, envsubst, unmarshal). So
    `value: ${KEEP}` with KEEP=3 becomes the number 3, as the API server will see it, and a value that breaks the
    YAML breaks here too."""
    text = yaml.dump(obj, Dumper=_PlainDumper, sort_keys=False, width=2**31 - 1, allow_unicode=True)
    substituted = substitute_text(text, variables, missing)
    if substituted == text:
        return obj
    try:
        return yaml.safe_load(substituted)
    except yaml.YAMLError as exc:
        raise ValueError(f"the object is no longer valid YAML once its variables are substituted: {exc}") from exc


def disabled(obj: Mapping[str, Any]) -> bool:
    """Whether an object opts out of substitution by annotation."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(SUBSTITUTE_ANNOTATION, "")).lower() == "disabled"
