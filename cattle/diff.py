"""`invoke diff --base REF`: render every environment at REF and in the working tree (the same renderer as
validate) and report per environment which objects were added, removed or changed, with a unified diff of
each changed object. Secret values are masked; SOPS metadata is left out."""

from __future__ import annotations

import difflib
import hashlib
import io
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cattle import env as environments
from cattle.database import validation_variables
from cattle.errors import CattleError
from cattle.render import render

MASK = "***"


@dataclass
class EnvDiff:
    env: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def masked(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as shown in a diff: no sops block; Secret values replaced (changes still show as changed)."""
    shown = {k: v for k, v in obj.items() if k != "sops"}
    if shown.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if isinstance(shown.get(key), dict):
                shown[key] = {k: f"{MASK} (sha256 {hashlib.sha256(str(v).encode()).hexdigest()[:8]})"
                              for k, v in shown[key].items()}
    return shown


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{obj.get('kind')} {namespace + '/' if namespace else ''}{meta.get('name')}"


def objects(root: Path, name: str) -> dict[str, dict[str, Any]]:
    environment = environments.load(name, root)
    rendering = render(environment, validation_variables(environment.protected))
    return {_key(i.obj): masked(i.obj) for i in rendering.objects}


def checkout(repo: Path, ref: str, target: Path) -> None:
    """The tree of REF (git archive), without touching the working tree."""
    proc = subprocess.run(["git", "archive", "--format=tar", ref], cwd=repo, capture_output=True, check=False)
    if proc.returncode != 0:
        raise CattleError(f"cannot read {ref!r} from git: {proc.stderr.decode().strip()}",
                          "give a commit, branch or tag that exists (e.g. origin/main after git fetch)")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as archive:
        archive.extractall(target, filter="data")


def compare(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], name: str) -> EnvDiff:
    result = EnvDiff(name)
    result.added = sorted(set(after) - set(before))
    result.removed = sorted(set(before) - set(after))
    for key in sorted(set(before) & set(after)):
        if before[key] != after[key]:
            old = yaml.safe_dump(before[key], sort_keys=True).splitlines(keepends=True)
            new = yaml.safe_dump(after[key], sort_keys=True).splitlines(keepends=True)
            result.changed[key] = "".join(difflib.unified_diff(old, new, f"{key} (base)", f"{key} (change)"))
    return result


def diff(root: Path, base: str, names: list[str] | None = None) -> list[EnvDiff]:
    """Per-environment differences between REF and the working tree."""
    tmp = Path(tempfile.mkdtemp(prefix="cattle-diff-"))
    try:
        checkout(root, base, tmp)
        results = []
        for name in names or environments.environment_names(root):
            before = objects(tmp, name) if (tmp / "clusters" / name / "environment.yaml").is_file() else {}
            results.append(compare(before, objects(root, name), name))
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def format_text(results: list[EnvDiff]) -> str:
    lines: list[str] = []
    for r in results:
        lines.append(f"== {r.env}: {len(r.added)} added, {len(r.removed)} removed, {len(r.changed)} changed")
        lines += [f"+ {k}" for k in r.added] + [f"- {k}" for k in r.removed]
        for key, text in r.changed.items():
            lines += [f"~ {key}", text.rstrip()]
    return "\n".join(lines)


def format_markdown(results: list[EnvDiff], base: str) -> str:
    lines = [f"## Rendered changes against `{base}`", "", "| env | added | removed | changed |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {r.env} | {len(r.added)} | {len(r.removed)} | {len(r.changed)} |" for r in results]
    for r in results:
        if r.empty:
            continue
        lines += ["", f"### {r.env}", ""]
        lines += [f"- added `{k}`" for k in r.added] + [f"- removed `{k}`" for k in r.removed]
        for key, text in r.changed.items():
            lines += [f"<details><summary>changed <code>{key}</code></summary>", "", "```diff", text.rstrip(), "```",
                      "", "</details>"]
    return "\n".join(lines) + "\n"
