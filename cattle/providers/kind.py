"""kind: a local cluster in Docker containers (needs docker and kind)."""

from __future__ import annotations

from dataclasses import dataclass

from cattle import tools
from cattle.providers.local import LocalCluster


@dataclass
class KindProvider(LocalCluster):
    name: str = "kind"
    context_prefix = "kind"

    @property
    def docker_network(self) -> str:
        return "kind"

    def exists(self) -> bool:
        out = tools.run(["kind", "get", "clusters"], timeout=60).stdout.decode()
        return self.cluster in out.split()

    def ensure(self) -> bool:
        created = not self.exists()
        if created:
            self.state.mkdir(parents=True, exist_ok=True)
            tools.run(["kind", "create", "cluster", "--name", self.cluster, "--wait", "180s",
                       "--kubeconfig", self._kubeconfig_path], timeout=600)
        self._save_kubeconfig(tools.run(["kind", "get", "kubeconfig", "--name", self.cluster], timeout=60).stdout)
        return created

    def delete(self) -> None:
        tools.run(["kind", "delete", "cluster", "--name", self.cluster], timeout=300)
        self._kubeconfig_path.unlink(missing_ok=True)
