"""Environments: load `clusters/<env>/environment.yaml` into a frozen, validated Environment.

The Flux variables (`cluster-vars`) are read from the ConfigMap in
`clusters/<env>/cluster-vars.yaml`, the one source Flux substitutes from.
Every problem is reported at once, each with its file and key.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from cattle.errors import ConfigError
from cattle.paths import repo_root
from cattle.yamlio import load_file

ENV_FILE = "environment.yaml"
VARS_FILE = "cluster-vars.yaml"
REQUIRED_VARS = ("ENVIRONMENT", "CLUSTER_NAME", "DOMAIN")
_DURATION = re.compile(r"^(\d+)(s|m|h)$")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class BackupConfig:
    """Where an environment's state is backed up."""

    vault_store: str
    database_store: str | None
    keep: int


@dataclass(frozen=True)
class KubernetesSpec:
    """The Kubernetes an environment runs: its version and, for kind/k3d, the node image pinned by digest."""

    version: str
    node_image: str | None = None


@dataclass(frozen=True)
class Capacity:
    """What the cluster's nodes offer, and the requests of what runs there outside git (the control plane)."""

    cpu_millis: int
    memory_bytes: int
    overhead_cpu_millis: int
    overhead_memory_bytes: int


@dataclass(frozen=True)
class CloudCluster:
    """What the opentofu provider creates: inputs of infra/<env>/ (the module's interface)."""

    region: str
    node_size: str
    node_count: int


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
    kubernetes: KubernetesSpec
    capacity: Capacity | None = None
    registry_mirrors: Mapping[str, str] = field(default_factory=dict)  # upstream registry host -> mirror URL
    vars: Mapping[str, str] = field(default_factory=dict)
    cloud: CloudCluster | None = None  # the opentofu provider's inputs (infra/<env>/)

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


SCHEMA_FILE = "environment.schema.json"


def schema_path(root: Path) -> Path:
    """The JSON Schema of environment.yaml (also usable by editors: clusters/environment.schema.json)."""
    return root / "clusters" / SCHEMA_FILE


@lru_cache(maxsize=4)
def _validator(path: Path) -> Any:
    import jsonschema

    # the schema itself is checked against its metaschema by tests/test_env.py, not on every load (slow)
    return jsonschema.Draft202012Validator(json.loads(path.read_text()))


_TYPE_NAMES = {"integer": "an integer", "boolean": "true or false", "string": "a string", "object": "a mapping"}


def _schema_problem(error: Any) -> list[tuple[str, str]]:
    """(dotted key, text) for one JSON Schema error, worded for a person editing the file."""
    where = ".".join(str(part) for part in error.absolute_path)
    instance, schema = error.instance, error.schema
    if error.validator == "additionalProperties":
        known = sorted((schema.get("properties") or {}).keys())
        found = []
        for key in sorted(set(instance) - set(known), key=str):
            nearest = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            suggestion = f"did you mean {nearest[0]!r}?" if nearest else f"valid keys here: {', '.join(known)}"
            found.append((f"{where}.{key}" if where else str(key), f"unknown key; {suggestion}"))
        return found
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        return [(f"{where}.{key}" if where else key, "required but missing") for key in missing]
    if error.validator == "type":
        wanted = _TYPE_NAMES.get(str(error.validator_value), str(error.validator_value))
        return [(where, f"must be {wanted}, got {type(instance).__name__} {instance!r}")]
    if error.validator == "enum":
        return [(where, f"must be one of {', '.join(map(str, error.validator_value))}, got {instance!r}")]
    if error.validator == "const":
        return [(where, f"must be {error.validator_value}, got {instance!r}")]
    if error.validator == "pattern":
        wanted = schema.get("title") or f"valid (must match {schema['pattern']})"
        return [(where, f"{instance!r} is not {wanted}")]
    description = schema.get("description")
    return [(where, error.message + (f" ({description})" if description else ""))]


def schema_problems(path: Path, doc: Any, root: Path) -> list[str]:
    """Every way `doc` breaks the Environment schema, as 'file: key: text' lines."""
    found: list[str] = []
    for error in sorted(_validator(schema_path(root)).iter_errors(doc), key=lambda e: list(map(str, e.path))):
        found += [f"{path}: {key or '(top level)'}: {text}" for key, text in _schema_problem(error)]
    return found


