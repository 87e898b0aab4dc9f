"""Schemas for validation: Kubernetes built-in kinds (kubernetes-validate's strict JSON schemas) and custom
resources (CRD openAPIV3Schema converted to JSON Schema, unknown fields rejected). Compiled once, cached."""

from __future__ import annotations

import copy
import functools
import gzip
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, TypeAlias

import jsonschema
import kubernetes_validate
from referencing import Registry, Resource

from cattle import yamlio

KUBERNETES_VERSION = "1.37.0"
_SCHEMA_ROOT = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
_BUILTIN_DIR = _SCHEMA_ROOT / f"v{KUBERNETES_VERSION}-local-strict"
_SKIP_KEYS = {"description", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
              "x-kubernetes-embedded-resource", "x-kubernetes-validations", "x-kubernetes-list-type",
              "x-kubernetes-list-map-keys", "x-kubernetes-map-type", "nullable", "example", "externalDocs"}
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs")
_SUBSCHEMA_ONE = ("items", "additionalProperties", "not")
_SUBSCHEMA_LIST = ("allOf", "anyOf", "oneOf")
_TOP_LEVEL = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}

Validator: TypeAlias = Any  # jsonschema ships no type information


def convert(node: Any) -> Any:
    """An openAPIV3Schema node as JSON Schema: closed objects, int-or-string, nullable, embedded resources."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SKIP_KEYS:
            continue
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: convert(v) for k, v in value.items()}
        elif key in _SUBSCHEMA_ONE and isinstance(value, dict):
            out[key] = convert(value)
        elif key in _SUBSCHEMA_LIST and isinstance(value, list):
            out[key] = [convert(v) for v in value]
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["type"] = ["integer", "string"]
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-embedded-resource"):
        out.setdefault("properties", {})
        for key, schema in _TOP_LEVEL.items():
            out["properties"].setdefault(key, schema)
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in out and not preserve and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def crd_schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{'group/version/Kind': JSON Schema} for every served version of a CRD."""
    spec = crd.get("spec") or {}
    group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
    result: dict[str, dict[str, Any]] = {}
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        raw = ((version.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object",
                                                                       "x-kubernetes-preserve-unknown-fields": True}
        schema = convert(raw)
        schema.setdefault("properties", {})
        for key, value in _TOP_LEVEL.items():
            schema["properties"].setdefault(key, value)
        schema["x-cattle-scope"] = spec.get("scope", "Namespaced")
        result[f"{group}/{version['name']}/{kind}"] = schema
    return result


_CRD_KINDS: dict[str, list[dict[str, Any]]] = {}  # file content digest -> its CRDs' names, for this process


def crd_kinds(path: Path) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions in a YAML file with their names, scope and versions only (what a client needs
    to address the kinds, not their schemas); parsed once per process for the same content."""
    data = path.read_bytes()
    key = hashlib.sha256(data).hexdigest()
    if key not in _CRD_KINDS:
        _CRD_KINDS[key] = [
            {"apiVersion": d.get("apiVersion"), "kind": d["kind"], "metadata": {"name": (d.get("metadata") or {})
                                                                                .get("name")},
             "spec": {"group": spec.get("group"), "names": spec.get("names"), "scope": spec.get("scope"),
                      "versions": [{"name": v.get("name"), "served": v.get("served"), "storage": v.get("storage")}
                                   for v in spec.get("versions") or []]}}
            for d in yamlio.load_all(data, str(path))
            if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
            for spec in [d.get("spec") or {}]]
    return copy.deepcopy(_CRD_KINDS[key])


def without_nulls(node: Any) -> Any:
    """A built-in object as the API server decodes it: a null in a map is the field's zero value, as if absent.
    (A custom resource's null is refused unless the field is nullable: the real API server answered `must be of type
    string: "null"` for an ObjectStore on the control plane tier.) Flux's substitution turns `key: ${VAR:=}` into
    such a null."""
    if isinstance(node, dict):
        return {k: without_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [without_nulls(item) for item in node]
    return node


def cache_dir() -> Path:
    """$CATTLE_CACHE_DIR, else ~/.cache/cattle (converted CRD schemas, keyed by content hash)."""
    if os.environ.get("CATTLE_CACHE_DIR"):
        return Path(os.environ["CATTLE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cattle"


class CrdFiles:
    """The vendored CRD files' contents, their digest and (parsed on first use, once per process) their CRDs."""

    _parsed: ClassVar[dict[str, list[dict[str, Any]]]] = {}  # digest -> CRDs, for the whole process
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, files: Iterable[Path]) -> None:
        digest = hashlib.sha256()
        self.contents: list[bytes] = []
        for path in sorted(files):
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)  # stored compressed, byte-identical to upstream once decompressed
            self.contents.append(data)
            digest.update(path.name.encode() + b"\0" + hashlib.sha256(data).digest())
        self.digest = digest.hexdigest()[:20]

    def crds(self) -> list[dict[str, Any]]:
        """Every CustomResourceDefinition in the files (the YAML is parsed once per process, under a lock)."""
        with self._lock:
            if self.digest not in self._parsed:
                self._parsed[self.digest] = [
                    doc for data in self.contents for doc in yamlio.load_all(data, "a CRD file")
                    if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"]
            return self._parsed[self.digest]


def cached_json(name: str, make: Callable[[], Any]) -> Any:
    """`make()`, kept in the cache directory as `name` (content-addressed by the caller); best effort."""
    cache = cache_dir() / name
    try:
        return json.loads(cache.read_text())
    except (OSError, ValueError):
        pass
    made = make()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(made))
        tmp.replace(cache)
    except OSError:
        pass
    return made


def load_crd_files(files: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """Converted schemas of every CRD in the files, cached on disk by content hash."""
    source = CrdFiles(files)

    def convert() -> dict[str, dict[str, Any]]:
        schemas: dict[str, dict[str, Any]] = {}
        for doc in source.crds():
            schemas.update(crd_schemas(doc))
        return schemas

    converted: dict[str, dict[str, Any]] = cached_json(f"crd-schemas-{source.digest}.json", convert)
    return converted


_RESULTS: dict[str, list[tuple[str, str]]] = {}  # hash of (schema, object) -> errors
_RESULTS_LOCK = threading.Lock()
_RESULTS_STATE = {"loaded": False, "changed": False}
RESULTS_FILE = "schema-results.json"
# the built-in schemas and the validator are part of every result's key: an upgrade of either checks everything again
ENGINE = ", ".join(f"{name} {metadata.version(name)}"
                   for name in ("kubernetes-validate", "jsonschema", "jsonschema-rs"))


def _load_results() -> None:
    """The results kept on disk by earlier runs (content-addressed, so never stale); called with the lock held."""
    if _RESULTS_STATE["loaded"]:
        return
    _RESULTS_STATE["loaded"] = True
    try:
        kept = json.loads((cache_dir() / RESULTS_FILE).read_text())
    except (OSError, ValueError):
        return
    if isinstance(kept, dict):
        for key, errors in kept.items():
            _RESULTS.setdefault(str(key), [(str(where), str(message)) for where, message in errors])


def save_schema_results() -> None:
    """Keep this process's schema results on disk for the next run (best effort: a read-only cache costs time)."""
    with _RESULTS_LOCK:
        if not _RESULTS_STATE["changed"] or len(_RESULTS) > 50_000:
            return
        data = json.dumps(_RESULTS)
        _RESULTS_STATE["changed"] = False
    path = cache_dir() / RESULTS_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(data)
        tmp.replace(path)
    except OSError:
        pass
@functools.lru_cache(maxsize=1)
def _builtin_definitions() -> dict[str, Any]:
    """The definitions every built-in schema refers to (a large file), parsed once per process."""
    definitions: dict[str, Any] = json.loads((_BUILTIN_DIR / "_definitions.json").read_text())
    return definitions


_FAST: dict[str, Any] = {}  # schema key -> jsonschema-rs validator (None: it could not compile the schema)
_FAST_LOCK = threading.Lock()
_FAST_REGISTRY: list[Any] = []  # the built-in schemas' shared definitions, once per process


def _fast_validator(schema_key: str, schema: dict[str, Any], builtin: bool) -> Any:
    """A compiled (Rust) validator of the same schema, to tell valid objects fast; None when it cannot compile it
    (the reference engine then checks every object). Formats are not asserted, as by the reference engine."""
    with _FAST_LOCK:
        if schema_key in _FAST:
            return _FAST[schema_key]
        import jsonschema_rs

        try:
            if builtin:
                if not _FAST_REGISTRY:
                    definitions = _builtin_definitions()
                    _FAST_REGISTRY.append(jsonschema_rs.Registry([(definitions["$id"], definitions)]))
                fast: Any = jsonschema_rs.Draft202012Validator(schema, registry=_FAST_REGISTRY[0],
                                                               validate_formats=False)
            else:
                fast = jsonschema_rs.Draft7Validator(schema, validate_formats=False)
        except Exception:  # any schema it cannot compile: the reference engine checks every object
            fast = None
        _FAST[schema_key] = fast
        return fast


_CRD_DIGESTS: dict[int, tuple[dict[str, Any], str]] = {}  # id(schema) -> (the schema, kept alive; its digest)


class SchemaStore:
    """Looks up and compiles the validator for an apiVersion/kind; None means the kind is unknown."""

    def __init__(self, crds: dict[str, dict[str, Any]]) -> None:
        self._crds = crds
        self._compiled: dict[str, Validator | None] = {}
        self._registry: Registry[Any] | None = None

    def add_crds(self, docs: Iterable[dict[str, Any]]) -> None:
        """Also know the CRDs an environment declares itself (e.g. Flux's own)."""
        for doc in docs:
            if doc.get("kind") == "CustomResourceDefinition":
                for key, schema in crd_schemas(doc).items():
                    self._crds.setdefault(key, schema)

    def known_kinds(self) -> set[str]:
        return {key.rsplit("/", 1)[1] for key in self._crds}

    def _builtin_registry(self) -> Registry[Any]:
        if self._registry is None:
            self._registry = Resource.from_contents(_builtin_definitions()) @ Registry()
        return self._registry

    def validator(self, api_version: str, kind: str) -> Validator | None:
        group, _, version = api_version.rpartition("/")
        key = f"{group}/{version}/{kind}"
        if key in self._compiled:
            return self._compiled[key]
        found: Validator | None = None
        if key in self._crds:
            found = jsonschema.Draft7Validator(self._crds[key])
        elif "." not in group or group.endswith(".k8s.io"):
            prefix = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
            path = _BUILTIN_DIR / f"{kind.lower()}-{prefix}.json"
            if path.is_file():
                schema = json.loads(path.read_text())
                found = jsonschema.Draft202012Validator(schema, registry=self._builtin_registry())
        self._compiled[key] = found
        return found

    def schema_errors(self, obj: dict[str, Any], limit: int = 5) -> list[tuple[str, str]] | None:
        """(path, message) of the object's first schema errors, or None for an unknown kind. An object identical
        to one already checked against the same schema (most of the base, in every environment) is not checked
        again: results are kept per process by the schema's and the object's content."""
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        validator = self.validator(api_version, kind)
        if validator is None:
            return None
        if self._schema_key(api_version, kind).startswith("builtin:"):
            obj = without_nulls(obj)  # a custom resource's null is refused, as the API server does
        key = hashlib.sha256(f"{self._schema_key(api_version, kind)}\0{limit}\0"
                             f"{json.dumps(obj, sort_keys=True, default=str)}".encode()).hexdigest()
        with _RESULTS_LOCK:
            _load_results()
            if key in _RESULTS:
                return list(_RESULTS[key])
        schema_key = self._schema_key(api_version, kind)
        fast = _fast_validator(schema_key, validator.schema, builtin=schema_key.startswith("builtin:"))
        if fast is not None and fast.is_valid(obj):
            found: list[tuple[str, str]] = []  # valid for the compiled engine: nothing to report
        else:  # invalid (or no compiled validator): the reference engine says what and where
            errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))[:limit]
            found = [(".".join(str(p) for p in error.absolute_path) or "(top level)", error.message)
                     for error in errors]
        with _RESULTS_LOCK:
            if len(_RESULTS) > 50_000:  # a long-lived process (a test session) must not grow without bound
                _RESULTS.clear()
            _RESULTS[key] = found
            _RESULTS_STATE["changed"] = True
        return found

    def _schema_key(self, api_version: str, kind: str) -> str:
        group, _, version = api_version.rpartition("/")
        crd = self._crds.get(f"{group}/{version}/{kind}")
        if crd is None:
            return f"builtin:{ENGINE}:{api_version}/{kind}"
        marker = id(crd)
        if marker not in _CRD_DIGESTS:
            _CRD_DIGESTS[marker] = (crd, hashlib.sha256(json.dumps(crd, sort_keys=True).encode()).hexdigest())
        return f"crd:{_CRD_DIGESTS[marker][1]}"

    def is_cluster_scoped(self, api_version: str, kind: str) -> bool:
        """Whether a kind lives outside namespaces (built-ins by list; CRDs by their declared scope)."""
        group, _, version = api_version.rpartition("/")
        crd = self._crds.get(f"{group}/{version}/{kind}")
        if crd is not None:
            return crd.get("x-cattle-scope") == "Cluster"
        return kind in _CLUSTER_SCOPED_BUILTINS


_CLUSTER_SCOPED_BUILTINS = {
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "APIService", "IngressClass", "RuntimeClass", "CSIDriver", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}
