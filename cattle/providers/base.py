"""What every cluster provider offers."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Provider(Protocol):
    """Creates (or attaches to) a cluster and says how to reach it."""

    name: str
    creates_clusters: bool

    @property
    def docker_network(self) -> str | None:
        """The docker network the cluster's nodes live on (None: not a local docker cluster)."""
        ...

    def exists(self) -> bool:
        """Whether the cluster is there."""
        ...

    def ensure(self) -> bool:
        """Make sure the cluster exists; True when it had to be created."""
        ...

    def kubeconfig(self) -> tuple[Path | None, str | None]:
        """The kubeconfig file and context to reach the cluster."""
        ...

    def delete(self) -> None:
        """Remove the cluster."""
        ...