def _get(data: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """A dotted key of a document that passed the schema, or the default."""
    node: Any = data
    for part in key.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return default if node is None else node


def _capacity(doc: Mapping[str, Any] | None) -> Capacity | None:
    """The capacity block of a document that passed the schema (quantities as integers)."""
    from cattle.quantities import cpu_millis, memory_bytes

    if not doc:
        return None
    overhead = doc["overhead"]
    return Capacity(cpu_millis(doc["cpu"]), memory_bytes(doc["memory"]), cpu_millis(overhead["cpu"]),
                    memory_bytes(overhead["memory"]))


def _node_image_problems(provider: str, spec: KubernetesSpec) -> list[str]:
    """kind/k3d need a node image whose tag is the declared version; other providers have none."""
    if provider not in ("kind", "k3d"):
        return ["kubernetes.nodeImage: only kind and k3d clusters have a node image"] if spec.node_image else []
    if spec.node_image is None:
        return [f"kubernetes.nodeImage: required for a {provider} cluster: the node image, pinned by digest, that "
                f"runs Kubernetes {spec.version}"]
    tag = spec.node_image.split("@")[0].rsplit(":", 1)[1]
    if re.split(r"[-+]", tag.removeprefix("v"))[0] != spec.version:
        return [f"kubernetes.nodeImage: its tag {tag} is not kubernetes.version {spec.version}"]
    return []


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
    env_vars = _read_vars(directory / VARS_FILE, problems)
    if env_vars.get("ENVIRONMENT") not in (None, name):
        problems.append(f"{directory / VARS_FILE}: data.ENVIRONMENT: must be {name!r}")
    invalid = schema_problems(path, doc, root)
    if invalid:
        problems += invalid
        return None
    declared = doc["name"]
    if declared != name:
        problems.append(f"{path}: name: is {declared!r} but the directory is clusters/{name}; they must match")
    env = Environment(
        name=name,
        root=root,
        provider=_get(doc, "cluster.provider", "kind"),
        cluster_name=_get(doc, "cluster.name", f"cattle-{name}"),
        kube_context=_get(doc, "cluster.context"),
        git_url=_get(doc, "git.url"),
        git_branch=_get(doc, "git.branch", "main"),
        domain=doc["domain"],
        reconcile_timeout=parse_duration(_get(doc, "reconcile.timeout", "15m")),
        rto_budget=parse_duration(_get(doc, "rto.budget", "15m")),
        backups=BackupConfig(
            vault_store=_get(doc, "backups.vault", f"file://.cattle/backups/{name}/vault"),
            database_store=_get(doc, "backups.database"),
            keep=_get(doc, "backups.keep", 7),
        ),
        protected=doc["protected"],  # required by the schema: no environment is unprotected by default
        generate_missing_key=_get(doc, "secrets.generateMissingKey", False),
        kubernetes=KubernetesSpec(doc["kubernetes"]["version"], _get(doc, "kubernetes.nodeImage")),
        capacity=_capacity(doc.get("capacity")),
        registry_mirrors=dict(_get(doc, "registry.mirrors", {})),
        vars=env_vars,
        cloud=CloudCluster(_get(doc, "cluster.region"), _get(doc, "cluster.nodeSize"), _get(doc, "cluster.nodeCount"))
        if _get(doc, "cluster.provider") == "opentofu" else None,
    )
    problems += [f"{path}: {text}" for text in _node_image_problems(env.provider, env.kubernetes)]
    if not env.protected and looks_like_production(name):
        problems.append(f"{path}: protected: false, but the name {name!r} looks like production's; set protected: "
                        "true (a throwaway environment needs a name without prod/production/prd/live)")
    if env.provider == "kubeconfig" and env.kube_context is None:
        problems.append(f"{path}: cluster.context: required when cluster.provider is kubeconfig")
    if env_vars.get("DOMAIN") not in (None, env.domain):
        problems.append(f"{path}: domain: is {env.domain!r} but cluster-vars DOMAIN is {env_vars['DOMAIN']!r}")
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


PRODUCTION_WORDS = ("prod", "production", "prd", "live")
DEFAULT_VAULT_STORE = "file://.cattle/backups/{name}/vault"


def looks_like_production(name: str) -> bool:
    """Whether an environment name reads as production's (a dash-separated word prod, production, prd or live)."""
    return any(word in PRODUCTION_WORDS for word in name.split("-"))


def _store_key(url: str, root: Path) -> str:
    """A store URL as compared between environments: file:// paths made absolute, no trailing slash."""
    if url.startswith("file://"):
        path = Path(url[len("file://"):])
        return "file://" + str(path if path.is_absolute() else (root / path).resolve())
    return url.rstrip("/")


def stores_overlap(a: str, b: str, root: Path) -> bool:
    """Whether two backup stores share objects: the same, or one a prefix of the other (S3 lists by prefix)."""
    left, right = _store_key(a, root), _store_key(b, root)
    return left.startswith(right) or right.startswith(left)


@dataclass(frozen=True)
class SharedStore:
    """Two environments whose backup stores (vault or database) overlap."""

    kind: str  # vault | database
    first: str
    first_url: str
    second: str
    second_url: str


def declared_stores(root: Path, names: list[str]) -> dict[str, tuple[bool, dict[str, str]]]:
    """Each environment's `protected` and backup stores as its files declare them (read raw: an environment with
    other problems still counts): {name: (protected, {what: url})}, the stores of its environment file (vault,
    database) and those its in-cluster backups write to (cluster-vars VAULT_BACKUP_STORE, DB_BACKUP_STORE)."""
    found: dict[str, tuple[bool, dict[str, str]]] = {}
    for name in names:
        try:
            doc = load_file(root / "clusters" / name / ENV_FILE)
        except ConfigError:
            continue
        if not isinstance(doc, Mapping):
            continue
        raw = doc.get("backups")
        backups: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        stores = {"vault": str(backups.get("vault") or DEFAULT_VAULT_STORE.format(name=name))}
        if backups.get("database"):
            stores["database"] = str(backups["database"])
        try:
            cluster_vars = load_file(root / "clusters" / name / VARS_FILE)
        except ConfigError:
            cluster_vars = None
        data = cluster_vars.get("data") if isinstance(cluster_vars, Mapping) else None
        for key, what in (("VAULT_BACKUP_STORE", "in-cluster vault"), ("DB_BACKUP_STORE", "in-cluster database")):
            if isinstance(data, Mapping) and data.get(key):
                stores[what] = str(data[key])
        found[name] = (doc.get("protected") is not False, stores)
    return found


def shared_stores(root: Path, names: list[str]) -> list[SharedStore]:
    """Every pair of environments whose backup stores overlap (any kind with any kind: a Vault store inside another
    env's database store is shared too)."""
    declared = declared_stores(root, names)
    shared = []
    ordered = sorted(declared)
    for i, first in enumerate(ordered):
        for second in ordered[i + 1:]:
            for kind, url in declared[first][1].items():
                for other_kind, other in declared[second][1].items():
                    if stores_overlap(url, other, root):
                        shared.append(SharedStore(kind if kind == other_kind else f"{kind}/{other_kind}", first, url,
                                                  second, other))
    return shared


def _unprotected_on_protected_stores(root: Path, name: str, names: list[str]) -> list[str]:
    declared = declared_stores(root, names)
    if name not in declared or declared[name][0]:
        return []
    problems = []
    for other, (protected, stores) in sorted(declared.items()):
        if other == name or not protected:
            continue
        for kind, url in declared[name][1].items():
            for other_kind, other_url in stores.items():
                if stores_overlap(url, other_url, root):
                    problems.append(f"{root / 'clusters' / name / ENV_FILE}: protected: false, but its {kind} store "
                                    f"{url} overlaps protected {other}'s {other_kind} store {other_url}: it looks "
                                    f"like production's; set protected: true, or give {name} stores of its own")
    return problems


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
    problems += _unprotected_on_protected_stores(base, name, names)
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
