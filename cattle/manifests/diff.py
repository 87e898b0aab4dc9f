"""`./scripts/cattle diff --base REF`: render every environment at REF and in the working tree (the same renderer as
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
from cattle.database.backups import validation_variables
from cattle.errors import CattleError
from cattle.manifests.render import render

MASK = "***"


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as block text (`|`), so a changed config file diffs line by line."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


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
            old = yaml.dump(before[key], Dumper=_BlockDumper, sort_keys=True).splitlines(keepends=True)
            new = yaml.dump(after[key], Dumper=_BlockDumper, sort_keys=True).splitlines(keepends=True)
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


def _grouped(results: list[EnvDiff]) -> list[tuple[str, str, str, list[str]]]:
    """(what, object, patch, environments): a change identical in several environments, once."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for r in results:
        for key in r.added:
            groups.setdefault(("added", key, ""), []).append(r.env)
        for key in r.removed:
            groups.setdefault(("removed", key, ""), []).append(r.env)
        for key, text in r.changed.items():
            patch = "".join(line for line in text.splitlines(keepends=True)[2:])  # without the file headers
            groups.setdefault(("changed", key, patch), []).append(r.env)
    return [(what, key, patch, envs) for (what, key, patch), envs in groups.items()]


def format_markdown(results: list[EnvDiff], base: str) -> str:
    """A summary table, then every change once, with the environments it applies to."""
    lines = [f"## Rendered changes against `{base}`", "", "| env | added | removed | changed |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {r.env} | {len(r.added)} | {len(r.removed)} | {len(r.changed)} |" for r in results]
    grouped = _grouped(results)
    if grouped:
        lines += ["", "### Changes", ""]
    for what, key, patch, envs in grouped:
        where = ", ".join(envs)
        if what != "changed":
            lines.append(f"- {what} `{key}` ({where})")
            continue
        lines += [f"<details><summary>changed <code>{key}</code> ({where})</summary>", "", "```diff",
                  patch.rstrip(), "```", "", "</details>"]
    return "\n".join(lines) + "\n"
