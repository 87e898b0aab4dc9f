"""Render an environment offline, the way Flux would: every Flux Kustomization built with the real
kustomize (`kubectl kustomize`), then postBuild substitution from its ConfigMaps and Secrets.

Builds are cached on disk by content (buildcache): the key is a hash of the files a build can reach, its path and
components, and the kubectl binary. An unchanged tree renders without running kustomize; a change to a file builds
again every build that reaches it. The repository's files are parsed once per tree content (SourceIndex), however
many environments are rendered and wherever the tree is checked out."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cattle import tools, yamlio
from cattle.env import Environment
from cattle.errors import ToolError
from cattle.manifests import buildcache, flux
from cattle.manifests.substitute import disabled, substitute_object
from cattle.problems import Problem, describe

KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io"
ROOT = "flux-system"
_SOURCE_DIRS = ("clusters", "platform", "apps", "secrets")


@dataclass(frozen=True)
class RenderedObject:
    """One object as Flux would apply it, with the Flux Kustomization that applies it."""

    obj: dict[str, Any]
    kustomization: str
    source: str

    @property
    def name(self) -> str:
        return describe(self.obj)


@dataclass
class Rendering:
    """Everything one environment applies, and what went wrong while rendering it."""

    env: str
    objects: list[RenderedObject] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    kustomizations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def find(self, kind: str, namespace: str, name: str) -> RenderedObject | None:
        """The rendered object of that kind, namespace and name, if any."""
        for item in self.objects:
            meta = item.obj.get("metadata") or {}
            if item.obj.get("kind") == kind and meta.get("namespace") == namespace and meta.get("name") == name:
                return item
        return None


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize DIR` produces (ToolError on a failed build)."""
    proc = tools.run(["kubectl", "kustomize", str(directory)], timeout=120)
    return [d for d in yamlio.load_all(proc.stdout, f"kubectl kustomize {directory}") if isinstance(d, dict)]


_DIGESTS: dict[tuple[object, ...], str] = {}  # file signatures -> content digest, for this process


def tree_digest(root: Path) -> str:
    """A hash of every file a kustomize build of this repository can reach (names and contents). The contents are
    read again only when a file's name, size or modification time changed since the last call in this process."""
    files = [path for top in _SOURCE_DIRS for path in sorted((root / top).rglob("*")) if path.is_file()]
    kubectl = Path(tools.find("kubectl")).resolve()
    stats = [(p, p.stat()) for p in [*files, kubectl]]
    signature = tuple((str(p), st.st_size, st.st_mtime_ns) for p, st in stats)
    with _INDEX_LOCK:
        known = _DIGESTS.get(signature)
    if known is not None:
        return known
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(repr(signature[-1]).encode())  # the kubectl binary: path, size and mtime
    with _INDEX_LOCK:
        if len(_DIGESTS) > 64:
            _DIGESTS.clear()
        _DIGESTS[signature] = digest.hexdigest()
    return digest.hexdigest()


_INDEXES: dict[str, SourceIndex] = {}
_INDEX_LOCK = threading.Lock()


def source_index(root: Path, digest: str) -> SourceIndex:
    """The SourceIndex of this tree's content, parsed once per process (environments, and copies of the same tree,
    share it: it names files relative to the repository)."""
    with _INDEX_LOCK:
        if digest not in _INDEXES:
            if len(_INDEXES) > 4:
                _INDEXES.clear()
            _INDEXES[digest] = SourceIndex(root)
        return _INDEXES[digest]


class SourceIndex:
    """Maps (kind, name) to the repository files that declare it, to point errors at a file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._index: dict[tuple[str, str], list[str]] = {}
        for top in _SOURCE_DIRS:
            for path in sorted((root / top).rglob("*.yaml")):
                self._add(path)

    def _add(self, path: Path) -> None:
        try:
            docs = yamlio.load_all(path.read_text(), str(path))
        except (yaml.YAMLError, UnicodeDecodeError):
            return
        rel = str(path.relative_to(self.root))
        for doc in docs:
            if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
                key = (str(doc.get("kind")), str(doc["metadata"].get("name")))
                self._index.setdefault(key, []).append(rel)

    def find(self, obj: dict[str, Any], under: str | None = None) -> str:
        """The likeliest declaring file: under the Kustomization's path, else a base, else any."""
        name = str((obj.get("metadata") or {}).get("name"))
        candidates = self._index.get((str(obj.get("kind")), name), [])
        if not candidates:
            return under or "?"
        if under:
            prefix = under.removeprefix("./").rstrip("/") + "/"
            for candidate in candidates:
                if candidate.startswith(prefix):
                    return candidate
        for candidate in candidates:
            if "/base/" in candidate:
                return candidate
        return candidates[0]


def _variables(spec: dict[str, Any], objects: Iterable[dict[str, Any]],
               env: str, source: str, problems: list[Problem]) -> dict[str, str] | None:
    """The variables of a Kustomization's postBuild, or None when it has no postBuild."""
    post = spec.get("postBuild")
    if not post:
        return None
    found: dict[str, str] = {}
    by_key = {(o.get("kind"), (o.get("metadata") or {}).get("namespace", "default"),
               (o.get("metadata") or {}).get("name")): o for o in objects}
    for ref in post.get("substituteFrom") or []:
        target = by_key.get((ref.get("kind"), flux.NAMESPACE, ref.get("name")))
        if target is None:
            if not ref.get("optional"):
                problems.append(Problem(env, source, f"Kustomization {ROOT}/{spec.get('_name', '?')}",
                                        f"substituteFrom {ref.get('kind')} {ref.get('name')} is not declared",
                                        "declare it in clusters/<env>/ or mark the reference optional",
                                        "references"))
            continue
        found.update({str(k): str(v) for k, v in (target.get("data") or {}).items()})
        found.update({str(k): str(v) for k, v in (target.get("stringData") or {}).items()})
    found.update({str(k): str(v) for k, v in (post.get("substitute") or {}).items()})
    return found


