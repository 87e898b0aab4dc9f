"""YAML reading that refuses duplicate keys and reports the file it read.

Every YAML cattle reads goes through here (`load`, `load_all`, `load_documents`, `load_file`), with a bound on alias
expansion: a few hundred bytes of nested aliases (`&a [*b, *b, ...]`) expand to billions of nodes for whoever walks
the result (a schema check, `json.dumps`, the plaintext guard). A document whose aliases add more than
MAX_ALIAS_EXPANSION nodes, or refer to themselves, is refused with its source and line (AliasBomb, a YAMLError).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from cattle.errors import ConfigError

MAX_ALIAS_EXPANSION = 100_000  # nodes aliases may add to a document (no YAML cattle reads comes close)
_ANCHOR = re.compile(r"(?:^|[\s\[{,:])&", re.MULTILINE)  # where an anchor can start; no anchor, no alias


class AliasBomb(yaml.YAMLError):
    """A document whose aliases expand beyond the bound, or refer to themselves."""

    def __init__(self, source: str, line: int, detail: str) -> None:
        super().__init__(f"{source}:{line}: {detail}")
        self.source, self.line, self.detail = source, line, detail


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _bound(node: yaml.Node, source: str) -> None:
    """Refuse a composed document whose aliases expand it by more than MAX_ALIAS_EXPANSION nodes (counted without
    expanding: each distinct node once, with the expanded size of what it holds)."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, finished = stack.pop()
        key = id(current)
        if finished:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(current))
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise AliasBomb(source, current.start_mark.line + 1, "a YAML alias refers to the node that holds it "
                            "(a recursive alias): refused")
        on_path.add(key)
        stack.append((current, True))
        for child in _children(current):
            if id(child) in on_path:
                raise AliasBomb(source, child.start_mark.line + 1, "a YAML alias refers to the node that holds it "
                                "(a recursive alias): refused")
            if id(child) not in sizes:
                stack.append((child, False))
    total = sizes[id(node)]
    if total - len(sizes) <= MAX_ALIAS_EXPANSION:
        return
    culprit = node
    while True:  # the smallest node that alone expands beyond the bound: where the aliases pile up
        bigger = [c for c in _children(culprit) if sizes[id(c)] > MAX_ALIAS_EXPANSION]
        if not bigger:
            break
        culprit = max(bigger, key=lambda c: sizes[id(c)])
    raise AliasBomb(source, culprit.start_mark.line + 1,
                    f"YAML aliases expand this document to {total} nodes ({len(sizes)} written), more than "
                    f"{MAX_ALIAS_EXPANSION} beyond what is written: refused")


def _documents(text: str | bytes, source: str, loader: type[Any]) -> list[Any]:
    if isinstance(text, bytes):
        text = text.decode()
    parser = loader(text)
    guarded = bool(_ANCHOR.search(text))
    try:
        docs = []
        while parser.check_node():
            node = parser.get_node()
            if guarded:
                _bound(node, source)
            docs.append(parser.construct_document(node))
        return docs
    finally:
        parser.dispose()


def load_all(text: str | bytes, source: str = "<text>") -> list[Any]:
    """Every document of a YAML stream (empty ones as None), as yaml.safe_load_all, with the alias bound."""
    return _documents(text, source, yaml.CSafeLoader)


def load(text: str | bytes, source: str = "<text>") -> Any:
    """The one document of a YAML text (None when empty), as yaml.safe_load, with the alias bound."""
    docs = load_all(text, source)
    if len(docs) > 1:
        raise yaml.YAMLError(f"{source}: expected a single document, found {len(docs)}")
    return docs[0] if docs else None


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
        return [doc for doc in _documents(text, source, _StrictLoader) if doc is not None]
    except AliasBomb as exc:
        raise ConfigError(f"{exc.source}:{exc.line}: not usable YAML: {exc.detail}",
                          "write the values out instead of expanding aliases") from exc
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
