"""Environments: load `clusters/<env>/environment.yaml` into a frozen, validated Environment.

The Flux variables (`cluster-vars`) are read from the ConfigMap in
`clusters/<env>/cluster-vars.yaml`, the one source Flux substitutes from.
Every problem is reported at once, each with its file and key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cattle.errors import ConfigError
from cattle.paths import repo_root
from cattle.yamlio import load_file

ENV_FILE = "environment.yaml"
VARS_FILE = "cluster-vars.yaml"
PROVIDERS = ("kind", "k3d", "kubeconfig")
REQUIRED_VARS = ("ENVIRONMENT", "CLUSTER_NAME", "DOMAIN")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_DURATION = re.compile(r"^(\d+)(s|m|h)$")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class BackupConfig:
    """Where an environment's state is backed up."""

    vault_store: str
    database_store: str | None
    keep: int


@dataclass(frozen=True)
class Environment:
    """One environment, as declared in git."""

    name: str
    root: Path
    provider: str
    cluster_name: str
    kube_context: str | None
    git_url: str | None
    git_branch: str
    domain: str
    reconcile_timeout: float
    rto_budget: float
    backups: BackupConfig
    protected: bool
    generate_missing_key: bool
    vars: Mapping[str, str] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        return self.root / "clusters" / self.name

    @property
    def flux_path(self) -> str:
        return f"./clusters/{self.name}"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets" / self.name


