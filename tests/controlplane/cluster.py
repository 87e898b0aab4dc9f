"""A real Kubernetes control plane as plain processes on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok (fake nodes whose pods turn Ready with no kubelet) and, once cattle has installed Flux, the
real Flux controllers, run out of cluster with the flags of the Deployments cattle applied.

Everything listens on loopback, and the tier runs inside a network namespace of its own (tests/controlplane/
conftest.py): a Service or webhook aimed at a cluster IP fails at once instead of reaching anything.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.controlplane import pki as tierpki
from tests.controlplane.netns import EPHEMERAL_PORTS

REPO = Path(__file__).resolve().parents[2]
KWOK_STAGES = REPO / "vendor" / "kwok"
TIER_STAGES = Path(__file__).resolve().parent / "stages"  # the tier's own: what a restarted kubelet does
NODE_NAME = "kwok-node-0"
FLUX_NAMESPACE = "flux-system"
FLUX_CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")
PR_SET_PDEATHSIG = 1
START_DEADLINE = 300.0  # generous: a busy 2-core machine starts slowly; never a measure of speed


_NEXT_PORT = [20000]
_PORT_LOCK = threading.Lock()


def free_port() -> int:
    """A port for a server of the tier: counted up below the namespace's ephemeral range (netns.EPHEMERAL_PORTS),
    so neither another server of the tier nor a client's outgoing connection takes it before the server binds."""
    with _PORT_LOCK:
        while _NEXT_PORT[0] < EPHEMERAL_PORTS[0]:
            port = _NEXT_PORT[0]
            _NEXT_PORT[0] += 1
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise TierError("the tier ran out of ports below its ephemeral range")


class TierError(RuntimeError):
    """A control plane process failed to start or died; the message carries its log tail."""


def _die_with_parent() -> None:
    """In the child: SIGKILL when the thread that started it ends, so a killed test run leaves no server behind."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        self.popen = subprocess.Popen(self.argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env={**os.environ, **self.env}, start_new_session=True,
                                      preexec_fn=_die_with_parent)
        handle.close()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 15.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


def wait_for(what: str, probe: Callable[[], bool], processes: list[Process], deadline: float = START_DEADLINE) -> None:
    """Poll `probe` until true; a process that dies meanwhile, or the deadline, fails with its log tail."""
    end = time.monotonic() + deadline
    while True:
        for process in processes:
            if not process.alive():
                code = process.popen.returncode if process.popen else None
                raise TierError(f"{process.name} exited (code {code}) while waiting for {what}:\n{process.tail()}")
        if probe():
            return
        if time.monotonic() > end:
            tails = "\n".join(f"--- {p.name}\n{p.tail()}" for p in processes)
            raise TierError(f"{what}: not ready after {deadline:.0f}s\n{tails}")
        time.sleep(0.2)


def http_ok(url: str, context: ssl.SSLContext | None = None, token: str | None = None) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def flux_args(deployment: dict[str, Any], ports: dict[str, int], storage: Path) -> list[str]:
    """The controller's own args from the Deployment cattle applied, with the in-cluster addresses replaced by
    loopback ones and leader election off (one replica, out of cluster)."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args: list[str] = []
    for raw in container.get("args") or []:
        arg = str(raw).replace("$(RUNTIME_NAMESPACE)", FLUX_NAMESPACE)
        flag = arg.split("=", 1)[0]
        if flag == "--enable-leader-election":
            arg = "--enable-leader-election=false"
        elif flag in ("--storage-path", "--storage-adv-addr", "--events-addr", "--metrics-addr", "--health-addr",
                      "--storage-addr", "--receiverAddr"):
            continue
        args.append(arg)
    args += [f"--metrics-addr=127.0.0.1:{ports['metrics']}", f"--health-addr=127.0.0.1:{ports['health']}"]
    if "events" in ports:
        args.append(f"--events-addr=http://127.0.0.1:{ports['events']}/")
    if deployment["metadata"]["name"] == "source-controller":
        args += [f"--storage-path={storage}", f"--storage-addr=127.0.0.1:{ports['storage']}",
                 f"--storage-adv-addr=127.0.0.1:{ports['storage']}"]
    if deployment["metadata"]["name"] == "notification-controller":
        args += [f"--events-addr=127.0.0.1:{ports['events']}", f"--receiverAddr=127.0.0.1:{ports['receiver']}"]
        args = [a for a in args if not a.startswith("--events-addr=http")]
    return args


