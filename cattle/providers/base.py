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


class PowerCycling(Protocol):
    """A provider that can power every node of its cluster off and on again, disks intact (kind)."""

    def stop_nodes(self) -> list[str]:
        """Power every node off; returns the nodes in the order they start again."""
        ...

    def start_nodes(self, names: list[str]) -> None:
        """Power the nodes on again, in order; a ProviderError names the node that did not start."""
        ...
