"""Everything live on a cluster, read once: every listable kind the API server serves (found by discovery, in each
group's preferred version), minus the kinds the baseline skips."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cattle.kube import Kube, Resource


@dataclass
class LiveObjects:
    """The live objects of one cluster, by uid and by (kind, namespace, name)."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    kinds_read: int = 0

    def __post_init__(self) -> None:
        self.by_uid = {str((o.get("metadata") or {}).get("uid")): o for o in self.objects}
        self.by_key = {key(o): o for o in self.objects}

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.by_key.get((kind, namespace, name))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name"))


def _served(kube: Kube, path: str, api_version: str) -> list[tuple[str, str, Resource]]:
    """(apiVersion, kind, REST path) of every listable top-level resource of one group version."""
    found = kube.request("GET", path) or {}
    group, _, version = api_version.rpartition("/")
    served: list[tuple[str, str, Resource]] = []
    for item in found.get("resources") or []:
        if "/" in str(item.get("name")) or "list" not in (item.get("verbs") or []):
            continue  # a subresource (status, scale), or a kind that cannot be listed (TokenReview)
        served.append((api_version, str(item["kind"]), Resource(group, version, str(item["name"]),
                                                                   bool(item.get("namespaced")))))
    return served


def read(kube: Kube, skip: set[str], progress: Callable[[str], None] = lambda _: None) -> LiveObjects:
    """List every object of every served kind but the skipped ones (cluster-wide, one request a kind)."""
    resources = _served(kube, "/api/v1", "v1")
    groups = kube.request("GET", "/apis") or {}
    for group in groups.get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        if preferred:
            resources += _served(kube, f"/apis/{preferred}", str(preferred))
    objects: list[dict[str, Any]] = []
    wanted = [(v, k, r) for v, k, r in resources if k not in skip]
    progress(f"reading {len(wanted)} kinds of object ({len(resources) - len(wanted)} skipped by the baseline)")
    for api_version, kind, resource in wanted:
        listed = kube.request("GET", resource.path(), missing_ok=True) or {}
        for item in listed.get("items") or []:
            obj = dict(item)
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)  # list items carry neither
            objects.append(obj)
    return LiveObjects(objects, len(wanted))
