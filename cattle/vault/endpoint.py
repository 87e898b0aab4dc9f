"""The in-cluster OpenBao to talk to, through a port-forward: the active node, or openbao-0 before anyone has
initialised the cluster (the chart's `openbao-active` Service selects no pod until a node is active)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

from cattle import console, portforward
from cattle.errors import VaultError
from cattle.kube import Kube
from cattle.vault import openbao as vault

NAMESPACE = "openbao"
FIRST_POD = "pod/openbao-0"
ACTIVE_SERVICE = "svc/openbao-active"
PORT = 8200
Forwarder = Callable[[str], AbstractContextManager[str]]


def kubectl_forwarder(kubeconfig: Path | None, context: str | None) -> Forwarder:
    return lambda target: portforward.forward(kubeconfig, context, NAMESPACE, target, PORT)


def reach(stack: ExitStack, forward: Forwarder, timeout: float = 300) -> tuple[str, int]:
    """The address of the node to use and its health: 200 (active) or 501 (openbao-0, uninitialised)."""
    addr = stack.enter_context(forward(FIRST_POD))
    code = vault.wait_ready(addr, timeout, accept=(200, 429, 501))
    if code != 429:
        return addr, code
    console.say("openbao-0 is a standby; using the active node")
    addr = stack.enter_context(forward(ACTIVE_SERVICE))
    vault.wait_active(addr, timeout)
    return addr, 200


ACTIVE_LABEL = "openbao-active=true"  # set on the active pod by the chart's service_registration "kubernetes"


def restart_active(stack: ExitStack, kube: Kube, forward: Forwarder, timeout: float = 300) -> str:
    """Delete the active OpenBao pod (its StatefulSet starts it again on the same volume, and the static seal
    unseals it) and reach the active node again; returns its address. After a snapshot of another cluster was
    restored, the active node keeps that cluster's raft TLS keyring until it restarts (cattle.vault.raftpeers)."""
    listed = kube.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods", query=[("labelSelector", ACTIVE_LABEL)])
    pods = (listed or {}).get("items") or []
    if not pods:
        raise VaultError(f"no active OpenBao pod to restart (no pod labelled {ACTIVE_LABEL} in {NAMESPACE})",
                         "kubectl -n openbao get pods --show-labels")
    name, uid = pods[0]["metadata"]["name"], pods[0]["metadata"]["uid"]
    with console.step(f"restarting the active OpenBao pod {name} so it loads the restored raft keyring"):
        _restart_pod(kube, name, uid, timeout)
    addr, _ = reach(stack, forward, timeout)
    return addr


def restart_pods(stack: ExitStack, kube: Kube, forward: Forwarder, names: list[str], timeout: float = 300) -> str:
    """Delete the named OpenBao pods (raft followers that did not catch up after a restore: node id = pod name), wait
    until each runs again, and reach the active node again; returns its address."""
    for name in names:
        pod = kube.get("v1", "Pod", name, NAMESPACE)
        if not pod:
            raise VaultError(f"raft node {name} is behind, but there is no pod {name} in {NAMESPACE} to restart",
                             f"kubectl -n {NAMESPACE} get pods; the node id is the pod's name (setNodeId)")
        with console.step(f"restarting OpenBao pod {name}: its raft node did not catch up with the restore"):
            _restart_pod(kube, name, pod["metadata"]["uid"], timeout)
    addr, _ = reach(stack, forward, timeout)
    return addr


def _restart_pod(kube: Kube, name: str, uid: str, timeout: float) -> None:
    """Delete the pod; return once its StatefulSet's new pod of that name (another uid) is Running."""
    kube.delete("v1", "Pod", name, NAMESPACE)
    deadline = time.monotonic() + timeout
    while True:
        pod = kube.get("v1", "Pod", name, NAMESPACE) or {}
        if (pod.get("metadata") or {}).get("uid") not in (None, uid) and \
                (pod.get("status") or {}).get("phase") == "Running":
            return
        if time.monotonic() > deadline:
            raise VaultError(f"OpenBao pod {name} did not come back Running within {timeout:.0f}s after cattle "
                             "restarted it", f"kubectl -n {NAMESPACE} describe pod {name}")
        time.sleep(1)
