"""What the cold-start drill reads from a live cluster: what was Ready before the power cut, then each thing coming
back by itself (API server, nodes, Flux, OpenBao, the CNPG primary, the canaries). A check that cannot apply to this
cluster says SKIPPED with its reason; it never passes silently."""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from cattle import env
from cattle.bootstrap import fluxinstall, reconcile
from cattle.bootstrap.rebuild import VAULT_ADDR_VARIABLE
from cattle.bootstrap.reconcile import SYSTEM_CLOCK, Clock, Key
from cattle.dr import drill
from cattle.errors import CattleError, KubeApiError, PreflightError, ReconcileFailed
from cattle.kube import Kube, condition
from cattle.portforward import forward
from cattle.providers.base import Provider
from cattle.schemas import crd_kinds
from cattle.vault import endpoint as baoendpoint
from cattle.vault import openbao as vault

CNPG = "postgresql.cnpg.io/v1"
NOT_READY_BEFORE = "a cold start proves nothing about a cluster that was not Ready before its power cut"


class ColdStartFailed(CattleError):
    """The cluster did not come back by itself as promised."""


@dataclass(frozen=True)
class Outcome:
    """What one check found; `skipped` holds the reason it could not apply (then it proved nothing)."""

    detail: str
    skipped: str = ""


@dataclass
class Before:
    """What was Ready before the power cut: what must be Ready again after it, and what each check will prove."""

    nodes: list[str]
    flux: list[Key]
    workloads: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, namespace, name) Ready before
    databases: list[tuple[str, str]] = field(default_factory=list)
    database_skipped: str = ""
    openbao_skipped: str = ""
    canary: str = ""
    app_canary_skipped: str = ""
    vault_canary_skipped: str = ""


def _ready(obj: dict[str, Any]) -> bool:
    found = condition(obj, "Ready")
    return found is not None and found.get("status") == "True"