class ControlPlane:
    """One control plane in `workdir`; `start()` brings up the cluster, `start_flux()` the Flux controllers."""

    def __init__(self, workdir: Path, binaries: dict[str, Path], context: str = "cattle-tier") -> None:
        self.workdir = workdir
        self.binaries = binaries
        self.context = context
        self.processes: list[Process] = []
        self.flux: dict[str, Process] = {}
        workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (workdir / "logs").mkdir(exist_ok=True)
        self.pki = tierpki.make(workdir / "pki")
        self.api_port = free_port()
        self.server = f"https://127.0.0.1:{self.api_port}"
        self.kubeconfig = workdir / "kubeconfig"
        self.kubeconfig.write_text(tierpki.kubeconfig(self.pki, self.server, context))
        self.kubeconfig.chmod(0o600)
        self.tls = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        self.flux_ports: dict[str, dict[str, int]] = {}
        self.boot: list[tuple[Process, str, Callable[[], bool]]] = []  # in start order, with readiness probes

    def _process(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        process = Process(name, argv, self.workdir / "logs" / f"{name}.log", env or {})
        process.start()
        self.processes.append(process)
        return process

    def _ready(self, process: Process, what: str, probe: Callable[[], bool], others: list[Process]) -> None:
        """Wait until `probe` says the just-started `process` is ready; remembered for a cold start."""
        self.boot.append((process, what, probe))
        wait_for(what, probe, [*others, process])

    def start(self) -> ControlPlane:
        etcd_client, etcd_peer = free_port(), free_port()
        etcd = self._process("etcd", [
            str(self.binaries["etcd"]), "--name=tier", f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=tier=http://127.0.0.1:{etcd_peer}", "--unsafe-no-fsync", "--log-level=warn"])
        self._ready(etcd, "etcd", lambda: http_ok(f"http://127.0.0.1:{etcd_client}/health"), [])
        pki = self.pki
        api = self._process("kube-apiserver", [
            str(self.binaries["kube-apiserver"]), f"--etcd-servers=http://127.0.0.1:{etcd_client}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.api_port}",
            f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}", f"--token-auth-file={pki.token_file}",
            "--authorization-mode=Node,RBAC", "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            "--service-cluster-ip-range=10.96.0.0/16", "--allow-privileged=true", "--v=1"])
        self._ready(api, "kube-apiserver /readyz", lambda: http_ok(f"{self.server}/readyz", self.tls, pki.token),
                    [etcd])
        kcm_port, scheduler_port = free_port(), free_port()
        kcm = self._process("kube-controller-manager", [
            str(self.binaries["kube-controller-manager"]), f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={kcm_port}",
            f"--service-account-private-key-file={pki.service_account_key}", f"--root-ca-file={pki.ca_cert}",
            "--use-service-account-credentials=false", "--v=1"])
        scheduler = self._process("kube-scheduler", [
            str(self.binaries["kube-scheduler"]), f"--kubeconfig={self.kubeconfig}", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={scheduler_port}", "--v=1"])
        insecure = ssl._create_unverified_context()  # their self-signed serving certs; /healthz needs no auth
        self._ready(kcm, "kube-controller-manager /healthz",
                    lambda: http_ok(f"https://127.0.0.1:{kcm_port}/healthz", insecure), [api])
        self._ready(scheduler, "kube-scheduler /healthz",
                    lambda: http_ok(f"https://127.0.0.1:{scheduler_port}/healthz", insecure), [api])
        stages = ",".join(str(p) for p in [*sorted(KWOK_STAGES.glob("*.yaml")), *sorted(TIER_STAGES.glob("*.yaml"))])
        kwok = self._process("kwok", [
            str(self.binaries["kwok"]), f"--kubeconfig={self.kubeconfig}", "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake", f"--config={stages}",
            "--node-ip=127.0.0.1", f"--server-address=127.0.0.1:{free_port()}",
            # renew each node's Lease as a kubelet does (40 s, the kubelet's default): without it the node lifecycle
            # controller finds no heartbeat after its grace period and marks every pod on the node Ready=False
            "--node-lease-duration-seconds=40"])
        self.kubectl("apply", "-f", "-", input=json.dumps(node_manifest(NODE_NAME)))
        self._ready(kwok, f"node {NODE_NAME} Ready", lambda: self._node_ready(NODE_NAME), [api])
        return self

    def power_off(self) -> None:
        """Every process stops at once (SIGKILL, as when the power goes); the data directories stay."""
        for process in reversed(self.processes):
            if process.popen is not None and process.popen.poll() is None:
                os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait()

    def power_on(self, before_nodes: Callable[[], None] | None = None) -> None:
        """Start every process again from its data, in the order it first started (the control plane, then the
        node agent, then Flux), each awaited as at first; `before_nodes` runs once the control plane is up."""
        for process, what, probe in self.boot:
            if process.name == "kwok" and before_nodes is not None:
                before_nodes()
            process.start()
            wait_for(what, probe, [process])

    def _node_ready(self, name: str) -> bool:
        result = self.kubectl("get", "node", name, "-o", "json", check=False)
        if result.returncode != 0:
            return False
        conditions = json.loads(result.stdout).get("status", {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The venv's kubectl against this control plane."""
        kubectl = REPO / ".venv" / "bin" / "kubectl"
        result = subprocess.run([str(kubectl) if kubectl.exists() else "kubectl", f"--kubeconfig={self.kubeconfig}",
                                 *args], input=input, capture_output=True, text=True, check=False, timeout=120)
        if check and result.returncode != 0:
            raise TierError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def start_flux(self, install: list[dict[str, Any]], controllers: tuple[str, ...] = FLUX_CONTROLLERS) -> None:
        """Run the named Flux controllers with the args of their Deployments in `install` (cattle's rendering of
        clusters/flux-system); waits until each answers its readiness probe."""
        deployments = {o["metadata"]["name"]: o for o in install if o.get("kind") == "Deployment"}
        events = free_port() if "notification-controller" in controllers else None
        for name in controllers:
            ports = {"metrics": free_port(), "health": free_port(), "storage": free_port(), "receiver": free_port()}
            if events is not None:
                ports["events"] = events
            self.flux_ports[name] = ports
            storage = self.workdir / "source-storage"
            storage.mkdir(exist_ok=True)
            argv = [str(self.binaries[name]), *flux_args(deployments[name], ports, storage)]
            env = {"KUBECONFIG": str(self.kubeconfig), "RUNTIME_NAMESPACE": FLUX_NAMESPACE,
                   "HOME": str(self.workdir), "TUF_ROOT": str(self.workdir / "sigstore")}
            self.flux[name] = self._process(name, argv, env)
        for name in controllers:
            health = self.flux_ports[name]["health"]
            self._ready(self.flux[name], f"{name} /readyz",
                        lambda port=health: http_ok(f"http://127.0.0.1:{port}/readyz"), [])  # type: ignore[misc]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail(40)}" for p in self.processes)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def __enter__(self) -> ControlPlane:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def node_manifest(name: str) -> dict[str, Any]:
    """A fake node kwok takes over (the annotation), big enough for every workload git declares."""
    resources = {"cpu": "64", "memory": "256Gi", "pods": "250", "ephemeral-storage": "500Gi"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake",
                                                        "node.alpha.kubernetes.io/ttl": "0"},
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "type": "kwok"}},
            "spec": {}, "status": {"allocatable": resources, "capacity": resources}}
