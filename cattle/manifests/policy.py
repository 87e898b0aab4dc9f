"""Rules every rendered environment must satisfy beyond its schemas: pinned versions, resources and probes,
no plaintext Secrets, references that resolve, an acyclic and shallow dependency graph, declared namespaces,
Secrets applied no later than what reads them at start (cattle.manifests.ordering), no scraped metrics path
forwarded by a Gateway route (cattle.manifests.exposure)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cattle import yamlio
from cattle.manifests import exposure, ordering
from cattle.manifests.render import KUSTOMIZATION_API, RenderedObject, Rendering
from cattle.manifests.substitute import LEFTOVER, disabled
from cattle.problems import Problem
from cattle.schemas import SchemaStore
from cattle.secrets.plaintext import envelope_problem, secrets_in
from cattle.yamlio import strings_in

MAX_DEPTH = 3
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
BUILTIN_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}
POD_PATHS = ordering.POD_SPEC_PATHS
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"}
UNPINNED = "platform/unpinned-images.yaml"


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


class _Checker:
    def __init__(self, rendering: Rendering, store: SchemaStore, unpinned: Mapping[str, str]) -> None:
        self.rendering = rendering
        self.store = store
        self.unpinned = unpinned
        self.problems: list[Problem] = []

    def add(self, item: RenderedObject, rule: str, message: str, hint: str) -> None:
        self.problems.append(Problem(self.rendering.env, item.source, item.name, message, hint, rule))

    # --- schemas ---------------------------------------------------------------------------
    def schemas(self, item: RenderedObject) -> None:
        obj = item.obj
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        applied = {k: v for k, v in obj.items() if k != "sops"}  # kustomize-controller strips it on decrypt
        errors = self.store.schema_errors(applied)
        if errors is None:
            self.add(item, "schema", f"unknown kind {kind} (apiVersion {api_version}): no Kubernetes schema "
                     "and no vendored CRD", "fix apiVersion/kind, or vendor the CRD under vendor/crds/")
            return
        for where, message in errors:
            self.add(item, "schema", f"{where}: {message}"[:300],
                     f"fix {where} to match the {kind} schema (a typo or a wrong type)")

    # --- pinning ---------------------------------------------------------------------------
    def images(self, item: RenderedObject) -> None:
        kind = item.obj.get("kind")
        images: list[str] = []
        if kind in POD_PATHS:
            pod = ordering.dig(item.obj, POD_PATHS[str(kind)]) or {}
            for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
                images.append(str(container.get("image", "")))
        elif kind == "Cluster" and _group(str(item.obj.get("apiVersion"))) == "postgresql.cnpg.io":
            image = ordering.dig(item.obj, ("spec", "imageName"))
            if image:
                images.append(str(image))
        elif kind == "HelmRelease" and _group(str(item.obj.get("apiVersion"))) == "helm.toolkit.fluxcd.io":
            for where, tag in values_image_tags(ordering.dig(item.obj, ("spec", "values")) or {}):
                if "@sha256:" not in tag:
                    self.add(item, "pinning", f"values {where} sets image tag {tag!r} without a digest",
                             f"pin it as {tag or 'TAG'}@sha256:<digest> (or set the chart's digest key)")
        for image in images:
            if "@sha256:" in image:
                continue
            name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
            if not tag or tag == "latest":
                self.add(item, "pinning", f"image {image!r} is not pinned (tag {tag or 'missing'})",
                         f"use an exact version tag or a digest, e.g. {name or image}:1.2.3")
            elif image not in self.unpinned:
                self.add(item, "pinning", f"image {image!r} is pinned by tag only (a tag can be re-pushed)",
                         f"pin it by digest: {image}@sha256:<digest>, or list it with the reason in {UNPINNED}")

    def charts(self, item: RenderedObject) -> None:
        obj, kind = item.obj, item.obj.get("kind")
        group = _group(str(obj.get("apiVersion")))
        if kind == "HelmRelease" and group == "helm.toolkit.fluxcd.io":
            spec = ordering.dig(obj, ("spec", "chart", "spec"))
            if spec is not None:
                version = str(spec.get("version", "") or "")
                if not EXACT_VERSION.match(version):
                    self.add(item, "pinning", f"chart {spec.get('chart')} version {version or '(missing)'!r} "
                             "is not an exact version", "set spec.chart.spec.version to an exact release, e.g. 1.2.3")
        if kind == "OCIRepository" and group == "source.toolkit.fluxcd.io":
            ref = ordering.dig(obj, ("spec", "ref")) or {}
            tag, semver, digest = ref.get("tag"), ref.get("semver"), ref.get("digest")
            if digest:
                return
            if semver and not EXACT_VERSION.match(str(semver)):
                self.add(item, "pinning", f"OCI ref semver {semver!r} is a range", "pin ref.tag or ref.digest")
            elif not semver and (not tag or tag == "latest"):
                self.add(item, "pinning", f"OCI ref tag {tag or '(missing)'!r} is not pinned",
                         "set spec.ref.tag to an exact version or spec.ref.digest")

    # --- workloads -------------------------------------------------------------------------
    def workloads(self, item: RenderedObject) -> None:
        kind = str(item.obj.get("kind"))
        if kind not in POD_PATHS or not str(item.obj.get("apiVersion", "")).startswith(("apps/", "batch/", "v1")):
            return
        pod = ordering.dig(item.obj, POD_PATHS[kind]) or {}
        for container in pod.get("containers") or []:
            name = container.get("name", "?")
            resources = container.get("resources") or {}
            requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
            if "cpu" not in requests or "memory" not in requests or "memory" not in limits:
                self.add(item, "resources", f"container {name} lacks resources (requests cpu+memory, limits memory)",
                         "set resources.requests.cpu, resources.requests.memory and resources.limits.memory")
            if kind in LONG_RUNNING:
                missing = [p for p in ("readinessProbe", "livenessProbe") if p not in container]
                if missing:
                    self.add(item, "probes", f"container {name} has no {' or '.join(missing)}",
                             "add readiness and liveness probes (an HTTP health endpoint or a TCP check)")

    def secrets(self, item: RenderedObject) -> None:
        for secret in secrets_in(item.obj):
            problem = envelope_problem(secret)
            if problem:
                self.add(item, "secrets", f"plaintext Secret ({problem})",
                         "move it under secrets/<env>/ and encrypt it: ./scripts/cattle secrets.encrypt FILE")

    def leftovers(self, item: RenderedObject) -> None:
        if item.obj.get("kind") == "CustomResourceDefinition" or disabled(item.obj):
            return
        ks = self.rendering.kustomizations.get(item.kustomization, {})
        if ordering.dig(ks, ("spec", "postBuild")):
            return  # undefined variables there were reported while substituting
        for text in strings_in(item.obj):
            match = LEFTOVER.search(text)
            if match:
                self.add(item, "substitution", f"{match.group(0)} is never substituted: Kustomization "
                         f"{item.kustomization} has no postBuild", "add postBuild.substituteFrom cluster-vars to "
                         "that Kustomization, or escape the text as $${...}")
                return

    def namespaces(self, item: RenderedObject, declared: set[str]) -> None:
        obj = item.obj
        namespace = (obj.get("metadata") or {}).get("namespace")
        cluster_scoped = self.store.is_cluster_scoped(str(obj.get("apiVersion")), str(obj.get("kind")))
        if namespace is None and not cluster_scoped:
            self.add(item, "namespaces", "namespaced object has no namespace",
                     "set metadata.namespace (or `namespace:` in its kustomization.yaml)")
        elif namespace is not None and namespace not in declared and namespace not in BUILTIN_NAMESPACES:
            self.add(item, "namespaces", f"namespace {namespace!r} is not declared in this environment",
                     "add a Namespace object (platform/controllers/base/namespaces/)")


def _key(obj: dict[str, Any], default_ns: str | None = None) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind")), str(meta.get("namespace") or default_ns), str(meta.get("name")))


def _graph_checks(checker: _Checker) -> None:
    """References (dependsOn, sourceRef, chartRef) resolve; dependsOn graphs are acyclic and shallow."""
    objects = {(_key(i.obj)): i for i in checker.rendering.objects}
    graphs: dict[str, dict[tuple[str, str, str], list[tuple[str, str, str]]]] = {"Kustomization": {},
                                                                                  "HelmRelease": {}}
    for item in checker.rendering.objects:
        obj, kind = item.obj, str(item.obj.get("kind"))
        group = _group(str(obj.get("apiVersion")))
        if not group.endswith("toolkit.fluxcd.io"):
            continue
        namespace = str((obj.get("metadata") or {}).get("namespace"))
        spec = obj.get("spec") or {}
        refs: list[tuple[str, dict[str, Any]]] = []
        if kind == "Kustomization" and group == KUSTOMIZATION_API:
            refs.append(("sourceRef", spec.get("sourceRef") or {}))
        if kind == "HelmRelease":
            if ordering.dig(spec, ("chart", "spec", "sourceRef")):
                refs.append(("chart.spec.sourceRef", spec["chart"]["spec"]["sourceRef"]))
            if spec.get("chartRef"):
                refs.append(("chartRef", spec["chartRef"]))
        for field, ref in refs:
            target = (str(ref.get("kind")), str(ref.get("namespace") or namespace), str(ref.get("name")))
            if target not in objects:
                checker.add(item, "references", f"{field} {target[0]} {target[1]}/{target[2]} does not exist",
                            "declare that source, or fix kind/name/namespace of the reference")
        if kind in graphs:
            edges = graphs[kind].setdefault(_key(obj), [])
            for dep in spec.get("dependsOn") or []:
                target = (kind, str(dep.get("namespace") or namespace), str(dep.get("name")))
                if target not in objects:
                    checker.add(item, "references", f"dependsOn {target[1]}/{target[2]} does not exist",
                                f"fix the name, or declare the {kind} it should wait for")
                else:
                    edges.append(target)
    for kind, graph in graphs.items():
        _cycles_and_depth(checker, objects, kind, graph)


def _cycles_and_depth(checker: _Checker, objects: dict[tuple[str, str, str], RenderedObject], kind: str,
                      graph: dict[tuple[str, str, str], list[tuple[str, str, str]]]) -> None:
    depth: dict[tuple[str, str, str], int] = {}
    state: dict[tuple[str, str, str], int] = {}
    reported: set[frozenset[tuple[str, str, str]]] = set()

    def visit(node: tuple[str, str, str], stack: list[tuple[str, str, str]]) -> int:
        if state.get(node) == 2:
            return depth[node]
        if state.get(node) == 1:
            cycle = [*stack[stack.index(node):], node]
            members = frozenset(cycle)
            if members not in reported:
                reported.add(members)
                names = " -> ".join(f"{ns}/{name}" for _, ns, name in cycle)
                checker.add(objects[node], "dependencies", f"dependsOn cycle: {names}",
                            "remove one dependsOn entry of the cycle")
            return 0
        state[node] = 1
        deps = [visit(dep, [*stack, node]) for dep in graph.get(node, [])]
        state[node] = 2
        depth[node] = 1 + max(deps, default=0)
        return depth[node]

    for node in graph:
        visit(node, [])
    if kind == "Kustomization":
        for node, value in depth.items():
            if value > MAX_DEPTH:
                checker.add(objects[node], "dependencies",
                            f"dependency chain is {value} deep (limit {MAX_DEPTH}): Flux reconciles it serially",
                            "depend on fewer layers so Flux can reconcile in parallel")


def values_image_tags(values: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(path, tag) of every image a HelmRelease's values set: `image: {tag: ...}` (without a `digest` key beside it)
    or `image: "repo:tag"`, at any depth."""
    if isinstance(values, dict):
        for key, value in values.items():
            path = f"{where}.{key}" if where else str(key)
            if str(key) == "image" or str(key).endswith("Image"):
                if isinstance(value, dict) and value.get("tag") not in (None, "") and not value.get("digest"):
                    yield f"{path}.tag", str(value["tag"])
                    continue
                if isinstance(value, str) and ":" in value.rsplit("/", 1)[-1]:
                    yield path, value.rsplit(":", 1)[1] if "@" not in value else value
                    continue
            yield from values_image_tags(value, path)
    elif isinstance(values, list):
        for index, value in enumerate(values):
            yield from values_image_tags(value, f"{where}[{index}]")


