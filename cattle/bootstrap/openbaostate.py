"""Bring the environment's OpenBao up during a rebuild: reach it (a given address, or a port-forward into the
cluster), restore or initialise it as the plan decided, and in a cluster of several nodes restart the active pod after
a restore so the others can join it (cattle.vault.raftpeers)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

from cattle import env
from cattle.kube import Kube
from cattle.vault import endpoint as baoendpoint
from cattle.vault import openbao as vault
from cattle.vault import restore as vaultdrill

VAULT_ADDR_VARIABLE = "CATTLE_VAULT_ADDR"


def openbao_nodes(release: dict[str, Any] | None) -> int:
    """How many OpenBao nodes the env's HelmRelease asks for (server.ha.replicas when HA is on)."""
    server = (((release or {}).get("spec") or {}).get("values") or {}).get("server") or {}
    ha = server.get("ha") or {}
    return int(ha.get("replicas") or 1) if ha.get("enabled") else 1


def cluster_ca(kube: Kube) -> str | None:
    """The CA pods trust for the API server (ConfigMap kube-root-ca.crt, which every namespace gets)."""
    found = kube.get("v1", "ConfigMap", "kube-root-ca.crt", baoendpoint.NAMESPACE) or {}
    return str((found.get("data") or {}).get("ca.crt") or "") or None


def restore_state(environment: env.Environment, kubeconfig: tuple[Path | None, str | None],
                  vault_addr: str | None, decision: vaultdrill.VaultDecision, ca_cert: str | None = None,
                  nodes: int = 1) -> str:
    """Bring OpenBao up as the plan decided: restore the snapshot, or initialise a fresh one. In a cluster of
    several nodes, the active pod is restarted after a restore, so the others can join it, then any follower still
    behind (cattle.vault.raftpeers)."""
    with ExitStack() as stack:
        addr = (vault_addr or os.environ.get(f"{VAULT_ADDR_VARIABLE}_{environment.name.upper()}")
                or os.environ.get(VAULT_ADDR_VARIABLE))
        restart: Callable[[], str] | None = None
        restart_nodes: Callable[[list[str]], str] | None = None
        if addr:
            vault.wait_ready(addr, 300)
        else:
            forward = baoendpoint.kubectl_forwarder(*kubeconfig)
            addr, _ = baoendpoint.reach(stack, forward)
            if nodes > 1:
                kube = stack.enter_context(closing(Kube.from_kubeconfig(*kubeconfig)))
                restart = functools.partial(baoendpoint.restart_active, stack, kube, forward)
                restart_nodes = functools.partial(baoendpoint.restart_pods, stack, kube, forward)
        return vaultdrill.bring_up(environment, addr, decision, ca_cert, restart, restart_nodes)
