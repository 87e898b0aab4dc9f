"""The on-disk cache of kustomize builds, keyed by what each build can read.

A build's key hashes the files it can reach: every file in each directory it visits, and every file or directory
that a string in a visited kustomization.yaml names (resources, components, patches, generator files: any field, so
a new kustomize field cannot slip past). A directory without a kustomization file counts with everything under it.
A build that names a kustomization outside the repository, or a remote resource, falls back to the whole tree's
digest (kustomize's load restrictor keeps plain files outside a kustomization's own directory unreadable).
So a change to platform/ leaves the cached builds of secrets/ alone, and two copies of a tree share their builds."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from cattle import yamlio
from cattle.paths import write_atomic
from cattle.schemas import cache_dir
from cattle.yamlio import strings_in

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_REMOTE = ("://", "github.com/", "gitlab.com/", "bitbucket.org/", "git@")


def reachable_files(root: Path, directories: list[Path]) -> list[Path] | None:
    """Every file a kustomize build of these directories can read, sorted; None when that cannot be bounded to the
    repository (a remote resource, a kustomization outside it, or an unreadable kustomization file)."""
    top = root.resolve()
    files: set[Path] = set()
    visited: set[Path] = set()
    pending = [d.resolve() for d in directories]
    while pending:
        directory = pending.pop()
        if directory in visited:
            continue
        visited.add(directory)
        found = [directory / name for name in KUSTOMIZATION_FILES if (directory / name).is_file()]
        if not directory.is_relative_to(top):
            if found:  # a kustomization outside the repository: its files are not hashed here
                return None
            continue  # a string such as a replacement's `delimiter: /`, not something kustomize reads
        if not found:  # not a kustomization: count everything under it
            files.update(p for p in directory.rglob("*") if p.is_file())
            continue
        files.update(p for p in directory.iterdir() if p.is_file())
        try:
            document = yamlio.load(found[0].read_text(), str(found[0]))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return None
        for text in strings_in(document):
            if any(marker in text for marker in _REMOTE):
                return None
            for candidate in {text, text.split("=", 1)[-1]}:  # generators take `key=path`
                if not candidate or "\n" in candidate or len(candidate) > 1024:
                    continue
                target = directory / candidate
                if not target.exists():  # most strings name nothing on disk
                    continue
                target = target.resolve()
                if target.is_dir():
                    pending.append(target)
                elif target.is_file() and target.is_relative_to(top):  # kustomize reads no file outside its root
                    files.add(target)
    return sorted(files)


def build_key(root: Path, directories: list[Path], fallback: Callable[[], str], tool: str) -> str:
    """The cache key of a build of these directories: the files it reaches (names relative to the repository, and
    bytes) and the kustomize binary's signature; `fallback()` (the whole tree's digest) when unbounded."""
    digest = hashlib.sha256(tool.encode() + b"\0")
    top = root.resolve()
    for directory in directories:
        digest.update(str(directory.resolve().relative_to(top) if directory.resolve().is_relative_to(top)
                          else directory).encode() + b"\0")
    files = reachable_files(root, directories)
    if files is None:
        digest.update(b"tree\0" + fallback().encode())
    else:
        for path in files:
            digest.update(str(path.relative_to(top)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cached(key: str, build: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The objects stored under this key, else `build()` stored under it (a read-only cache only costs time)."""
    stored = cache_dir() / "kustomize" / f"{key}.json"
    try:
        found: list[dict[str, Any]] = json.loads(stored.read_text())
        return found
    except (OSError, ValueError):
        pass
    built = build()
    with contextlib.suppress(OSError):
        write_atomic(stored, json.dumps(built).encode())
    return built
