"""Deprecated options in use: a custom resource field whose vendored CRD says `Deprecated:` in its description
(the Go doc convention controller-gen copies), and a HelmRelease values key the versions table lists as deprecated
for the pinned chart. Both keep working until they are removed in a release, which is when they would surprise."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from cattle.manifests.render import Rendering
from cattle.problems import Problem
from cattle.schemas import CrdFiles, cached_json

_DEPRECATED = re.compile(r"\bDeprecated:")


def _walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    if not isinstance(node, dict):
        return
    description = str(node.get("description") or "")
    if path and _DEPRECATED.search(description):
        yield path, " ".join(description.split())
    for key, child in (node.get("properties") or {}).items():
        yield from _walk(child, (*path, str(key)))
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], (*path, "[]"))


def _index(crds: Iterable[dict[str, Any]]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for doc in crds:
        spec = doc.get("spec") or {}
        for version in spec.get("versions") or []:
            key = f"{spec.get('group')}/{version.get('name')}/{(spec.get('names') or {}).get('kind')}"
            schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
            fields = {".".join(path): text for path, text in _walk(schema.get("properties", {}).get("spec"),
                                                                    ("spec",))}
            if fields:
                found[key] = fields
    return found


_INDEX_LOCK = threading.Lock()  # the environments are checked in parallel: one of them builds the index


@lru_cache(maxsize=4)
def _deprecated_fields(files: tuple[Path, ...]) -> dict[str, dict[str, str]]:
    source = CrdFiles(files)
    found: dict[str, dict[str, str]] = cached_json(f"crd-deprecations-{source.digest}.json",
                                                   lambda: _index(source.crds()))
    return found


def deprecated_fields(files: tuple[Path, ...]) -> dict[str, dict[str, str]]:
    """{'group/version/Kind': {'spec.a.b': description}} of the CRDs in the files, cached on disk."""
    with _INDEX_LOCK:
        return _deprecated_fields(files)


def _set_paths(node: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _set_paths(value, (*path, str(key)))
    elif isinstance(node, list):
        for value in node:
            yield from _set_paths(value, (*path, "[]"))


def check(env: str, rendering: Rendering, crd_files: Iterable[Path],
          values: dict[tuple[str, str], str]) -> list[Problem]:
    """Deprecated CRD fields set in custom resources; deprecated values keys set in HelmReleases.

    `values`: {(namespace/name of a HelmRelease, values path): why} from the versions table."""
    index = deprecated_fields(tuple(sorted(crd_files)))
    found = []
    for item in rendering.objects:
        obj = item.obj
        api_version = str(obj.get("apiVersion", ""))
        fields = index.get(f"{api_version.rpartition('/')[0]}/{api_version.rpartition('/')[2]}/{obj.get('kind')}")
        if fields:
            for path in _set_paths(obj.get("spec"), ("spec",)):
                text = fields.get(".".join(path))
                if text:
                    found.append(Problem(env, item.source, item.name, f"{'.'.join(path)} is deprecated: "
                                         f"{text[text.index('Deprecated:'):][:200]}",
                                         "move to what the CRD's description recommends", "deprecated"))
        if obj.get("kind") == "HelmRelease":
            meta = obj.get("metadata") or {}
            release = f"{meta.get('namespace')}/{meta.get('name')}"
            for path in _set_paths((obj.get("spec") or {}).get("values"), ()):
                why = values.get((release, ".".join(path)))
                if why:
                    found.append(Problem(env, item.source, item.name, f"values {'.'.join(path)} is deprecated: "
                                         f"{why}", "use the replacement the chart documents", "deprecated"))
    return found
