"""One environment's rebuild on the tier: a control plane, the stand-in charts, a local OpenBao, and the real Flux
controllers started the moment cattle's Flux install asks for them (as a kubelet would start their pods)."""

from __future__ import annotations

import json
import subprocess
import threading
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import pytest

from cattle import env
from cattle.manifests.render import render
from cattle.vault import openbao as vault
from cattle.vault.server import BaoServer
from tests.controlplane import charts, standins
from tests.controlplane.cluster import FLUX_CONTROLLERS, FLUX_NAMESPACE, ControlPlane

GIT = ["git", "-c", "user.email=tier@example.com", "-c", "user.name=tier"]


class FluxKubelet:
    """Starts the real Flux controllers once every Flux Deployment cattle installs exists, with those Deployments'
    own args (the controllers' images cannot run here; their programs can)."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.stop = threading.Event()
        self.started = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="flux-kubelet")

    def _run(self) -> None:
        try:
            while not self.stop.wait(0.3):
                result = self.plane.kubectl("get", "deployments", "-n", FLUX_NAMESPACE, "-o", "json", check=False)
                if result.returncode != 0:
                    continue
                items = json.loads(result.stdout).get("items", [])
                if {d["metadata"]["name"] for d in items} >= set(FLUX_CONTROLLERS):
                    self.plane.start_flux(items)
                    self.started.set()
                    self.stop.wait()  # the controllers die with the thread that started them (PR_SET_PDEATHSIG)
                    return
        except BaseException as exc:  # reported by the test, with the controllers' logs
            self.error = exc

    def __enter__(self) -> FluxKubelet:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.plane.flux.values():
            process.stop()
        self.stop.set()
        self.thread.join(30)


class Tier:
    """Everything one environment's rebuild on the tier needs; a context manager."""

    def __init__(self, root: Path, workdir: Path, binaries: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                 name: str = "testing", context: str = "cattle-tier") -> None:
        self.root, self.workdir, self.name = root, workdir, name
        self.monkeypatch = monkeypatch
        self.plane = ControlPlane(workdir / "controlplane", binaries, context)
        self.stack = ExitStack()
        self.openbao: BaoServer | None = None
        self.charts: charts.ChartServer | None = None

    def __enter__(self) -> Tier:
        try:
            self._start()
        except BaseException:
            self.stack.close()
            raise
        return self

    def _start(self) -> None:
        environment = env.load(self.name, self.root)
        wanted, sources = charts.charts_of([item.obj for item in render(environment).objects])
        self.charts = self.stack.enter_context(charts.ChartServer(wanted))
        self.charts.point_sources_at_me(self.root, sources)
        if not (self.root / ".git").exists():  # GitServer serves the working tree of a checkout
            subprocess.run([*GIT, "init", "-q", "-b", environment.git_branch], cwd=self.root, check=True)
        seal = vault.seal_material(self.root, self.name)
        self.openbao = self.stack.enter_context(BaoServer(seal.key_hex, seal.key_id,
                                                          directory=self.workdir / "openbao"))
        self.monkeypatch.setenv(f"CATTLE_VAULT_ADDR_{self.name.upper()}", self.openbao.addr)
        self.monkeypatch.setenv("CATTLE_VAULT_STORE", f"file://{self.workdir / 'vault-backups'}")
        self.monkeypatch.setenv("CATTLE_SERVE_HOST", "127.0.0.1")
        self.monkeypatch.setenv("KUBECONFIG", str(self.plane.kubeconfig))
        self.stack.enter_context(self.plane)
        self.flux = self.stack.enter_context(FluxKubelet(self.plane))
        stop = threading.Event()
        certificates = threading.Thread(target=standins.mark_certificates_ready, args=(self.plane, stop),
                                        daemon=True, name="cert-manager-standin")
        certificates.start()
        self.stack.callback(certificates.join, 30)
        self.stack.callback(stop.set)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stack.close()

    def diagnosis(self) -> str:
        """What to read when a tier test fails: the Flux objects' conditions and every process's log tail."""
        status = self.plane.kubectl("get", "kustomizations,helmreleases,gitrepositories,helmrepositories,"
                                    "ocirepositories,deployments,replicasets", "-A", check=False)
        return f"{status.stdout}{status.stderr}\n{self.plane.logs()}\nflux kubelet error: {self.flux.error!r}"
