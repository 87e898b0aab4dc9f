"""Does an environment fit the nodes it declares? Sum the CPU and memory requests of everything it runs — rendered
workloads, CNPG Clusters (with the Barman Cloud sidecar), the Helm charts' workloads (platform/chart-workloads.yaml),
the Envoy proxy of each Gateway — plus the declared overhead of the control plane, against `capacity`.

Flux itself is a rendered workload (clusters/flux-system). Jobs and CronJobs are transient: the largest one is added
on top of the steady total, since the scheduler must find room for it when it runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cattle.console import table
from cattle.env import Capacity, Environment
from cattle.errors import ConfigError
from cattle.manifests.ordering import POD_SPEC_PATHS, dig
from cattle.manifests.policy import EXACT_VERSION
from cattle.manifests.render import RenderedObject, Rendering
from cattle.quantities import cpu_millis, format_cpu, format_memory, memory_bytes
from cattle.yamlio import load_file

CHART_TABLE = "platform/chart-workloads.yaml"
REPLICATED = {"Deployment", "StatefulSet", "ReplicaSet"}
TRANSIENT = {"Job", "CronJob"}


@dataclass(frozen=True)
class Demand:
    """The requests of one workload (all its replicas)."""

    what: str
    cpu: int
    memory: int
    source: str
    transient: bool = False


@dataclass(frozen=True)
class Gap:
    """A workload whose requests cannot be counted: no explicit cpu/memory, or a chart the table does not know."""

    item: RenderedObject | None
    message: str
    hint: str


@dataclass
class Account:
    """Every demand of an environment against its capacity."""

    capacity: Capacity
    demands: list[Demand] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    @property
    def cpu(self) -> int:
        """Steady requests plus the largest transient one."""
        steady = sum(d.cpu for d in self.demands if not d.transient)
        return steady + max((d.cpu for d in self.demands if d.transient), default=0)

    @property
    def memory(self) -> int:
        steady = sum(d.memory for d in self.demands if not d.transient)
        return steady + max((d.memory for d in self.demands if d.transient), default=0)

    @property
    def fits(self) -> bool:
        return self.cpu <= self.capacity.cpu_millis and self.memory <= self.capacity.memory_bytes

    def summary(self) -> str:
        return (f"requests {format_cpu(self.cpu)} CPU / {format_memory(self.memory)} of capacity "
                f"{format_cpu(self.capacity.cpu_millis)} CPU / {format_memory(self.capacity.memory_bytes)}: "
                + ("fits" if self.fits else "DOES NOT FIT"))

    def render(self) -> str:
        rows = [[d.what + (" (transient; largest counts)" if d.transient else ""), format_cpu(d.cpu),
                 format_memory(d.memory)] for d in sorted(self.demands, key=lambda d: (-d.cpu, -d.memory))]
        return table(["workload", "cpu", "memory"], rows) + "\n" + self.summary()


def _requests(requests: Any) -> tuple[int, int, bool]:
    """(cpu, memory, both explicit) of a requests mapping."""
    requests = requests if isinstance(requests, Mapping) else {}
    cpu = cpu_millis(requests["cpu"]) if "cpu" in requests else 0
    memory = memory_bytes(requests["memory"]) if "memory" in requests else 0
    return cpu, memory, "cpu" in requests and "memory" in requests


def pod_requests(pod: Mapping[str, Any]) -> tuple[int, int, list[str]]:
    """A pod's effective requests as the scheduler computes them, and the containers without explicit ones."""
    cpu = memory = init_cpu = init_memory = 0
    missing = []
    for container in pod.get("containers") or []:
        c, m, explicit = _requests(dig(container, ("resources", "requests")))
        cpu, memory = cpu + c, memory + m
        missing += [] if explicit else [str(container.get("name"))]
    for container in pod.get("initContainers") or []:
        c, m, explicit = _requests(dig(container, ("resources", "requests")))
        missing += [] if explicit else [str(container.get("name"))]
        if container.get("restartPolicy") == "Always":  # a sidecar runs beside the containers
            cpu, memory = cpu + c, memory + m
        else:
            init_cpu, init_memory = max(init_cpu, c), max(init_memory, m)
    return max(cpu, init_cpu), max(memory, init_memory), missing


