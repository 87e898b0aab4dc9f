"""k3d: a local k3s cluster in Docker (needs docker and k3d)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from cattle import tools
from cattle.providers import mirrors as registry
from cattle.providers.local import LocalCluster


@dataclass
class K3dProvider(LocalCluster):
    name: str = "k3d"
    context_prefix = "k3d"
    image: str | None = None  # rancher/k3s:vX-k3sN@sha256:…
    mirrors: Mapping[str, str] = field(default_factory=dict)

    @property
    def docker_network(self) -> str:
        return f"k3d-{self.cluster}"

    def exists(self) -> bool:
        out = tools.run(["k3d", "cluster", "list", "-o", "json"], timeout=60).stdout
        return any(item.get("name") == self.cluster for item in json.loads(out or b"[]"))

    def create_argv(self) -> list[str]:
        """`k3d cluster create` for this cluster: its node image and, with mirrors, a registries.yaml."""
        argv = ["k3d", "cluster", "create", self.cluster, "--wait", "--timeout", "300s",
                "--kubeconfig-update-default=false", "--k3s-arg", "--disable=traefik@server:0"]
        if self.image:
            argv += ["--image", self.image]
        if self.mirrors:
            self.state.mkdir(parents=True, exist_ok=True)
            config = self.state / f"k3s-registries-{self.cluster}.yaml"
            config.write_text(registry.k3s_registries(self.mirrors))
            argv += ["--registry-config", str(config)]
        return argv

    def ensure(self) -> bool:
        created = not self.exists()
        if created:
            tools.run(self.create_argv(), timeout=600)
        self._save_kubeconfig(tools.run(["k3d", "kubeconfig", "get", self.cluster], timeout=60).stdout)
        return created

    def delete(self) -> None:
        tools.run(["k3d", "cluster", "delete", self.cluster], timeout=300)
        self._kubeconfig_path.unlink(missing_ok=True)
