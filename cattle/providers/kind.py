"""kind: a local cluster in Docker containers (needs docker and kind), on the environment's pinned node image.

Its nodes can be powered off and on (the cold-start drill): every node container stopped, then started again with
its volumes. kind labels each node container with its cluster and role (`io.x-k8s.kind.cluster`,
`io.x-k8s.kind.role`), publishes the API server on a host port it picks itself at creation ("NOT picking them breaks
host reboot") and runs nodes with `--restart=on-failure:1` so that they come back after a host reboot; the node's
/var (containerd, etcd, the kubelet) is a Docker volume that outlives the container's stop (kind,
pkg/cluster/internal/providers/docker/provision.go). kind has no start/stop command of its own
(kubernetes-sigs/kind#2715, #1867: "kind get nodes | xargs docker stop", then docker start).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml

from cattle import tools
from cattle.errors import ProviderError, ToolError
from cattle.providers import mirrors as registry
from cattle.providers.local import LocalCluster

CLUSTER_LABEL = "io.x-k8s.kind.cluster"
ROLE_LABEL = "io.x-k8s.kind.role"
START_ORDER = ("external-load-balancer", "control-plane", "worker")  # stopped in the reverse order


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

    def node_containers(self) -> list[str]:
        """The cluster's node containers, running or not, in start order: load balancer, control planes, workers."""
        out = tools.run(["docker", "ps", "-a", "--filter", f"label={CLUSTER_LABEL}={self.cluster}",
                         "--format", f'{{{{.Names}}}}\t{{{{.Label "{ROLE_LABEL}"}}}}'], timeout=60).stdout.decode()
        rows = [[*line.split("\t"), ""][:2] for line in out.splitlines() if line.strip()]
        if not rows:
            raise ProviderError(f"kind cluster {self.cluster} has no node container (docker ps -a --filter "
                                f"label={CLUSTER_LABEL}={self.cluster})", "bootstrap the environment first")
        rank = {role: i for i, role in enumerate(START_ORDER)}
        return [name for name, _ in sorted(rows, key=lambda r: (rank.get(r[1], len(START_ORDER)), r[0]))]

    def _docker_each(self, verb: str, names: list[str], past: str, hint: str) -> None:
        """`docker VERB` each node container in turn; the first that fails stops it, named with docker's error."""
        for name in names:
            try:
                tools.run(["docker", verb, name], timeout=180)
            except ToolError as exc:
                raise ProviderError(f"node {name} of kind cluster {self.cluster} did not {past}: "
                                    f"{(exc.stderr or exc.message).splitlines()[-1][:300]}",
                                    hint.format(name=name)) from exc

    def stop_nodes(self) -> list[str]:
        """Power off: `docker stop` every node container (workers first); returns them in start order."""
        names = self.node_containers()
        self._docker_each("stop", list(reversed(names)), "stop", "docker inspect {name}")
        return names

    def start_nodes(self, names: list[str]) -> None:
        """Power on: `docker start` every node container in order (the API server's node before the workers)."""
        self._docker_each("start", names, "start", "docker start {name}; docker logs {name}")
