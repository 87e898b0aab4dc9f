"""Cluster providers: kind, k3d, a cloud cluster from code (opentofu), or any existing kubeconfig context."""

from __future__ import annotations

from pathlib import Path

from cattle.env import Environment
from cattle.errors import ConfigError
from cattle.providers.base import Provider
from cattle.providers.k3d import K3dProvider
from cattle.providers.kind import KindProvider
from cattle.providers.kubeconfig import KubeconfigProvider
from cattle.providers.opentofu import OpenTofuProvider


def get_provider(env: Environment, name: str | None, state: Path) -> Provider:
    """The provider for an environment (its own, or the one named on the command line)."""
    chosen = name or env.provider
    # The node image and mirrors are declared for the env's own provider (a kind image does not run under k3d).
    image = env.kubernetes.node_image if chosen == env.provider else None
    mirrors = env.registry_mirrors if chosen == env.provider else {}
    if chosen == "kind":
        return KindProvider(env.cluster_name, state, image=image, mirrors=mirrors)
    if chosen == "k3d":
        return K3dProvider(env.cluster_name, state, image=image, mirrors=mirrors)
    if chosen == "kubeconfig":
        return KubeconfigProvider(env.kube_context)
    if chosen == "opentofu":
        return OpenTofuProvider(env, state)
    raise ConfigError(f"unknown provider {chosen!r}", "use kind, k3d, kubeconfig or opentofu")


__all__ = ["Provider", "get_provider"]
