"""What the Docker-backed local providers (kind, k3d) share: a cluster name, a state directory, and a
kubeconfig file written there for cattle's own use (the user's ~/.kube/config is left alone)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class LocalCluster:
    cluster: str
    state: Path
    context_prefix = ""
    creates_clusters: bool = True

    @property
    def _kubeconfig_path(self) -> Path:
        return self.state / f"kubeconfig-{self.cluster}"

    def _save_kubeconfig(self, config: bytes) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self._kubeconfig_path.write_bytes(config)
        self._kubeconfig_path.chmod(0o600)

    def kubeconfig(self) -> tuple[Path | None, str | None]:
        return self._kubeconfig_path, f"{self.context_prefix}-{self.cluster}"