def _workload(item: RenderedObject) -> tuple[list[Demand], list[Gap]]:
    kind = str(item.obj.get("kind"))
    pod = dig(item.obj, POD_SPEC_PATHS[kind]) or {}
    cpu, memory, missing = pod_requests(pod)
    replicas = int(dig(item.obj, ("spec", "replicas")) or 1) if kind in REPLICATED else 1
    gaps = [Gap(item, f"container {name} has no explicit cpu and memory requests",
                "set resources.requests.cpu and .memory: the capacity check counts them") for name in missing]
    return [Demand(f"{item.name} x{replicas}", cpu * replicas, memory * replicas, item.source,
                   transient=kind in TRANSIENT)], gaps


def _barman_sidecar(rendering: Rendering, namespace: str, cluster: Mapping[str, Any],
                    plugin: str) -> tuple[int, int, bool] | None:
    """The requests of the Barman Cloud sidecar in each instance pod (None: the Cluster does not use the plugin)."""
    for entry in dig(cluster, ("spec", "plugins")) or []:
        if entry.get("name") != plugin:
            continue
        store = str(dig(entry, ("parameters", "barmanObjectName")))
        found = _index(rendering).get(("ObjectStore", namespace, store))
        requests = dig(found.obj, ("spec", "instanceSidecarConfiguration", "resources", "requests")) if found else None
        return _requests(requests)
    return None


def _cnpg_cluster(rendering: Rendering, item: RenderedObject, plugin: str) -> tuple[list[Demand], list[Gap]]:
    namespace = str((item.obj.get("metadata") or {}).get("namespace"))
    instances = int(dig(item.obj, ("spec", "instances")) or 1)
    cpu, memory, explicit = _requests(dig(item.obj, ("spec", "resources", "requests")))
    demands = [Demand(f"{item.name}: postgres x{instances}", cpu * instances, memory * instances, item.source),
               Demand(f"{item.name}: initdb/recovery Job", cpu, memory, item.source, transient=True)]
    gaps = [] if explicit else [Gap(item, "spec.resources.requests lacks cpu or memory",
                                    "set spec.resources.requests.cpu and .memory of the Cluster")]
    sidecar = _barman_sidecar(rendering, namespace, item.obj, plugin)
    if sidecar is not None:
        s_cpu, s_memory, s_explicit = sidecar
        demands.append(Demand(f"{item.name}: Barman Cloud sidecar x{instances}", s_cpu * instances,
                              s_memory * instances, item.source))
        if not s_explicit:
            gaps.append(Gap(item, "the Barman Cloud sidecar has no explicit requests", "set the ObjectStore's "
                            "spec.instanceSidecarConfiguration.resources.requests (cpu and memory)"))
    return demands, gaps


def chart_name(rendering: Rendering, item: RenderedObject) -> tuple[str, str]:
    """(chart, version) of a HelmRelease: spec.chart.spec, or the OCIRepository its chartRef names."""
    spec = dig(item.obj, ("spec", "chart", "spec"))
    if spec is not None:
        return str(spec.get("chart")), str(spec.get("version"))
    ref = dig(item.obj, ("spec", "chartRef")) or {}
    namespace = str(ref.get("namespace") or (item.obj.get("metadata") or {}).get("namespace"))
    source = _index(rendering).get((str(ref.get("kind")), namespace, str(ref.get("name"))))
    if source is None:
        return "?", "?"
    url = str(dig(source.obj, ("spec", "url")) or "")
    return url.rstrip("/").rsplit("/", 1)[-1], str(dig(source.obj, ("spec", "ref", "tag")))


def _values(values: Any, path: str) -> Any:
    node = values
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _helm_release(rendering: Rendering, item: RenderedObject,
                  charts: Mapping[str, Any]) -> tuple[list[Demand], list[Gap]]:
    chart, version = chart_name(rendering, item)
    row = charts.get(chart)
    if row is None:
        return [], [Gap(item, f"chart {chart} is not in {CHART_TABLE}: its workloads cannot be counted",
                        f"add the chart's workloads and the values paths of their requests to {CHART_TABLE}")]
    gaps = []
    if str(row.get("version")) != version and EXACT_VERSION.match(version):  # a range is the pinning rule's
        gaps.append(Gap(item, f"{CHART_TABLE} describes {chart} {row.get('version')}, the HelmRelease pins {version}",
                        f"re-read the chart's values.yaml at {version} and update its row"))
    values = dig(item.obj, ("spec", "values")) or {}
    demands = []
    for workload in row.get("workloads") or []:
        if "enabled" in workload and _values(values, workload["enabled"]) is False:
            continue
        cpu, memory, explicit = _requests(_values(values, workload["requests"]))
        count = int(_values(values, workload.get("replicas", "")) or 1) * int(workload.get("containers", 1))
        demands.append(Demand(f"{item.name}: {workload['name']} x{count}", cpu * count, memory * count, item.source))
        if not explicit:
            gaps.append(Gap(item, f"chart workload {workload['name']} has no explicit requests in the values",
                            f"set spec.values.{workload['requests']} (cpu and memory)"))
    return demands, gaps


