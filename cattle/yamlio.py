"""YAML reading that refuses duplicate keys and reports the file it read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from cattle.errors import ConfigError


class _StrictLoader(yaml.CSafeLoader):
    """The C-accelerated SafeLoader (libyaml), rejecting a mapping with the same key twice."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_documents(text: str, source: str) -> list[Any]:
    """All non-empty documents of a YAML stream; ConfigError names the source on bad YAML."""
    try:
        return [doc for doc in yaml.load_all(text, Loader=_StrictLoader) if doc is not None]
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}", "fix the YAML syntax at the line shown") from exc


def load_file(path: Path) -> Any:
    """The single document of a YAML file."""
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    docs = load_documents(path.read_text(), str(path))
    if len(docs) != 1:
        raise ConfigError(f"{path}: expected exactly one YAML document, found {len(docs)}")
    return docs[0]


def dump_documents(docs: Iterator[Any] | list[Any]) -> str:
    """A multi-document YAML stream with stable key order."""
    return yaml.safe_dump_all(list(docs), sort_keys=False, default_flow_style=False)


def table_rows(path: Path, key: str, required: tuple[str, ...], label: str, hint: str) -> list[dict[str, Any]]:
    """The rows under `key` of a table file (platform/versions.yaml, platform/compatibility.yaml), each holding every
    `required` field; ConfigError names the file and the row (by its `label` field) otherwise."""
    doc = load_file(path)
    rows = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ConfigError(f"{path}: no {key} listed", hint)
    for row in rows:
        missing = [k for k in required if not (row.get(k) if isinstance(row, dict) else None)]
        if missing:
            name = row.get(label, "?") if isinstance(row, dict) else "?"
            raise ConfigError(f"{path}: row {name} lacks {', '.join(missing)}", hint)
    return rows


def strings_in(node: Any) -> Iterator[str]:
    """Every string value in a parsed YAML document, depth first (mapping keys left out)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)
