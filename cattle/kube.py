"""The one module that talks to the Kubernetes API (through the official `kubernetes` client's ApiClient).

Objects are applied server-side (field manager `cattle`) by their REST path, which comes from a table of the
built-in kinds cattle applies plus every CRD it has applied or seen: no discovery round-trips.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch

from cattle.errors import KubeApiError

FIELD_MANAGER = "cattle"


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the REST API."""

    group: str
    version: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base


_BUILTIN: dict[str, tuple[str, bool]] = {
    "v1/Namespace": ("namespaces", False), "v1/ServiceAccount": ("serviceaccounts", True),
    "v1/Secret": ("secrets", True), "v1/ConfigMap": ("configmaps", True), "v1/Service": ("services", True),
    "v1/ResourceQuota": ("resourcequotas", True), "v1/Pod": ("pods", True), "v1/Event": ("events", True),
    "apps/v1/Deployment": ("deployments", True), "apps/v1/StatefulSet": ("statefulsets", True),
    "apps/v1/DaemonSet": ("daemonsets", True),
    "rbac.authorization.k8s.io/v1/ClusterRole": ("clusterroles", False),
    "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ("clusterrolebindings", False),
    "rbac.authorization.k8s.io/v1/Role": ("roles", True),
    "rbac.authorization.k8s.io/v1/RoleBinding": ("rolebindings", True),
    "networking.k8s.io/v1/NetworkPolicy": ("networkpolicies", True),
    "apiextensions.k8s.io/v1/CustomResourceDefinition": ("customresourcedefinitions", False),
}


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


