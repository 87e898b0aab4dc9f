"""Start-up order across Flux Kustomizations and HelmReleases.

A workload or HelmRelease that reads a Secret when it starts (a volume, an env reference, a chart's
`existingSecret`/`secretName` value) must be applied by the Kustomization that applies the Secret, or by one that
depends on it, directly or not. Otherwise the reader's Kustomization can wait forever (`wait: true`) on a pod
that cannot start until a later layer applies the Secret: a deadlock no cluster-less test shows.

Likewise a HelmRelease whose values turn on a ServiceMonitor or PodMonitor must depend (directly or not) on the
release that installs the prometheus-operator CRDs: Helm cannot install a kind the API server does not serve yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from cattle.manifests.render import RenderedObject, Rendering

SECRET_VALUE_KEYS = ("secretName", "existingSecret")
POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}

Report = Callable[[RenderedObject, str, str], None]
# The release that installs the prometheus-operator CRDs (ServiceMonitor, PodMonitor, PrometheusRule).
MONITORING_CRDS_RELEASE = ("monitoring", "kube-prometheus-stack")


def dig(obj: Any, path: tuple[str, ...]) -> Any:
    """obj[path[0]][path[1]]…, or None where a level is missing."""
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _pod_secret_names(pod: dict[str, Any]) -> Iterator[str]:
    for volume in pod.get("volumes") or []:
        if dig(volume, ("secret", "secretName")):
            yield str(volume["secret"]["secretName"])
        for source in dig(volume, ("projected", "sources")) or []:
            if dig(source, ("secret", "name")):
                yield str(source["secret"]["name"])
    for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
        for variable in container.get("env") or []:
            name = dig(variable, ("valueFrom", "secretKeyRef", "name"))
            if name and not dig(variable, ("valueFrom", "secretKeyRef", "optional")):
                yield str(name)
        for source in container.get("envFrom") or []:
            if dig(source, ("secretRef", "name")) and not dig(source, ("secretRef", "optional")):
                yield str(source["secretRef"]["name"])


def _values_secret_names(values: Any) -> Iterator[str]:
    if isinstance(values, dict):
        for key, value in values.items():
            if key in SECRET_VALUE_KEYS and isinstance(value, str) and value:
                yield value
            else:
                yield from _values_secret_names(value)
    elif isinstance(values, list):
        for value in values:
            yield from _values_secret_names(value)


def secret_reads(obj: dict[str, Any]) -> set[tuple[str, str]]:
    """The (namespace, name) of every Secret an object needs when it starts."""
    kind = str(obj.get("kind"))
    namespace = str((obj.get("metadata") or {}).get("namespace"))
    if kind in POD_SPEC_PATHS and str(obj.get("apiVersion", "")).startswith(("apps/", "batch/", "v1")):
        pod = dig(obj, POD_SPEC_PATHS[kind]) or {}
        return {(namespace, name) for name in _pod_secret_names(pod)}
    if kind == "HelmRelease" and str(obj.get("apiVersion", "")).startswith("helm.toolkit.fluxcd.io/"):
        spec = obj.get("spec") or {}
        target = str(spec.get("targetNamespace") or namespace)
        return {(target, name) for name in _values_secret_names(spec.get("values"))}
    return set()


def _depends_on(objects: dict[tuple[str, str], dict[str, Any]], start: tuple[str, str]) -> set[tuple[str, str]]:
    """Every (namespace, name) that `start` depends on, directly or not (dependsOn defaults to its namespace)."""
    seen: set[tuple[str, str]] = set()
    todo = [start]
    while todo:
        node = todo.pop()
        for dep in dig(objects.get(node, {}), ("spec", "dependsOn")) or []:
            target = (str(dep.get("namespace") or node[0]), str(dep.get("name")))
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def check(rendering: Rendering, report: Report) -> None:
    """Report every start-up read of a Secret that a later (or unrelated) layer applies."""
    kustomizations = {("flux-system", name): obj for name, obj in rendering.kustomizations.items()}
    applied_by = {(str(i.obj["metadata"].get("namespace")), str(i.obj["metadata"].get("name"))): i.kustomization
                  for i in rendering.objects if i.obj.get("kind") == "Secret" and i.obj.get("apiVersion") == "v1"}
    for item in rendering.objects:
        for namespace, name in sorted(secret_reads(item.obj)):
            owner = applied_by.get((namespace, name))
            if owner is None or owner == item.kustomization:
                continue  # made in the cluster (e.g. by an operator), or applied together
            if ("flux-system", owner) not in _depends_on(kustomizations, ("flux-system", item.kustomization)):
                report(item, f"reads Secret {namespace}/{name} at start, but that Secret is applied by Kustomization "
                       f"{owner}, which {item.kustomization} does not depend on: with wait: true, Flux can wait on "
                       "it forever", f"add dependsOn {owner} to Kustomization {item.kustomization} (or move the "
                       "Secret to an earlier layer)")


def _turns_on_monitors(values: Any) -> bool:
    """Whether chart values enable a ServiceMonitor or PodMonitor (`serviceMonitor.enabled`, `podMonitorEnabled`)."""
    if isinstance(values, dict):
        for key, value in values.items():
            name = str(key).lower()
            if value is True and name in ("podmonitorenabled", "servicemonitorenabled"):
                return True
            if name in ("servicemonitor", "podmonitor") and isinstance(value, dict) and value.get("enabled") is True:
                return True
            if _turns_on_monitors(value):
                return True
    elif isinstance(values, list):
        return any(_turns_on_monitors(v) for v in values)
    return False


def check_chart_crds(rendering: Rendering, report: Report) -> None:
    """Report every HelmRelease that turns on monitors without waiting for the monitoring CRDs' release."""
    releases = {(str(i.obj["metadata"].get("namespace")), str(i.obj["metadata"].get("name"))): i
                for i in rendering.objects if i.obj.get("kind") == "HelmRelease"
                and str(i.obj.get("apiVersion", "")).startswith("helm.toolkit.fluxcd.io/")}
    if MONITORING_CRDS_RELEASE not in releases:
        return
    objs = {key: item.obj for key, item in releases.items()}
    for key, item in sorted(releases.items()):
        if key == MONITORING_CRDS_RELEASE or not _turns_on_monitors((item.obj.get("spec") or {}).get("values")):
            continue
        if MONITORING_CRDS_RELEASE not in _depends_on(objs, key):
            namespace, name = MONITORING_CRDS_RELEASE
            report(item, f"turns on a ServiceMonitor/PodMonitor but does not depend on HelmRelease {namespace}/{name}, "
                   "which installs their CRDs: its install fails while they are missing",
                   f"add dependsOn [{{name: {name}, namespace: {namespace}}}] to this HelmRelease")
