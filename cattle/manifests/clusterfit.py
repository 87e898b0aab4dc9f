"""Validate rules about the real cluster an environment declares, which no mock API can show: its Kubernetes
version is inside every component's supported range (and a kind node image is one built for the pinned kind),
its workloads' requests fit its capacity, and its timeouts nest within the RTO budget."""

from __future__ import annotations

from cattle.env import Environment
from cattle.manifests import capacity, compatibility, timeouts
from cattle.manifests.render import Rendering
from cattle.problems import Problem
from cattle.quantities import format_cpu, format_memory


def _env_file(environment: Environment) -> str:
    return f"clusters/{environment.name}/environment.yaml"


def compatibility_problems(environment: Environment, rendering: Rendering) -> list[Problem]:
    """kubernetes.version outside a component's range; a table row that no longer describes the pin."""
    root, version, where = environment.root, environment.kubernetes.version, _env_file(environment)
    table = compatibility.load_table(root)
    found = []
    for component, pinned in compatibility.installed(rendering, root, table):
        if not component.supports(version):
            found.append(Problem(environment.name, where, "kubernetes.version",
                                 f"Kubernetes {version} is outside {component.name} {component.version}'s supported "
                                 f"range {component.range} ({component.source})",
                                 f"run a Kubernetes version every component supports, or pin a {component.name} "
                                 f"release that supports {version} (and update {compatibility.TABLE})",
                                 "compatibility"))
        if not compatibility.pin_matches(component, pinned):
            shown = pinned if len(pinned) < 40 else next(iter(component.pin.values()))
            found.append(Problem(environment.name, compatibility.TABLE, component.name,
                                 f"the table describes {component.name} {component.version}, but the repository "
                                 f"pins {shown}", "re-read the supported Kubernetes range upstream for the pinned "
                                 "version and update its row (version, range, source)", "compatibility"))
    image = environment.kubernetes.node_image
    if environment.provider == "kind" and image is not None:
        pin = compatibility.load_kind_pin(root)
        if image not in pin.images:
            found.append(Problem(environment.name, where, "kubernetes.nodeImage",
                                 f"{image} is not an image built for kind {pin.version} ({compatibility.KIND_PIN})",
                                 f"use one of the images its release notes list: {pin.source}", "compatibility"))
    return found


def capacity_problems(environment: Environment, rendering: Rendering) -> list[Problem]:
    """Workloads without explicit requests, and requests (plus the declared overhead) above capacity."""
    found = capacity.account(environment, rendering)
    if found is None:
        return []
    problems = [Problem(environment.name, gap.item.source if gap.item else _env_file(environment),
                        gap.item.name if gap.item else "capacity", gap.message, gap.hint, "capacity")
                for gap in found.gaps]
    if not found.fits:
        top = sorted((d for d in found.demands if not d.transient), key=lambda d: -d.cpu)[:5]
        largest = ", ".join(f"{d.what} {format_cpu(d.cpu)}/{format_memory(d.memory)}" for d in top)
        problems.append(Problem(environment.name, _env_file(environment), "capacity",
                                f"{found.summary()}; pods would stay Pending. Largest: {largest}",
                                "lower requests in this environment's overlays, or declare the larger nodes it "
                                "really runs on (`./scripts/cattle dr.runner` lists every workload)", "capacity"))
    return problems


def timeout_problems(environment: Environment, rendering: Rendering) -> list[Problem]:
    """A HelmRelease timeout longer than its Kustomization's; a critical path of timeouts over the RTO budget."""
    problems = [Problem(environment.name, item.source, item.name,
                        f"timeout {timeouts.show(timeout)} is longer than Kustomization {layer.name}'s "
                        f"{timeouts.show(layer.timeout)}, which waits for it", f"set spec.timeout to at most "
                        f"{timeouts.show(layer.timeout)} (or raise the Kustomization's)", "timeouts")
                for item, timeout, layer in timeouts.release_overruns(rendering)]
    path = timeouts.critical_path(timeouts.layers(rendering))
    total = sum(layer.timeout for layer in path)
    if total > environment.rto_budget:
        chain = " -> ".join(f"{layer.name} {timeouts.show(layer.timeout)}" for layer in path)
        last = path[-1].item
        problems.append(Problem(environment.name, last.source if last else _env_file(environment), "rto.budget",
                                f"the Kustomization timeouts the rebuild waits on add up to {timeouts.show(total)} "
                                f"({chain}), over rto.budget {timeouts.show(environment.rto_budget)}: a rebuild "
                                "can overrun the budget while every layer is still within its timeout",
                                "shorten those timeouts (HelmReleases must stay within theirs) or raise rto.budget",
                                "timeouts"))
    return problems


def check(environment: Environment, rendering: Rendering) -> list[Problem]:
    """Every problem of the environment against the real cluster it declares."""
    return (compatibility_problems(environment, rendering) + capacity_problems(environment, rendering)
            + timeout_problems(environment, rendering))
