"""Field paths of `metadata.managedFields` (the API server's fieldsV1 sets) and the values at them.

A fieldsV1 set is a tree: `f:name` is a field, `k:{"name":"x"}` the list item with that key, `v:value` a set item,
`i:3` a list index, and `.` the node itself. A leaf is a path that ends in an empty set.
"""

from __future__ import annotations

import json
from typing import Any

Segment = tuple[str, Any]  # ("f", name) | ("k", '{"key":"value"}') | ("v", 'json value') | ("i", index)
Path = tuple[Segment, ...]

MISSING = object()  # what `value_at` returns where the object has nothing


def leaves(fields: dict[str, Any], prefix: Path = ()) -> list[Path]:
    """Every leaf path of a fieldsV1 set; a node owned itself (`.`) with children gives only its children."""
    found: list[Path] = []
    for key, child in fields.items():
        if key == ".":
            continue
        kind, _, raw = key.partition(":")
        value: Any = int(raw) if kind == "i" else raw  # k: and v: stay JSON text, so paths can be set members
        path = (*prefix, (kind, value))
        children = {k: v for k, v in (child or {}).items() if k != "."}
        found.extend(leaves(children, path) if children else [path])
    return found


def value_at(obj: Any, path: Path) -> Any:
    """The value at a path of an object, or MISSING."""
    here = obj
    for kind, key in path:
        if kind == "f":
            if not isinstance(here, dict) or key not in here:
                return MISSING
            here = here[key]
        elif kind == "k":
            items = here if isinstance(here, list) else []
            wanted = json.loads(key)
            matches = [i for i in items if isinstance(i, dict) and all(i.get(k) == v for k, v in wanted.items())]
            if not matches:
                return MISSING
            here = matches[0]
        elif kind == "v":
            if not isinstance(here, list) or json.loads(key) not in here:
                return MISSING
            here = json.loads(key)
        else:
            if not isinstance(here, list) or key >= len(here):
                return MISSING
            here = here[key]
    return here


def text(path: Path) -> str:
    """A path as people read it: spec.template.spec.containers[name=app].resources.requests.cpu."""
    out = ""
    for kind, key in path:
        if kind == "f":
            out += ("." if out else "") + str(key)
        elif kind == "k":
            out += "[" + ",".join(f"{k}={v}" for k, v in json.loads(key).items()) + "]"
        elif kind == "v":
            out += f"[{key}]"
        else:
            out += f"[{key}]"
    return out


def shown(value: Any) -> str:
    """A value in one short line."""
    if value is MISSING:
        return "(not set)"
    rendered = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return rendered if len(rendered) <= 80 else rendered[:77] + "..."
