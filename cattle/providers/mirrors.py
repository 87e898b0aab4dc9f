"""Registry mirrors for local clusters, from an environment's `registry.mirrors` (upstream host -> mirror URL):
containerd `hosts.toml` files for kind nodes, a k3s `registries.yaml` for k3d. Cloud nodes: docs/bootstrap.md."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

CERTS_DIR = "/etc/containerd/certs.d"
# containerd's CRI registry config (kind >= v0.27 node images, containerd 2.x in config version 2): read hosts.toml
KIND_CONTAINERD_PATCH = f'[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "{CERTS_DIR}"'
_UPSTREAM = {"docker.io": "https://registry-1.docker.io"}


def hosts_toml(registry: str, mirror: str) -> str:
    """containerd's hosts.toml for one upstream registry: try the mirror first, then the registry itself."""
    server = _UPSTREAM.get(registry, f"https://{registry}")
    return f'server = "{server}"\n\n[host."{mirror}"]\n  capabilities = ["pull", "resolve"]\n'


def write_containerd_hosts(mirrors: Mapping[str, str], directory: Path) -> Path:
    """One <registry>/hosts.toml per mirror under `directory` (mounted at /etc/containerd/certs.d)."""
    for registry, mirror in sorted(mirrors.items()):
        (directory / registry).mkdir(parents=True, exist_ok=True)
        (directory / registry / "hosts.toml").write_text(hosts_toml(registry, mirror))
    return directory


def kind_config(certs: Path) -> dict[str, Any]:
    """A kind Cluster config whose node reads registry hosts from `certs` (mounted read-only)."""
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
            "containerdConfigPatches": [KIND_CONTAINERD_PATCH],
            "nodes": [{"role": "control-plane",
                       "extraMounts": [{"hostPath": str(certs), "containerPath": CERTS_DIR, "readOnly": True}]}]}


def k3s_registries(mirrors: Mapping[str, str]) -> str:
    """k3s's registries.yaml (k3d --registry-config)."""
    endpoints = {upstream: {"endpoint": [mirror]} for upstream, mirror in sorted(mirrors.items())}
    return yaml.safe_dump({"mirrors": endpoints}, sort_keys=False)