class LiveChecks:
    """The checks against the environment's cluster, reached through its provider's kubeconfig; `clock` bounds
    every wait (each by the environment's reconcile timeout)."""

    def __init__(self, environment: env.Environment, cluster: Provider, clock: Clock = SYSTEM_CLOCK) -> None:
        self.environment = environment
        self.kubeconfig = cluster.kubeconfig()
        self.clock = clock
        self.timeout = environment.reconcile_timeout
        self.kube: Kube | None = None

    def _connect(self) -> Kube:
        if self.kube is not None:
            self.kube.close()
        self.kube = Kube.from_kubeconfig(*self.kubeconfig)
        self.kube.learn_flux(fluxinstall.manifests(self.environment.root))
        self.kube.learn_flux(crd_kinds(self.environment.root / "vendor/crds/cloudnative-pg/"
                                       "postgresql.cnpg.io_clusters.yaml"))
        return self.kube

    def close(self) -> None:
        if self.kube is not None:
            self.kube.close()
            self.kube = None

    def _until(self, what: str, probe: Any) -> Any:
        """Call `probe` until it returns something true (a CattleError counts as not yet, but a ReconcileFailed,
        a failure Flux does not retry, ends it at once); ColdStartFailed with the last reason after the timeout."""
        deadline = self.clock.monotonic() + self.timeout
        last = ""
        while True:
            try:
                found = probe()
                if found:
                    return found
            except ReconcileFailed:
                raise
            except CattleError as exc:
                last = exc.message.splitlines()[0][:200]
            if self.clock.monotonic() >= deadline:
                raise ColdStartFailed(f"{what}: not within {self.timeout:.0f}s{': ' + last if last else ''}",
                                      "nobody ran a command: this is what a real power cut would leave; look at "
                                      "./scripts/cattle status and the pods that are not Ready")
            self.clock.sleep(2.0)

    # --- before the power cut ---------------------------------------------------------------
    def _node_states(self, kube: Kube) -> dict[str, bool]:
        items = (kube.request("GET", "/api/v1/nodes") or {}).get("items") or []
        return {str(n["metadata"]["name"]): _ready(n) for n in items}

    @staticmethod
    def _workloads(kube: Kube) -> dict[tuple[str, str, str], bool]:
        """Every Deployment, StatefulSet and DaemonSet, and whether all the pods it asks for are ready."""
        found = {}
        for kind in ("Deployment", "StatefulSet", "DaemonSet"):
            for obj in kube.list("apps/v1", kind):
                status = obj.get("status") or {}
                if kind == "DaemonSet":
                    wanted, ready = status.get("desiredNumberScheduled", 0), status.get("numberReady") or 0
                else:
                    wanted, ready = (obj.get("spec") or {}).get("replicas", 1), status.get("readyReplicas") or 0
                meta = obj["metadata"]
                found[(kind, str(meta["namespace"]), str(meta["name"]))] = ready >= wanted
        return found

    def _openbao_outside(self) -> str:
        for variable in (f"{VAULT_ADDR_VARIABLE}_{self.environment.name.upper()}", VAULT_ADDR_VARIABLE):
            if os.environ.get(variable):
                return (f"OpenBao runs outside the cluster ({variable}={os.environ[variable]}): the power cycle "
                        "does not reach it")
        return ""

    def _databases(self, kube: Kube) -> tuple[list[tuple[str, str]], str]:
        try:
            clusters = kube.list(CNPG, "Cluster")
        except KubeApiError as exc:
            return [], f"the API server serves no CNPG Cluster ({exc.message.splitlines()[0][:120]})"
        if not clusters:
            return [], "no CNPG Cluster in the environment"
        names = [(str(c["metadata"]["namespace"]), str(c["metadata"]["name"])) for c in clusters]
        if all(condition(c, "Ready") is None for c in clusters):
            return [], (f"no operator has ever reconciled CNPG Cluster {'/'.join(names[0])} (no Ready condition): "
                        "there is no database to come back")
        not_ready = [f"{ns}/{name}" for (ns, name), c in zip(names, clusters, strict=True) if not _ready(c)]
        if not_ready:
            raise PreflightError(f"CNPG Cluster {', '.join(not_ready)} is not Ready: {NOT_READY_BEFORE}",
                                 "bring it back first (kubectl cnpg status), then drill")
        return names, ""

    def before(self) -> Before:
        """Everything Ready now, remembered; the canaries written. A PreflightError when something is not Ready."""
        kube = self._connect()
        nodes = self._node_states(kube)
        if not nodes or not all(nodes.values()):
            raise PreflightError(f"nodes not Ready: {sorted(n for n, ok in nodes.items() if not ok) or 'no node'}: "
                                 f"{NOT_READY_BEFORE}", "kubectl get nodes")
        waiter = reconcile.Waiter(kube, [], clock=self.clock)
        waiter.refresh()
        if not waiter.tracked or waiter.pending():
            shown = ", ".join(f"{t.label} ({t.state})" for t in waiter.pending()[:5]) or "no Flux object"
            raise PreflightError(f"Flux is not Ready: {shown}: {NOT_READY_BEFORE}", "./scripts/cattle status")
        databases, database_skipped = self._databases(kube)
        workloads = sorted(key for key, ready in self._workloads(kube).items() if ready)
        before = Before(sorted(nodes), sorted(waiter.tracked), workloads, databases, database_skipped,
                        self._openbao_outside())
        before.canary = drill.canary_id().replace("drill-", "coldstart-", 1)
        before.app_canary_skipped = before.database_skipped and f"no database canary: {before.database_skipped}"
        if not before.app_canary_skipped:
            with ExitStack() as stack:
                drill.write_app_canary(self.environment, kube, self.kubeconfig, stack, before.canary)
        before.vault_canary_skipped = before.openbao_skipped and f"no Vault canary: {before.openbao_skipped}"
        if not before.vault_canary_skipped:
            with ExitStack() as stack:
                addr, code = baoendpoint.reach(stack, baoendpoint.kubectl_forwarder(*self.kubeconfig), 60)
                if code != 200:
                    raise PreflightError(f"OpenBao is not active and unsealed (health {code}): {NOT_READY_BEFORE}",
                                         "kubectl -n openbao get pods")
                if not drill.write_vault_canary(self.environment, addr, before.canary):
                    before.vault_canary_skipped = ("no Vault canary: no init record of OpenBao in the Vault store "
                                                   "(no root token to write one)")
        return before

    # --- after power on ---------------------------------------------------------------------
    def api(self, before: Before) -> Outcome:
        version = self._until("the API server answers", lambda: self._connect().version())
        return Outcome(f"Kubernetes {version}")

    def nodes(self, before: Before) -> Outcome:
        def ready() -> bool:
            states = self._node_states(self._kube())
            return all(states.get(name) for name in before.nodes)
        self._until(f"nodes {', '.join(before.nodes)} Ready", ready)
        return Outcome(f"{len(before.nodes)} Ready: {', '.join(before.nodes)}")

    def workloads(self, before: Before) -> Outcome:
        """Every Deployment, StatefulSet and DaemonSet that had its pods ready before has them ready again (pods marked
        not Ready while their node was down turn Ready only when the node's agent runs them again)."""
        def ready() -> bool:
            now = self._workloads(self._kube())
            return all(now.get(key) for key in before.workloads)
        self._until(f"{len(before.workloads)} Deployments/StatefulSets/DaemonSets with their pods ready", ready)
        return Outcome(f"{len(before.workloads)} Deployments/StatefulSets/DaemonSets have their pods ready again")

    def _kube(self) -> Kube:
        return self.kube if self.kube is not None else self._connect()

    def flux(self, before: Before) -> Outcome:
        """Every Flux object of before Ready again, after its controller handled a reconcile request made now (as
        `flux reconcile` asks): a Ready condition kept in etcd from before the power cut proves nothing."""
        kube = self._kube()
        token = f"coldstart-{self.clock.time():.6f}"
        for key in before.flux:
            self._until(f"ask Flux to reconcile {key[0]} {key[1]}/{key[2]}",
                        lambda k=key: self._request(kube, k, token))

        def back() -> bool:
            for kind, namespace, name in before.flux:
                obj = kube.get(reconcile.KINDS[kind], kind, name, namespace) or {}
                state, message = reconcile.classify(obj) if obj else ("missing", "gone")
                if state == "failed":
                    raise ReconcileFailed(f"{kind} {namespace}/{name} failed after the power cut: {message}",
                                          f"kubectl -n {namespace} describe {kind.lower()} {name}")
                handled = (obj.get("status") or {}).get("lastHandledReconcileAt") == token
                if state != "ready" or not handled:
                    return False
            return True
        try:
            self._until(f"{len(before.flux)} Flux objects Ready again", back)
        except ReconcileFailed as exc:
            raise ColdStartFailed(exc.message, exc.hint) from exc
        return Outcome(f"{len(before.flux)} Kustomizations/HelmReleases reconciled and Ready again")

    @staticmethod
    def _request(kube: Kube, key: Key, token: str) -> bool:
        kind, namespace, name = key
        kube.annotate(reconcile.KINDS[kind], kind, name, namespace, {reconcile.REQUESTED_AT: token})
        return True

    def openbao(self, before: Before) -> Outcome:
        if before.openbao_skipped:
            return Outcome("", before.openbao_skipped)

        def active() -> bool:
            with ExitStack() as stack:
                addr, _ = baoendpoint.reach(stack, baoendpoint.kubectl_forwarder(*self.kubeconfig), 30)
                return vault.health(addr) == 200
        self._until("OpenBao active and unsealed", active)
        return Outcome("active and unsealed by its static seal, no unseal command")

    def database(self, before: Before) -> Outcome:
        if before.database_skipped:
            return Outcome("", before.database_skipped)
        kube = self._kube()

        def primaries() -> list[str]:
            found = [kube.get(CNPG, "Cluster", name, namespace) or {} for namespace, name in before.databases]
            if not all(_ready(c) for c in found):
                return []
            return [f"{c['metadata']['namespace']}/{c['metadata']['name']} primary "
                    f"{(c.get('status') or {}).get('currentPrimary', '?')}" for c in found]
        return Outcome("Ready: " + ", ".join(self._until("the CNPG primary Ready again", primaries)))

    def canaries(self, before: Before) -> Outcome:
        found: list[str] = []
        if not before.app_canary_skipped:
            kube = self._kube()

            def app() -> str:
                with ExitStack() as stack:
                    ingress = stack.enter_context(forward(*self.kubeconfig, "envoy-gateway-system",
                                                          drill._gateway_service(kube), 443))
                    return drill.read_app_canary(self.environment, ingress.rsplit(":", 1)[1], before.canary)
            found.append(self._until("the database canary through the app", app))
        if not before.vault_canary_skipped:
            with ExitStack() as stack:
                addr, _ = baoendpoint.reach(stack, baoendpoint.kubectl_forwarder(*self.kubeconfig), 60)
                drill.read_vault_canary(self.environment, addr, before.canary)
            found.append(f"drill/canary {before.canary} in OpenBao")
        skipped = "; ".join(s for s in (before.app_canary_skipped, before.vault_canary_skipped) if s)
        if not found:
            return Outcome("", skipped)
        return Outcome(" and ".join(found) + (f" (SKIPPED {skipped})" if skipped else ""))