def render(env: Environment, bootstrap_vars: dict[str, str] | None = None) -> Rendering:
    """Render the root Kustomization of an environment and, breadth first, every Flux Kustomization it applies.

    `bootstrap_vars` stands for the cattle-bootstrap ConfigMap bootstrap would create (None: it is absent).
    """
    root = env.root
    result = Rendering(env.name)
    digest = tree_digest(root)
    index = source_index(root, digest)
    sync = flux.sync_objects(env)
    if bootstrap_vars is not None:
        sync.append(flux.bootstrap_configmap(bootstrap_vars))
    result.kustomizations[ROOT] = sync[1]
    for obj in sync:
        origin = f"(bootstrap: {env.directory.relative_to(root)}/environment.yaml)"
        result.objects.append(RenderedObject(obj, ROOT, origin))
    all_objects: list[dict[str, Any]] = list(sync)
    queue: deque[tuple[str, dict[str, Any]]] = deque([(ROOT, sync[1])])
    seen: set[str] = {ROOT}
    with ThreadPoolExecutor(max_workers=4) as pool:
        while queue:
            batch = [queue.popleft() for _ in range(len(queue))]
            futures = [(name, ks, pool.submit(_build_cached, root, ks, lambda: digest)) for name, ks in batch]
            for name, ks, future in futures:
                path = str(ks["spec"].get("path", ""))
                try:
                    built = future.result()
                except ToolError as exc:
                    result.problems.append(Problem(env.name, path, f"Kustomization flux-system/{name}",
                                                   f"kustomize build failed: {exc.stderr or exc.message}"[:600],
                                                   "run `kubectl kustomize` on that path and fix the error it shows",
                                                   "render"))
                    continue
                all_objects.extend(built)
                spec = dict(ks["spec"], _name=name)
                variables = _variables(spec, all_objects, env.name, path, result.problems)
                for obj in built:
                    source = index.find(obj, path)
                    if variables is not None and not disabled(obj):
                        def missing(var: str, obj: dict[str, Any] = obj, source: str = source) -> None:
                            result.problems.append(Problem(
                                env.name, source, describe(obj), f"variable ${{{var}}} is not defined",
                                f"add {var} to clusters/{env.name}/cluster-vars.yaml or give it a default "
                                f"(${{{var}:=value}})", "substitution"))
                        try:
                            obj = substitute_object(obj, variables, missing)
                        except ValueError as exc:
                            result.problems.append(Problem(env.name, source, describe(obj), str(exc),
                                                           "quote the value in cluster-vars, or move the variable "
                                                           "into a longer string", "substitution"))
                            continue
                    result.objects.append(RenderedObject(obj, name, source))
                    if _is_flux_kustomization(obj):
                        child = obj["metadata"]["name"]
                        if child not in seen and _renders_from_this_repo(obj):
                            seen.add(child)
                            result.kustomizations[child] = obj
                            queue.append((child, obj))
    return result


def build(root: Path, path: str) -> list[dict[str, Any]]:
    """What kustomize builds at a repository path (before Flux's substitution), from the cache when unchanged."""
    return _build_cached(root, {"spec": {"path": path}}, lambda: tree_digest(root))


def _build_cached(root: Path, kustomization: dict[str, Any], tree: Callable[[], str]) -> list[dict[str, Any]]:
    """_build_one, from the on-disk cache when the files it reaches, its components and kubectl are unchanged."""
    spec = kustomization["spec"]
    directory = root / str(spec.get("path", "./"))
    directories = [directory, *(directory / str(c) for c in spec.get("components") or [])]
    key = buildcache.build_key(root, directories, tree, _kubectl_signature())
    return buildcache.cached(key, lambda: _build_one(root, kustomization))


def _kubectl_signature() -> str:
    kubectl = Path(tools.find("kubectl")).resolve()
    stat = kubectl.stat()
    return repr((str(kubectl), stat.st_size, stat.st_mtime_ns))


def _build_one(root: Path, kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    path = str(kustomization["spec"].get("path", "./"))
    directory = (root / path).resolve()
    if not str(directory).startswith(str(root.resolve())) or not directory.is_dir():
        raise ToolError(f"path {path} does not exist in the repository", stderr=f"path {path} does not exist")
    components = kustomization["spec"].get("components") or []
    if not components:
        return kustomize_build(directory)
    # Flux adds spec.components (relative to spec.path) to the build: wrap the path with them.
    resolved = [(directory / c).resolve() for c in components]
    missing = [str(c) for c, r in zip(components, resolved, strict=True) if not r.is_dir()]
    if missing:
        raise ToolError(f"components {missing} of {path} do not exist", stderr=f"component {missing[0]} not found")
    scratch = root / ".cattle" / "tmp"  # kustomize wants relative paths: wrap from inside the repository
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="components-", dir=scratch) as tmp:
        wrapper = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                   "resources": [os.path.relpath(directory, tmp)],
                   "components": [os.path.relpath(r, tmp) for r in resolved]}
        (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump(wrapper))
        return kustomize_build(Path(tmp))


def _is_flux_kustomization(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == "Kustomization" and str(obj.get("apiVersion", "")).startswith(KUSTOMIZATION_API)


def _renders_from_this_repo(obj: dict[str, Any]) -> bool:
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    return bool(ref.get("kind") == "GitRepository" and ref.get("name") == flux.SOURCE_NAME)
