"""`./scripts/cattle dr.runner`: what a CI job is about to build on, printed before anything is created — the kind
release
(installed and pinned), the node image and Kubernetes version, this machine's CPUs and memory, and whether the
environment's requests fit its declared capacity. Fails when any of them would make the run fail later."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cattle import tools
from cattle.bootstrap.imagepulls import Volume, volume
from cattle.console import duration
from cattle.env import Environment
from cattle.errors import ToolError
from cattle.manifests import capacity, compatibility
from cattle.manifests.render import render
from cattle.quantities import format_cpu, format_memory

MEMINFO = Path("/proc/meminfo")


@dataclass(frozen=True)
class Machine:
    """This machine's CPUs and memory."""

    cpus: int
    memory_bytes: int


@dataclass
class RunnerFacts:
    """The facts, and the reasons (if any) the run cannot succeed here."""

    env: str
    provider: str
    kind_pinned: str
    kind_installed: str | None
    node_image: str | None
    kubernetes: str
    machine: Machine
    account: capacity.Account | None
    failures: list[str] = field(default_factory=list)
    rto_budget: float | None = None
    images: Volume | None = None

    @property
    def ok(self) -> bool:
        return not self.failures

    def rows(self) -> list[tuple[str, str]]:
        fit = self.account.summary() if self.account else "no capacity declared (not checked)"
        return [("environment", f"{self.env} (provider {self.provider})"),
                ("kind", f"{self.kind_installed or 'not installed'} (pinned {self.kind_pinned}, "
                         f"{compatibility.KIND_PIN})"),
                ("node image", self.node_image or "none (not a kind/k3d environment)"),
                ("Kubernetes", self.kubernetes),
                ("runner", f"{self.machine.cpus} CPU, {format_memory(self.machine.memory_bytes)} memory"),
                ("capacity check", fit), *self._recovery_rows()]

    def _recovery_rows(self) -> list[tuple[str, str]]:
        """The RTO budget and, beside it, the image volume each rebuild pulls again."""
        rows = []
        if self.rto_budget is not None:
            rows.append(("RTO budget", f"{duration(self.rto_budget)} (dr.drill fails over it; its job summary times "
                                       "every image pull)"))
        if self.images is not None:
            rows.append(("image volume", self.images.describe()))
        return rows

    def render(self) -> str:
        width = max(len(name) for name, _ in self.rows())
        lines = [f"{name:<{width}}  {value}" for name, value in self.rows()]
        lines += [f"FAILED: {reason}" for reason in self.failures] or ["ok: nothing here stops the run"]
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [f"### Runner and cluster facts ({self.env}), before anything is created", "",
                 "| | |", "| --- | --- |", *[f"| {name} | {value} |" for name, value in self.rows()], ""]
        lines += [f"**FAILED**: {reason}" for reason in self.failures] or ["ok: nothing here stops the run"]
        return "\n".join(lines) + "\n"


def machine(meminfo: Path = MEMINFO) -> Machine:
    """CPUs this process may use and total memory (MemTotal of /proc/meminfo)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    total = 0
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) * 1024
    return Machine(cpus, total)


def installed_kind() -> str | None:
    try:
        return f"v{tools.installed_version('kind')}"
    except ToolError:
        return None


def gather(environment: Environment, here: Machine | None = None) -> RunnerFacts:
    """Collect the facts; nothing is created or changed."""
    pin = compatibility.load_kind_pin(environment.root)
    account = capacity.account(environment, render(environment))
    facts = RunnerFacts(environment.name, environment.provider, pin.version,
                        installed_kind() if environment.provider == "kind" else None,
                        environment.kubernetes.node_image, environment.kubernetes.version, here or machine(), account,
                        rto_budget=environment.rto_budget, images=volume(environment.root, environment.name))
    if environment.provider == "kind" and facts.kind_installed != pin.version:
        facts.failures.append(f"kind {facts.kind_installed or '(none)'} is not the pinned {pin.version}: run "
                              "./scripts/setup where a Docker engine runs")
    if account is not None:
        if not account.fits:
            facts.failures.append(f"the requests do not fit the declared capacity: {account.summary()}")
        if account.gaps:
            facts.failures.append(f"{len(account.gaps)} workload(s) without explicit requests: "
                                  "run ./scripts/cattle validate")
        declared = environment.capacity
        if declared and (facts.machine.cpus * 1000 < declared.cpu_millis
                         or facts.machine.memory_bytes < declared.memory_bytes * 0.9):
            size = f"{facts.machine.cpus} CPU, {format_memory(facts.machine.memory_bytes)}"
            facts.failures.append(f"this machine ({size}) is smaller than the declared capacity "
                                  f"({format_cpu(declared.cpu_millis)} CPU, {format_memory(declared.memory_bytes)})")
    return facts