def _index(rendering: Rendering) -> dict[tuple[str, str, str], RenderedObject]:
    """Rendered objects by (kind, namespace or '', name)."""
    found = {}
    for item in rendering.objects:
        meta = item.obj.get("metadata") or {}
        found[(str(item.obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))] = item
    return found


def _envoy_proxies(rendering: Rendering, proxy: Mapping[str, Any]) -> tuple[list[Demand], list[Gap]]:
    """The Envoy Deployment Envoy Gateway creates for each Gateway of its GatewayClasses."""
    by_kind = _index(rendering)
    demands, gaps = [], []
    default_cpu, default_memory = cpu_millis(proxy["default"]["cpu"]), memory_bytes(proxy["default"]["memory"])
    fixed_cpu = cpu_millis(proxy["shutdownManager"]["cpu"])
    fixed_memory = memory_bytes(proxy["shutdownManager"]["memory"])
    for (kind, _, _), gateway in sorted(by_kind.items()):
        if kind != "Gateway":
            continue
        gateway_class = by_kind.get(("GatewayClass", "", str(dig(gateway.obj, ("spec", "gatewayClassName")))))
        if gateway_class is None or dig(gateway_class.obj, ("spec", "controllerName")) != proxy["controllerName"]:
            continue
        ref = dig(gateway_class.obj, ("spec", "parametersRef")) or {}
        params = by_kind.get(("EnvoyProxy", str(ref.get("namespace")), str(ref.get("name"))))
        deployment = dig(params.obj, ("spec", "provider", "kubernetes", "envoyDeployment")) if params else None
        cpu, memory, explicit = _requests(dig(deployment or {}, ("container", "resources", "requests")))
        if not explicit:
            cpu, memory = default_cpu, default_memory
            gaps.append(Gap(gateway, f"the Envoy proxy of this Gateway has no explicit requests (upstream default "
                            f"{proxy['default']['cpu']}/{proxy['default']['memory']})", "reference an EnvoyProxy "
                            "from the GatewayClass (spec.parametersRef) that sets spec.provider.kubernetes."
                            "envoyDeployment.container.resources.requests"))
        replicas = int(dig(deployment or {}, ("replicas",)) or 1)
        demands.append(Demand(f"{gateway.name}: Envoy proxy + shutdown-manager x{replicas}",
                              (cpu + fixed_cpu) * replicas, (memory + fixed_memory) * replicas, gateway.source))
    return demands, gaps


def load_charts(root: Path) -> dict[str, Any]:
    """platform/chart-workloads.yaml."""
    doc = load_file(root / CHART_TABLE)
    if not isinstance(doc, Mapping) or not isinstance(doc.get("charts"), Mapping):
        raise ConfigError(f"{root / CHART_TABLE}: needs a charts mapping", "see the comment at its top")
    return dict(doc)


def account(environment: Environment, rendering: Rendering) -> Account | None:
    """What an environment asks of its nodes (None: it declares no capacity)."""
    if environment.capacity is None:
        return None
    table_doc = load_charts(environment.root)
    capacity = environment.capacity
    result = Account(capacity, [Demand("control plane and kube-system (declared: capacity.overhead)",
                                       capacity.overhead_cpu_millis, capacity.overhead_memory_bytes,
                                       f"clusters/{environment.name}/environment.yaml")])
    plugin = str(dig(table_doc, ("barmanSidecar", "plugin")))
    for item in rendering.objects:
        kind, group = str(item.obj.get("kind")), str(item.obj.get("apiVersion", "")).rpartition("/")[0]
        found: tuple[list[Demand], list[Gap]] = ([], [])
        if kind in POD_SPEC_PATHS and group in ("", "apps", "batch"):
            found = _workload(item)
        elif kind == "Cluster" and group == "postgresql.cnpg.io":
            found = _cnpg_cluster(rendering, item, plugin)
        elif kind == "HelmRelease" and group == "helm.toolkit.fluxcd.io":
            found = _helm_release(rendering, item, table_doc["charts"])
        result.demands += found[0]
        result.gaps += found[1]
    proxies = _envoy_proxies(rendering, table_doc["envoyProxy"])
    result.demands += proxies[0]
    result.gaps += proxies[1]
    return result
