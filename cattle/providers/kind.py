"""kind: a local cluster in Docker containers (needs docker and kind)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cattle import tools


@dataclass
class KindProvider:
    cluster: str
    state: Path
    name: str = "kind"
    creates_clusters: bool = True

    @property
    def _kubeconfig_path(self) -> Path:
        return self.state / f"kubeconfig-{self.cluster}"

    def exists(self) -> bool:
        out = tools.run(["kind", "get", "clusters"], timeout=60).stdout.decode()
        return self.cluster in out.split()

    def ensure(self) -> bool:
        if self.exists():
            self._write_kubeconfig()
            return False
        self.state.mkdir(parents=True, exist_ok=True)
        tools.run(["kind", "create", "cluster", "--name", self.cluster, "--wait", "180s",
                   "--kubeconfig", self._kubeconfig_path], timeout=600)
        return True

    def _write_kubeconfig(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        config = tools.run(["kind", "get", "kubeconfig", "--name", self.cluster], timeout=60).stdout
        self._kubeconfig_path.write_bytes(config)
        self._kubeconfig_path.chmod(0o600)

    def kubeconfig(self) -> tuple[Path | None, str | None]:
        return self._kubeconfig_path, f"kind-{self.cluster}"

    def delete(self) -> None:
        tools.run(["kind", "delete", "cluster", "--name", self.cluster], timeout=300)
        self._kubeconfig_path.unlink(missing_ok=True)
