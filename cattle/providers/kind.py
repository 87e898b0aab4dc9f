"""kind: a local cluster in Docker containers (needs docker and kind), on the environment's pinned node image."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml

from cattle import tools
from cattle.providers import mirrors as registry
from cattle.providers.local import LocalCluster


@dataclass
class KindProvider(LocalCluster):
    name: str = "kind"
    context_prefix = "kind"
    image: str | None = None  # kindest/node:vX@sha256:… built for the pinned kind (clusters/kind.yaml)
    mirrors: Mapping[str, str] = field(default_factory=dict)

    @property
    def docker_network(self) -> str:
        return "kind"

    def exists(self) -> bool:
        out = tools.run(["kind", "get", "clusters"], timeout=60).stdout.decode()
        return self.cluster in out.split()

    def create_argv(self) -> list[str]:
        """`kind create cluster` for this cluster: its node image and, with mirrors, a config mounting them."""
        argv = ["kind", "create", "cluster", "--name", self.cluster, "--wait", "180s",
                "--kubeconfig", str(self._kubeconfig_path)]
        if self.image:
            argv += ["--image", self.image]
        if self.mirrors:
            certs = registry.write_containerd_hosts(self.mirrors, self.state / f"registry-{self.cluster}")
            config = self.state / f"kind-config-{self.cluster}.yaml"
            config.write_text(yaml.safe_dump(registry.kind_config(certs), sort_keys=False))
            argv += ["--config", str(config)]
        return argv

    def ensure(self) -> bool:
        created = not self.exists()
        if created:
            self.state.mkdir(parents=True, exist_ok=True)
            tools.run(self.create_argv(), timeout=600)
        self._save_kubeconfig(tools.run(["kind", "get", "kubeconfig", "--name", self.cluster], timeout=60).stdout)
        return created

    def delete(self) -> None:
        tools.run(["kind", "delete", "cluster", "--name", self.cluster], timeout=300)
        self._kubeconfig_path.unlink(missing_ok=True)
