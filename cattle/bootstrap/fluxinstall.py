"""Install Flux from the vendored manifests (clusters/flux-system) with server-side apply: the namespace and
CRDs first, wait until every CRD is Established, then the controllers, wait until every Deployment is Available."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cattle import console
from cattle.bootstrap.reconcile import SYSTEM_CLOCK, Clock
from cattle.errors import WaitTimeout
from cattle.kube import Kube, condition
from cattle.manifests.render import build

FLUX_DIR = Path("clusters") / "flux-system"
_ORDER = ["Namespace", "CustomResourceDefinition", "ServiceAccount", "ResourceQuota", "ClusterRole",
          "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap", "Secret", "Service", "NetworkPolicy",
          "Deployment"]


def manifests(root: Path) -> list[dict[str, Any]]:
    """The Flux install objects, rendered with the real kustomize (from the build cache when unchanged)."""
    return build(root, str(FLUX_DIR))


def sort_for_apply(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Namespaces and CRDs first, workloads last; a kind not in the list goes just before the workloads."""
    def rank(obj: dict[str, Any]) -> float:
        kind = str(obj.get("kind"))
        return _ORDER.index(kind) if kind in _ORDER else _ORDER.index("Deployment") - 0.5
    return sorted(objects, key=rank)


def wait_until(check: Callable[[], tuple[bool, str]], timeout: float, what: str, interval: float = 0.5,
               clock: Clock = SYSTEM_CLOCK) -> None:
    """Poll `check` until it says done; WaitTimeout with its last words otherwise."""
    deadline = clock.monotonic() + timeout
    detail = ""
    while clock.monotonic() < deadline:
        done, detail = check()
        if done:
            return
        clock.sleep(interval)
    raise WaitTimeout(f"{what} not done within {timeout:.0f}s: {detail}",
                      "look at the objects named above (kubectl describe) and the controller logs")


def _established(kube: Kube, names: list[str]) -> tuple[bool, str]:
    pending = []
    for name in names:
        crd = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        cond = condition(crd or {}, "Established")
        if not cond or cond.get("status") != "True":
            pending.append(name)
    return not pending, f"CRDs not Established yet: {', '.join(pending)}"


def _available(kube: Kube, deployments: list[tuple[str, str]]) -> tuple[bool, str]:
    pending = []
    for namespace, name in deployments:
        found = kube.get("apps/v1", "Deployment", name, namespace) or {}
        cond = condition(found, "Available")
        if not cond or cond.get("status") != "True":
            pending.append(f"{namespace}/{name}" + (f" ({cond.get('message')})" if cond else ""))
    return not pending, f"Deployments not Available yet: {', '.join(pending)}"


def install(kube: Kube, objects: list[dict[str, Any]], timeout: float, clock: Clock = SYSTEM_CLOCK) -> int:
    """Apply the Flux install and wait for it; returns how many objects were applied."""
    ordered = sort_for_apply(objects)
    first = [o for o in ordered if o["kind"] in ("Namespace", "CustomResourceDefinition")]
    rest = [o for o in ordered if o not in first]
    # force: on a re-run kustomize-controller co-owns these fields (the root Kustomization applies the same
    # manifests); a newer Flux in git must win over the running one's values instead of failing with a conflict.
    for obj in first:
        kube.apply(obj, force=True)
    crds = [o["metadata"]["name"] for o in first if o["kind"] == "CustomResourceDefinition"]
    console.say(f"  applied {len(first)} namespaces and CRDs; waiting for {len(crds)} CRDs to be Established")
    wait_until(lambda: _established(kube, crds), timeout, "Flux CRDs", clock=clock)
    for obj in rest:
        kube.apply(obj, force=True)
    deployments = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in rest if o["kind"] == "Deployment"]
    console.say(f"  applied {len(rest)} controller objects; waiting for {len(deployments)} Deployments")
    wait_until(lambda: _available(kube, deployments), timeout, "Flux controllers", clock=clock)
    return len(ordered)