def parse_duration(text: str) -> float:
    """'90s', '15m', '1h' as seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m or 1h")
    number, unit = int(match.group(1)), match.group(2)
    return float(number * {"s": 1, "m": 60, "h": 3600}[unit])


class _Fields:
    """Reads typed keys from a mapping, collecting every problem with its file and key."""

    def __init__(self, source: Path, data: Mapping[str, Any], problems: list[str]) -> None:
        self.source = source
        self.data = data
        self.problems = problems

    def problem(self, key: str, text: str) -> None:
        self.problems.append(f"{self.source}: {key}: {text}")

    def get(self, key: str, kind: type, default: Any = ..., choices: tuple[str, ...] = ()) -> Any:
        node: Any = self.data
        for part in key.split("."):
            node = node.get(part, ...) if isinstance(node, Mapping) else ...
        if node is ... or node is None:
            if default is ...:
                self.problem(key, "required but missing")
            return None if default is ... else default
        if (kind is int and isinstance(node, bool)) or not isinstance(node, kind):
            self.problem(key, f"must be a {kind.__name__}, got {type(node).__name__} {node!r}")
            return None if default is ... else default
        if choices and node not in choices:
            self.problem(key, f"must be one of {', '.join(choices)}, got {node!r}")
        return node

    def duration(self, key: str, default: str) -> float:
        text = self.get(key, str, default)
        try:
            return parse_duration(text)
        except ValueError as exc:
            self.problem(key, str(exc))
            return parse_duration(default)


def environment_names(root: Path | None = None) -> list[str]:
    """The environments declared under clusters/ (directories holding environment.yaml)."""
    clusters = (root or repo_root()) / "clusters"
    if not clusters.is_dir():
        return []
    return sorted(p.name for p in clusters.iterdir() if (p / ENV_FILE).is_file())


def _read_vars(path: Path, problems: list[str]) -> dict[str, str]:
    try:
        doc = load_file(path)
    except ConfigError as exc:
        problems.append(exc.message)
        return {}
    if not isinstance(doc, Mapping) or doc.get("kind") != "ConfigMap":
        problems.append(f"{path}: must be a ConfigMap named cluster-vars")
        return {}
    meta = doc.get("metadata") or {}
    if meta.get("name") != "cluster-vars" or meta.get("namespace") != "flux-system":
        problems.append(f"{path}: metadata: must be name cluster-vars, namespace flux-system")
    data = doc.get("data") or {}
    result: dict[str, str] = {}
    for key, value in data.items():
        if not _VAR_NAME.match(str(key)):
            problems.append(f"{path}: data.{key}: not a valid variable name")
        elif not isinstance(value, str):
            problems.append(f"{path}: data.{key}: must be a string (quote it), got {value!r}")
        else:
            result[str(key)] = value
    for key in REQUIRED_VARS:
        if key not in result:
            problems.append(f"{path}: data.{key}: required but missing")
    return result


def _parse(name: str, root: Path, problems: list[str]) -> Environment | None:
    directory = root / "clusters" / name
    path = directory / ENV_FILE
    try:
        doc = load_file(path)
    except ConfigError as exc:
        problems.append(exc.message)
        return None
    if not isinstance(doc, Mapping):
        problems.append(f"{path}: must be a mapping, got {type(doc).__name__}")
        return None
    f = _Fields(path, doc, problems)
    if f.get("kind", str) != "Environment":
        f.problem("kind", "must be Environment")
    declared = f.get("name", str)
    if declared is not None and not _NAME.match(declared):
        f.problem("name", "must be lowercase letters, digits and dashes, starting with a letter")
    if declared is not None and declared != name:
        f.problem("name", f"is {declared!r} but the directory is clusters/{name}; they must match")
    provider = f.get("cluster.provider", str, "kind", PROVIDERS)
    keep = f.get("backups.keep", int, 7)
    if isinstance(keep, int) and keep < 1:
        f.problem("backups.keep", "must be at least 1")
    env_vars = _read_vars(directory / VARS_FILE, problems)
    if env_vars.get("ENVIRONMENT") not in (None, name):
        problems.append(f"{directory / VARS_FILE}: data.ENVIRONMENT: must be {name!r}")
    env = Environment(
        name=name,
        root=root,
        provider=provider,
        cluster_name=f.get("cluster.name", str, f"cattle-{name}"),
        kube_context=f.get("cluster.context", str, None),
        git_url=f.get("git.url", str, None),
        git_branch=f.get("git.branch", str, "main"),
        domain=f.get("domain", str),
        reconcile_timeout=f.duration("reconcile.timeout", "15m"),
        rto_budget=f.duration("rto.budget", "15m"),
        backups=BackupConfig(
            vault_store=f.get("backups.vault", str, f"file://.cattle/backups/{name}/vault"),
            database_store=f.get("backups.database", str, None),
            keep=keep,
        ),
        protected=f.get("protected", bool, False),
        generate_missing_key=f.get("secrets.generateMissingKey", bool, False),
        vars=env_vars,
    )
    if provider == "kubeconfig" and env.kube_context is None:
        f.problem("cluster.context", "required when cluster.provider is kubeconfig")
    if env.domain is not None and env_vars.get("DOMAIN") not in (None, env.domain):
        f.problem("domain", f"is {env.domain!r} but cluster-vars DOMAIN is {env_vars['DOMAIN']!r}")
    return env


def _check_duplicates(root: Path, names: list[str]) -> None:
    declared: dict[str, Path] = {}
    for name in names:
        path = root / "clusters" / name / ENV_FILE
        try:
            doc = load_file(path)
        except ConfigError:
            continue
        other = doc.get("name") if isinstance(doc, Mapping) else None
        if isinstance(other, str):
            if other in declared:
                raise ConfigError(
                    f"environment name {other!r} is declared twice: {declared[other]} and {path}",
                    "give every environment a unique name matching its directory",
                )
            declared[other] = path


def load(name: str, root: Path | None = None) -> Environment:
    """One environment, validated; ConfigError lists every problem."""
    base = root or repo_root()
    names = environment_names(base)
    if name not in names:
        known = ", ".join(names) or "none (no clusters/<env>/environment.yaml found)"
        raise ConfigError(f"unknown environment {name!r}; valid environments: {known}",
                          "pass --env with one of those names")
    _check_duplicates(base, names)
    problems: list[str] = []
    env = _parse(name, base, problems)
    if problems or env is None:
        raise ConfigError(
            f"environment {name!r} has {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems),
            f"fix the keys named above in clusters/{name}/",
        )
    return env


def load_all(root: Path | None = None) -> list[Environment]:
    """Every environment of the repository, validated."""
    base = root or repo_root()
    return [load(name, base) for name in environment_names(base)]
