"""The in-cluster OpenBao to talk to, through a port-forward: the active node, or openbao-0 before anyone has
initialised the cluster (the chart's `openbao-active` Service selects no pod until a node is active)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

from cattle import console, portforward
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
