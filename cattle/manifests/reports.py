"""validate's reports kept on disk by content: an environment whose inputs did not change since a run on this
machine is not rendered or checked again; its report is read back.

The key covers everything a report depends on: the repository files a build can reach (clusters/, platform/,
apps/, secrets/ and the kubectl binary: render.tree_digest), the vendored CRDs, cattle's own code, the schema
engine's versions, the environment's name and the variables it is validated with. Any change to any of them checks
the environment again (and the per-object schema results make that re-check cost only what changed)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cattle.manifests.render import tree_digest
from cattle.paths import write_atomic
from cattle.problems import Problem
from cattle.schemas import ENGINE, cache_dir

if TYPE_CHECKING:
    from cattle.manifests.validate import EnvReport

FORMAT = 1  # bump when the stored report's shape changes


@lru_cache(maxsize=1)
def code_digest() -> str:
    """A hash of cattle's own source files (a changed check must not be answered from an older run)."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def files_digest(files: Iterable[Path]) -> str:
    """A hash of these files' names and bytes."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def key(env: str, root: Path, crd_digest: str, variables: dict[str, str] | None) -> str:
    """The content key of one environment's report."""
    parts = [FORMAT, env, tree_digest(root), crd_digest, ENGINE, code_digest(), sorted((variables or {}).items())]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _path(report_key: str) -> Path:
    return cache_dir() / "reports" / f"{report_key}.json"


def load(report_key: str) -> EnvReport | None:
    """The report kept under this key, or None (never stored, or unreadable: then the environment is checked)."""
    from cattle.manifests.validate import EnvReport

    try:
        raw: dict[str, Any] = json.loads(_path(report_key).read_text())
        return EnvReport(str(raw["env"]), objects=int(raw["objects"]), kinds=Counter(raw["kinds"]),
                         problems=[Problem(**p) for p in raw["problems"]], warnings=list(raw["warnings"]),
                         reused=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(report_key: str, report: EnvReport) -> None:
    """Keep a report for the next run (best effort: a read-only cache only costs time)."""
    data = {"env": report.env, "objects": report.objects, "kinds": dict(report.kinds),
            "problems": [p.as_dict() for p in report.problems], "warnings": report.warnings}
    with contextlib.suppress(OSError):
        write_atomic(_path(report_key), json.dumps(data).encode())