def load_unpinned(root: Path) -> dict[str, str]:
    """The images git names by tag only because no digest could be found, each with the reason (UNPINNED)."""
    path = root / UNPINNED
    if not path.is_file():
        return {}
    doc = yamlio.load(path.read_text(), str(path)) or {}
    return {str(k): str(v) for k, v in (doc.get("images") or {}).items()}


def check(rendering: Rendering, store: SchemaStore, unpinned: Mapping[str, str] | None = None) -> list[Problem]:
    """Every schema and policy problem of a rendered environment."""
    checker = _Checker(rendering, store, unpinned or {})
    declared = {str((i.obj.get("metadata") or {}).get("name")) for i in rendering.objects
                if i.obj.get("kind") == "Namespace"}
    seen: dict[tuple[str, str, str, str], RenderedObject] = {}
    for item in rendering.objects:
        key = (_group(str(item.obj.get("apiVersion"))), *_key(item.obj))
        if key in seen and seen[key].kustomization != item.kustomization:
            checker.add(item, "duplicates", f"also applied by Kustomization {seen[key].kustomization}",
                        "declare each object in exactly one Flux Kustomization")
        seen[key] = item
        checker.schemas(item)
        checker.images(item)
        checker.charts(item)
        checker.workloads(item)
        checker.secrets(item)
        checker.leftovers(item)
        checker.namespaces(item, declared)
    _graph_checks(checker)
    ordering.check(rendering, lambda item, message, hint: checker.add(item, "ordering", message, hint))
    ordering.check_chart_crds(rendering, lambda item, message, hint: checker.add(item, "ordering", message, hint))
    exposure.check(rendering, lambda item, message, hint: checker.add(item, "exposure", message, hint))
    return checker.problems
