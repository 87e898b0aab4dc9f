"""kubeconfig: attach to any existing cluster (cloud or on-premises) by context. Never creates or deletes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cattle.errors import ProviderError


@dataclass
class KubeconfigProvider:
    context: str | None
    name: str = "kubeconfig"
    creates_clusters: bool = False
    docker_network: None = None

    def exists(self) -> bool:
        return True

    def ensure(self) -> bool:
        return False

    def kubeconfig(self) -> tuple[Path | None, str | None]:
        path = os.environ.get("KUBECONFIG")
        return (Path(path) if path else None), self.context

    def delete(self) -> None:
        raise ProviderError(f"the kubeconfig provider only attaches to context {self.context!r}; it cannot delete "
                            "the cluster", "delete it with its own tooling (cloud console, terraform)")
