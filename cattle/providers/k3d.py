"""k3d: a local k3s cluster in Docker (needs docker and k3d)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cattle import tools


@dataclass
class K3dProvider:
    cluster: str
    state: Path
    name: str = "k3d"
    creates_clusters: bool = True

    @property
    def _kubeconfig_path(self) -> Path:
        return self.state / f"kubeconfig-{self.cluster}"

    def exists(self) -> bool:
        out = tools.run(["k3d", "cluster", "list", "-o", "json"], timeout=60).stdout
        return any(item.get("name") == self.cluster for item in json.loads(out or b"[]"))

    def ensure(self) -> bool:
        created = False
        if not self.exists():
            tools.run(["k3d", "cluster", "create", self.cluster, "--wait", "--timeout", "300s",
                       "--kubeconfig-update-default=false", "--k3s-arg", "--disable=traefik@server:0"], timeout=600)
            created = True
        self.state.mkdir(parents=True, exist_ok=True)
        self._kubeconfig_path.write_bytes(tools.run(["k3d", "kubeconfig", "get", self.cluster], timeout=60).stdout)
        self._kubeconfig_path.chmod(0o600)
        return created

    def kubeconfig(self) -> tuple[Path | None, str | None]:
        return self._kubeconfig_path, f"k3d-{self.cluster}"

    def delete(self) -> None:
        tools.run(["k3d", "cluster", "delete", self.cluster], timeout=300)
        self._kubeconfig_path.unlink(missing_ok=True)
