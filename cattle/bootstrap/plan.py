"""The bootstrap plan: every step, why it acts (or why not), and every object it would apply. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cattle.console import duration
from cattle.problems import describe


@dataclass(frozen=True)
class Step:
    """One step of a bootstrap."""

    name: str
    reason: str
    objects: tuple[str, ...] = ()
    acts: bool = True


@dataclass(frozen=True)
class Facts:
    """What was found before planning (read-only checks)."""

    env: str
    provider: str
    creates_clusters: bool
    cluster_exists: bool | None  # None: could not ask (the provider's tools are missing)
    key_source: str | None
    may_generate_key: bool
    git_url: str
    git_branch: str
    git_warning: str | None
    vault_action: str  # restore | initialise | refuse
    vault_reason: str
    database_reason: str
    reconcile_timeout: float
    preflight_problems: tuple[str, ...] = ()
    rto_budget: float | None = None
    cluster_plan: str | None = None  # opentofu: what `tofu plan` would change


@dataclass(frozen=True)
class Plan:
    env: str
    steps: tuple[Step, ...]

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.acts]

    def render(self, with_objects: bool = True) -> str:
        lines = [f"bootstrap plan for {self.env}:"]
        for number, step in enumerate(self.steps, 1):
            mark = "" if step.acts else " (no-op)"
            lines.append(f"  {number}. {step.name}{mark}: {step.reason}")
            if with_objects:
                lines += [f"       - {name}" for name in step.objects]
        return "\n".join(lines)


def layers(expected: list[tuple[str, str, str]], depends: dict[str, list[str]]) -> list[str]:
    """The expected objects in dependency order: Kustomizations layer by layer (a layer depends only on earlier
    ones), each followed by nothing else; then the HelmReleases."""
    kustomizations = [n for k, _, n in expected if k == "Kustomization"]
    depth: dict[str, int] = {}

    def level(name: str, seen: tuple[str, ...] = ()) -> int:
        if name not in depth:
            parents = [d for d in depends.get(name, []) if d in kustomizations and d not in seen]
            depth[name] = 1 + max((level(d, (*seen, name)) for d in parents), default=-1)
        return depth[name]

    ordered = sorted(kustomizations, key=lambda n: (level(n), n))
    lines = [f"layer {depth[n]}: Kustomization flux-system/{n}"
             + (f" (after {', '.join(depends[n])})" if depends.get(n) else "") for n in ordered]
    return lines + [f"{k} {ns}/{n}" for k, ns, n in expected if k != "Kustomization"]


def _reconcile_reason(facts: Facts, count: int) -> str:
    reason = f"wait up to {duration(facts.reconcile_timeout)} for {count} Flux objects to be Ready"
    if facts.rto_budget is None:
        return reason
    reason += f" (RTO budget {duration(facts.rto_budget)})"
    if facts.reconcile_timeout > facts.rto_budget:
        reason += ("; NOTE: the reconcile timeout is longer than the RTO budget, so a run can end over budget "
                   "before it times out")
    return reason


def build_plan(facts: Facts, flux_objects: list[dict[str, Any]], sync_objects: list[dict[str, Any]],
               secret_names: list[str], expected: list[tuple[str, str, str]],
               depends: dict[str, list[str]] | None = None) -> Plan:
    """Decide the steps from the facts; nothing here touches the world."""
    if facts.cluster_exists:
        cluster = Step("cluster", f"{facts.provider} cluster exists already: reuse it", acts=False)
    elif facts.creates_clusters and facts.cluster_exists is None:
        cluster = Step("cluster", f"create a {facts.provider} cluster, or reuse it if it exists "
                       f"({facts.provider} could not be asked here)")
    elif facts.creates_clusters:
        cluster = Step("cluster", f"create a {facts.provider} cluster")
    else:
        cluster = Step("cluster", f"attach to kubeconfig context ({facts.provider})", acts=False)
    if facts.cluster_plan is not None:  # opentofu: the plan says exactly what the cluster phase will do
        cluster = Step("cluster", f"{facts.provider}: tofu plan: {facts.cluster_plan}",
                       acts=not facts.cluster_plan.startswith("no changes"))
    if facts.key_source:
        key = f"age key from {facts.key_source}"
    elif facts.may_generate_key:
        key = "no age key here: make a new one and regenerate every declared secret (throwaway environment)"
    else:
        key = "no age key: bootstrap will stop (see docs/secrets.md, key custody)"
    restore = f"as soon as OpenBao is up: {facts.vault_reason}"
    if facts.vault_action == "initialise":
        restore += ("; init record kept encrypted in that store, configured for the platform, first snapshot "
                    "taken at once")
    elif facts.vault_action == "refuse":
        restore = f"REFUSED: {facts.vault_reason}"
    git = f"GitRepository {facts.git_url} @ {facts.git_branch}"
    if facts.git_warning:
        git += f" (warning: {facts.git_warning})"
    if facts.preflight_problems:
        preflight = Step("preflight", "FAILED, a real run stops here and changes nothing: "
                         + "; ".join(facts.preflight_problems))
    else:
        preflight = Step("preflight", "tools, provider and keys checked")
    return Plan(facts.env, (
        preflight,
        cluster,
        Step("flux", f"server-side apply {len(flux_objects)} Flux v2.9.4 objects, CRDs first; wait Established, "
             "then Available", tuple(describe(o) for o in flux_objects)),
        Step("secrets", f"secret zero: {key}; flux-system/sops-age" + (" and git credentials" if secret_names
             else ""), tuple(f"Secret flux-system/{n} (values never printed)" for n in ["sops-age", *secret_names])),
        Step("database", f"{facts.database_reason} (kept as it is when the CNPG Cluster exists already); "
             "ConfigMap flux-system/cattle-bootstrap", ("ConfigMap flux-system/cattle-bootstrap",)),
        Step("sync", git, tuple(describe(o) for o in sync_objects)),
        Step("reconcile", _reconcile_reason(facts, len(expected)), tuple(layers(expected, depends or {}))),
        Step("restore", restore),
        Step("verify", "every Flux object Ready; Vault canary back when restored"),
    ))
