"""The fake Kubernetes API server for the fake cluster (tests/kubemock.py): kmock's KubernetesEmulator made to
behave like a real API server where cattle depends on it (tests/README.md lists what is real, approximated and
missing).

Custom kinds answer 404 until their CRD is applied and Established; namespaced objects need their namespace;
server-side apply creates a missing object; an apply over a field another field manager owns is refused (409) unless
forced; `metadata.generation` starts at 1 and grows with every spec change, `resourceVersion` with every write; writes
to the main resource leave `status` alone and `/status` writes touch nothing else.
"""

from __future__ import annotations

import copy
import re
import threading
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import dsl, enums, rendering
from kmock._internal.k8s import KubernetesError, KubernetesResourceNotFoundError

from cattle.manifests.ordering import dig

NAMESPACED_PATH = re.compile(r"/namespaces/[^/]+/[^/]+")


def _sees(view: Any, request: Any) -> bool:
    """Whether `view` (a chain of filters over the server's requests) holds `request`: the answer kmock's
    `View.__contains__` gives, without iterating every request served so far. kmock asks this of every reaction for
    every request, so its own answer costs O(requests) each time and a bootstrap test's thousands of polls went
    quadratic (60 % of a test's CPU). Only the views whose contents are a plain per-request filter are answered
    here; slices, exclusions, groups and reactions keep kmock's own answer."""
    match view:
        case dsl.Root():
            return any(seen is request for seen in reversed(view._requests))
        case dsl.Filter():
            return _sees(view._source, request) and bool(view.criteria(request))
        case dsl.Priority():
            return _sees(view._source, request)
        case _:
            return any(seen is request for seen in view)


def _contains(view: dsl.View, item: Any) -> bool:
    return _sees(view, item) if isinstance(item, rendering.Request) else _KMOCK_CONTAINS(view, item)


_KMOCK_CONTAINS = dsl.View.__contains__
dsl.View.__contains__ = _contains  # type: ignore[method-assign]