class Kube:
    """A connection to one cluster."""

    def __init__(self, api: k8s.ApiClient, timeout: float = 30) -> None:
        self.api = api
        self.timeout = timeout
        self.resources: dict[str, Resource] = {}
        for key, (plural, namespaced) in _BUILTIN.items():
            api_version, _, _kind = key.rpartition("/")
            self.resources[key] = Resource(*_split(api_version), plural, namespaced)

    @classmethod
    def from_kubeconfig(cls, path: Path | None, context: str | None = None) -> Kube:
        configuration = k8s.Configuration()
        if path is not None and not path.is_file():
            raise KubeApiError(f"no kubeconfig at {path}: cattle has not created this cluster on this machine "
                               "(or it was destroyed)", "run ./scripts/cattle bootstrap --env ENV first, or pass "
                               "--provider kubeconfig to reach an existing cluster through KUBECONFIG")
        try:
            k8s_config.load_kube_config(config_file=str(path) if path else None, context=context,
                                        client_configuration=configuration)
        except Exception as exc:  # ConfigException, or OSError for a missing file
            raise KubeApiError(f"cannot load kubeconfig {path or '(default)'} context {context or '(current)'}: "
                               f"{exc}", "check the provider created the cluster, or KUBECONFIG") from exc
        return cls(k8s.ApiClient(configuration))

    def close(self) -> None:
        self.api.close()

    # --- plumbing ------------------------------------------------------------------------------
    def learn(self, crd: dict[str, Any]) -> None:
        """Know the REST path of every version of a CRD."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        for version in spec.get("versions") or []:
            key = f"{spec.get('group')}/{version['name']}/{names.get('kind')}"
            self.resources[key] = Resource(str(spec.get("group")), str(version["name"]), str(names.get("plural")),
                                           spec.get("scope") == "Namespaced")

    def learn_flux(self, objects: list[dict[str, Any]]) -> None:
        """Know every CRD among a list of objects (e.g. the Flux install) without applying it."""
        for obj in objects:
            if obj.get("kind") == "CustomResourceDefinition":
                self.learn(obj)

    def resource(self, api_version: str, kind: str) -> Resource:
        found = self.resources.get(f"{api_version}/{kind}")
        if found is None:
            raise KubeApiError(f"cattle does not know the REST path of {kind} ({api_version})",
                               "apply its CustomResourceDefinition first (cattle learns kinds from CRDs)")
        return found

    def request(self, method: str, path: str, body: Any = None, query: list[tuple[str, str]] | None = None,
                content_type: str = "application/json", missing_ok: bool = False) -> Any:
        """One API call; the server's Status message becomes a KubeApiError."""
        try:
            data, _status, _ = self.api.call_api(
                path, method, query_params=query or [], body=body, auth_settings=["BearerToken"],
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                response_types_map={200: "object", 201: "object"}, _preload_content=True,
                _return_http_data_only=False, _request_timeout=self.timeout)
            return data
        except k8s.ApiException as exc:
            if exc.status == 404 and missing_ok:
                return None
            message = exc.reason or ""
            with contextlib.suppress(ValueError):
                message = json.loads(exc.body or "{}").get("message", message)
            raise KubeApiError(f"{method} {path} failed: {exc.status} {message}",
                               "check the cluster is up and cattle's credentials may do this") from exc
        except Exception as exc:  # urllib3 connection errors and timeouts
            raise KubeApiError(f"{method} {path}: cannot reach the Kubernetes API: {exc.__class__.__name__}: "
                               f"{str(exc)[:200]}", "check the cluster is running and the kubeconfig") from exc

    # --- objects -------------------------------------------------------------------------------
    def apply(self, obj: dict[str, Any], force: bool = False) -> dict[str, Any]:
        """Server-side apply as field manager `cattle` (created when the server does not create on apply)."""
        if obj.get("kind") == "CustomResourceDefinition":
            self.learn(obj)
        meta = obj.get("metadata") or {}
        resource = self.resource(str(obj["apiVersion"]), str(obj["kind"]))
        namespace = meta.get("namespace") if resource.namespaced else None
        query = [("fieldManager", FIELD_MANAGER)] + ([("force", "true")] if force else [])
        path = resource.path(namespace, meta["name"])
        result = self.request("PATCH", path, obj, query, "application/apply-patch+yaml", missing_ok=True)
        if result is None:
            result = self.request("POST", resource.path(namespace), obj, [("fieldManager", FIELD_MANAGER)])
        return dict(result or {})

    def annotate(self, api_version: str, kind: str, name: str, namespace: str | None,
                 annotations: dict[str, str]) -> None:
        """Set annotations with a JSON merge patch (as `flux reconcile` sets reconcile.fluxcd.io/requestedAt)."""
        resource = self.resource(api_version, kind)
        self.request("PATCH", resource.path(namespace if resource.namespaced else None, name),
                     {"metadata": {"annotations": annotations}}, [("fieldManager", FIELD_MANAGER)],
                     "application/merge-patch+json")

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        resource = self.resource(api_version, kind)
        found = self.request("GET", resource.path(namespace, name), missing_ok=True)
        return dict(found) if found else None

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        resource = self.resource(api_version, kind)
        found = self.request("GET", resource.path(namespace), missing_ok=True) or {}
        return [dict(item) for item in found.get("items") or []]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        resource = self.resource(api_version, kind)
        self.request("DELETE", resource.path(namespace, name), missing_ok=True)

    def version(self) -> str:
        found = self.request("GET", "/version") or {}
        return str(found.get("gitVersion", "unknown"))

    def watch(self, api_version: str, kind: str, seconds: float) -> Iterator[tuple[str, dict[str, Any]]]:
        """Events of a custom resource cluster-wide, for at most `seconds` (then the stream just ends)."""
        resource = self.resource(api_version, kind)
        custom = k8s.CustomObjectsApi(self.api)
        stream = k8s_watch.Watch()
        try:
            for event in stream.stream(custom.list_cluster_custom_object, resource.group, resource.version,
                                       resource.plural, timeout_seconds=max(1, int(seconds)),
                                       _request_timeout=seconds):
                yield str(event["type"]), dict(event["object"])
        except k8s.ApiException as exc:
            raise KubeApiError(f"watching {kind} failed: {exc.status} {exc.reason}") from exc
        except Exception:  # urllib3 read timeout on an idle stream: how a short watch window ends
            return
        finally:
            stream.stop()


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The status condition of a type, if present."""
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return None
