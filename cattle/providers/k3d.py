"""k3d: a local k3s cluster in Docker (needs docker and k3d)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cattle import tools
from cattle.providers.local import LocalCluster


@dataclass
class K3dProvider(LocalCluster):
    name: str = "k3d"
    context_prefix = "k3d"

    @property
    def docker_network(self) -> str:
        return f"k3d-{self.cluster}"

    def exists(self) -> bool:
        out = tools.run(["k3d", "cluster", "list", "-o", "json"], timeout=60).stdout
        return any(item.get("name") == self.cluster for item in json.loads(out or b"[]"))

    def ensure(self) -> bool:
        created = not self.exists()
        if created:
            tools.run(["k3d", "cluster", "create", self.cluster, "--wait", "--timeout", "300s",
                       "--kubeconfig-update-default=false", "--k3s-arg", "--disable=traefik@server:0"], timeout=600)
        self._save_kubeconfig(tools.run(["k3d", "kubeconfig", "get", self.cluster], timeout=60).stdout)
        return created

    def delete(self) -> None:
        tools.run(["k3d", "cluster", "delete", self.cluster], timeout=300)
        self._kubeconfig_path.unlink(missing_ok=True)