@attrs.define(kw_only=True)
class RealisticEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with the API-server semantics cattle relies on (module docstring)."""

    custom_groups: set[str] = attrs.field(factory=set)
    served: set[tuple[str, str]] = attrs.field(factory=set)  # (group, plural) whose CRD is Established
    namespace_names: set[str] = attrs.field(factory=set)
    created: list[tuple[str, str, str]] = attrs.field(factory=list)  # (plural, namespace, name) in creation order
    root_bootstrap_vars: dict[str, str] | None = None
    root_seen: bool = False
    changed: threading.Event = attrs.field(factory=threading.Event)  # set on every write: wakes the fake Flux
    # object key -> field path -> the field managers that own it (server-side apply's ownership, kept per leaf)
    owners: dict[Any, dict[tuple[str, ...], set[str]]] = attrs.field(factory=dict)
    updaters: dict[Any, dict[str, str]] = attrs.field(factory=dict)  # key -> manager -> apiVersion, by Update
    _version: int = 0

    def _key(self, request: Any) -> Any:
        namespace = request.namespace or ((request.data or {}).get("metadata") or {}).get("namespace")
        name = request.name or ((request.data or {}).get("metadata") or {}).get("name")
        return (request.resource, namespace if self._namespaced(request) else None, name)

    @staticmethod
    def _namespaced(request: Any) -> bool:
        return NAMESPACED_PATH.search(request.url.path) is not None

    def _existing(self, key: Any) -> Any:
        if key not in self._objects:
            return None
        found = self._objects[key]
        return None if found.deleted else found

    def _refusal(self, request: Any) -> KubernetesError | None:
        resource = request.resource
        group = resource.group or ""
        if group in self.custom_groups and (group, resource.plural) not in self.served:
            return KubernetesResourceNotFoundError()  # the CRD is not applied or not Established yet
        writes = request.action in (enums.action.CREATE, enums.action.UPDATE)
        if writes and self._namespaced(request) and request.subresource is None:
            namespace = self._key(request)[1]
            if namespace not in self.namespace_names:
                return KubernetesError(status=404, reason="NotFound", message=f'namespaces "{namespace}" not found',
                                       details={"name": namespace, "kind": "namespaces"})
        return None

    def _stamp(self, data: dict[str, Any], generation: int) -> None:
        self._version += 1
        meta = data.setdefault("metadata", {})
        meta["generation"] = generation
        meta["resourceVersion"] = str(self._version)

    async def _handle(self, request: Any) -> aiohttp.web.StreamResponse:
        if request.resource is None or request.action not in (
                enums.action.CREATE, enums.action.UPDATE, enums.action.FETCH, enums.action.LIST,
                enums.action.WATCH, enums.action.DELETE):
            return await super()._handle(request)
        refusal = self._refusal(request)
        if refusal is not None:
            return await self._render_error(refusal)
        if request.action in (enums.action.CREATE, enums.action.UPDATE, enums.action.DELETE):
            self.changed.set()
        key = self._key(request)
        existing = self._existing(key) if key[2] else None
        apply = any("apply-patch" in str(v) for k, v in request.headers.items() if k.lower() == "content-type")
        manager = str(request.params.get("fieldManager") or "unknown")
        force = str(request.params.get("force", "")).lower() == "true"
        writes_fields = (request.action in (enums.action.CREATE, enums.action.UPDATE) and request.subresource is None
                         and isinstance(request.data, dict))
        fields = owned_fields(request.data) if writes_fields else {}
        if apply and existing is not None and writes_fields and not force:
            conflicts = self._conflicts(key, manager, fields, existing.raw)
            if conflicts:
                return await self._render_error(_conflict_error(conflicts, self.updaters.get(key, {})))
        if request.action == enums.action.DELETE:
            self.owners.pop(key, None)
            self.updaters.pop(key, None)
        if request.action == enums.action.UPDATE and existing is None and apply:
            self._own(key, manager, fields, take=True)
            return await self._create_on_apply(request, key)
        old_spec = copy.deepcopy(existing.raw.get("spec")) if existing is not None else None
        if isinstance(request.data, dict):
            if request.subresource == "status":  # a /status write changes nothing else
                for other in [k for k in request.data if k != "status"]:
                    request.data.pop(other)
            elif request.action == enums.action.UPDATE:
                request.data.pop("status", None)
            if request.action == enums.action.CREATE:
                request.data.pop("status", None)
                self._stamp(request.data, 1)
                self._note_creation(key)
        response = await super()._handle(request)
        if writes_fields and response.status < 400:  # an apply shares fields it agreed on; force or an update takes
            self._own(key, manager, fields, take=force or not apply or request.action == enums.action.CREATE)
            updaters = self.updaters.setdefault(key, {})
            if apply:
                updaters.pop(manager, None)
            else:
                updaters[manager] = str(request.data.get("apiVersion") or request.resource.version or "v1")
        stored = self._existing(key) if key[2] else None
        if stored is not None and request.action == enums.action.UPDATE:
            generation = int((stored.raw.get("metadata") or {}).get("generation") or 1)
            changed = request.subresource is None and stored.raw.get("spec") != old_spec
            stamp: dict[str, Any] = {}
            self._stamp(stamp, generation + 1 if changed else generation)
            stored.patch(stamp)
        return response

    def _conflicts(self, key: Any, manager: str, fields: dict[tuple[str, ...], Any],
                   current: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
        """(other manager, field) for each field another manager owns and this apply would change."""
        owned = self.owners.get(key, {})
        found: list[tuple[str, tuple[str, ...]]] = []
        for path, value in fields.items():
            others = sorted(owned.get(path, set()) - {manager})
            if others and dig(current, path) != value:
                found.extend((other, path) for other in others)
        return found

    def _own(self, key: Any, manager: str, fields: dict[tuple[str, ...], Any], take: bool) -> None:
        owned = self.owners.setdefault(key, {})
        for path in fields:
            owned[path] = {manager} if take else owned.get(path, set()) | {manager}

    async def _create_on_apply(self, request: Any, key: Any) -> aiohttp.web.StreamResponse:
        """Server-side apply to a missing object creates it (201), as a real API server does."""
        data = dict(request.data or {})
        data.pop("status", None)
        data.setdefault("metadata", {}).update({"name": key[2], **({"namespace": key[1]} if key[1] else {})})
        self._stamp(data, 1)
        self._note_creation(key)
        async with self._lock:
            self._objects[key] = data
            raw = self._objects[key].raw
            await self._buses[request.resource].put({"type": "ADDED", "object": raw})
        return aiohttp.web.json_response(raw, status=201)

    def _note_creation(self, key: Any) -> None:
        resource, namespace, name = key
        self.created.append((resource.plural, namespace or "", name))
        if resource.plural == "kustomizations" and name == "flux-system" and not self.root_seen:
            self.root_seen = True  # kustomize-controller builds the root from what exists now
            for (res, ns, obj_name), obj in self._objects.items():
                if res.plural == "configmaps" and (ns, obj_name) == ("flux-system", "cattle-bootstrap") \
                        and not obj.deleted:
                    self.root_bootstrap_vars = dict(obj.raw.get("data") or {})


IDENTITY_FIELDS = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"),
                   ("metadata", "resourceVersion"), ("metadata", "generation"), ("metadata", "uid")}


def owned_fields(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """The leaf fields a write sets, as server-side apply tracks them (lists count as one field: atomic)."""
    found: dict[tuple[str, ...], Any] = {}
    for name, value in data.items():
        path = (*prefix, str(name))
        if path in IDENTITY_FIELDS or path == ("status",):
            continue
        if isinstance(value, dict) and value:
            found.update(owned_fields(value, path))
        else:
            found[path] = value
    return found


def _conflict_error(conflicts: list[tuple[str, tuple[str, ...]]], updaters: dict[str, str]) -> KubernetesError:
    """409 worded as the API server words it (k8s.io/apimachinery, pkg/util/managedfields/internal/conflict.go:
    one conflict on one line, several grouped by manager; a manager whose fields came from an update is printed
    with the API version it used)."""
    def shown(manager: str) -> str:
        return f'"{manager}"' + (f" using {updaters[manager]}" if manager in updaters else "")

    def field_path(path: tuple[str, ...]) -> str:
        return "." + ".".join(path)

    if len(conflicts) == 1:
        manager, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {shown(manager)}: {field_path(path)}"
    else:
        lines = []
        for manager in sorted({m for m, _ in conflicts}):
            lines.append(f"conflicts with {shown(manager)}:")
            lines.extend(f"- {field_path(path)}" for m, path in conflicts if m == manager)
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return KubernetesError(status=409, reason="Conflict", message=message, details={
        "causes": [{"reason": "FieldManagerConflict", "message": f"conflict with {shown(manager)}",
                    "field": field_path(path)} for manager, path in conflicts]})
