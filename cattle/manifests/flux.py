"""Flux objects cattle creates itself: the sync pair (GitRepository + root Kustomization)."""

from __future__ import annotations

from typing import Any

from cattle.env import Environment

NAMESPACE = "flux-system"
SOURCE_NAME = "flux-system"
GIT_SECRET = "flux-system"
PLACEHOLDER_URL = "https://git.invalid/cattle.git"
BOOTSTRAP_VARS = "cattle-bootstrap"


def sync_objects(env: Environment, url: str | None = None, *, with_credentials: bool = True) -> list[dict[str, Any]]:
    """The GitRepository for this repository and the root Kustomization for clusters/<env>.

    Bootstrap applies these from the environment file (they are not in git), so the URL can
    differ per run (a pushed remote, or a repository served to a local cluster).
    """
    repository: dict[str, Any] = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": SOURCE_NAME, "namespace": NAMESPACE},
        "spec": {
            "interval": "1m",
            "url": url or env.git_url or PLACEHOLDER_URL,
            "ref": {"branch": env.git_branch},
        },
    }
    if with_credentials:
        repository["spec"]["secretRef"] = {"name": GIT_SECRET}
    root = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "flux-system", "namespace": NAMESPACE},
        "spec": {
            "interval": "10m",
            "path": env.flux_path,
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": SOURCE_NAME},
            # cattle's per-rebuild choices (e.g. database initdb or recovery); absent means the defaults
            "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": BOOTSTRAP_VARS, "optional": True}]},
        },
    }
    return [repository, root]


def bootstrap_configmap(variables: dict[str, str]) -> dict[str, Any]:
    """The ConfigMap the root and apps Kustomizations substitute cattle's bootstrap choices from."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": BOOTSTRAP_VARS, "namespace": NAMESPACE,
                         "labels": {"app.kubernetes.io/managed-by": "cattle"}},
            "data": dict(variables)}
