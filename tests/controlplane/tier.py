"""Rebuilds on the tier: a control plane, the stand-in charts, a local OpenBao, and the real Flux
controllers started the moment cattle's Flux install asks for them (as a kubelet would start their pods)."""

from __future__ import annotations

import json
import subprocess
import threading
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import pytest
import yaml

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
    """Everything the rebuild of one or more environments on the tier needs, each environment on a control plane
    of its own; a context manager. With one environment its kubeconfig context is `context`; with several, each
    environment's is cattle-<env> (in one kubeconfig file)."""

    def __init__(self, root: Path, workdir: Path, binaries: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                 names: tuple[str, ...] = ("testing",), context: str = "cattle-tier") -> None:
        self.root, self.workdir, self.names = root, workdir, names
        self.monkeypatch = monkeypatch
        self.contexts = {name: context if len(names) == 1 else f"cattle-{name}" for name in names}
        self.planes = {name: ControlPlane(workdir / name / "controlplane", binaries, self.contexts[name])
                       for name in names}
        self.plane = self.planes[names[0]]
        self.stack = ExitStack()
        self.openbao: dict[str, BaoServer] = {}
        self.kubelets: dict[str, FluxKubelet] = {}
        self.charts: charts.ChartServer | None = None

    def __enter__(self) -> Tier:
        try:
            self._start()
        except BaseException:
            self.stack.close()
            raise
        return self

    def _start(self) -> None:
        environments = [env.load(name, self.root) for name in self.names]
        wanted: dict[charts.Chart, None] = {}
        sources: dict[str, dict[str, object]] = {}
        for environment in environments:  # one chart repository for every environment's charts
            found, their_sources = charts.charts_of([item.obj for item in render(environment).objects])
            wanted.update(dict.fromkeys(found))
            sources.update(their_sources)
        self.charts = self.stack.enter_context(charts.ChartServer(list(wanted)))
        self.charts.point_sources_at_me(self.root, sources)  # type: ignore[arg-type]
        if not (self.root / ".git").exists():  # GitServer serves the working tree of a checkout
            subprocess.run([*GIT, "init", "-q", "-b", environments[0].git_branch], cwd=self.root, check=True)
        for name in self.names:
            seal = vault.seal_material(self.root, name)
            self.openbao[name] = self.stack.enter_context(BaoServer(seal.key_hex, seal.key_id,
                                                                    directory=self.workdir / name / "openbao"))
            self.monkeypatch.setenv(f"CATTLE_VAULT_ADDR_{name.upper()}", self.openbao[name].addr)
        if len(self.names) == 1:
            self.monkeypatch.setenv("CATTLE_VAULT_STORE", f"file://{self.workdir / 'vault-backups'}")
        self.monkeypatch.setenv("CATTLE_SERVE_HOST", "127.0.0.1")
        self.monkeypatch.setenv("KUBECONFIG", str(self._kubeconfig()))
        for name, plane in self.planes.items():
            self.stack.enter_context(plane)
            self.kubelets[name] = self.stack.enter_context(FluxKubelet(plane))
            stop = threading.Event()
            certificates = threading.Thread(target=standins.mark_certificates_ready, args=(plane, stop),
                                            daemon=True, name=f"cert-manager-standin-{name}")
            certificates.start()
            self.stack.callback(certificates.join, 30)
            self.stack.callback(stop.set)
        self.flux = self.kubelets[self.names[0]]

    def _kubeconfig(self) -> Path:
        """One control plane's own kubeconfig, or one file with every environment's context."""
        if len(self.planes) == 1:
            return self.plane.kubeconfig
        merged: dict[str, list[object]] = {"clusters": [], "users": [], "contexts": []}
        for plane in self.planes.values():
            config = yaml.safe_load(plane.kubeconfig.read_text())
            for key in merged:
                merged[key].extend(config[key])
        path = self.workdir / "kubeconfig"
        path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", **merged,
                                        "current-context": self.plane.context}))
        path.chmod(0o600)
        return path

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stack.close()

    def diagnosis(self) -> str:
        """What to read when a tier test fails: the Flux objects' conditions and every process's log tail."""
        parts = []
        for name, plane in self.planes.items():
            status = plane.kubectl("get", "kustomizations,helmreleases,gitrepositories,helmrepositories,"
                                   "ocirepositories,deployments,replicasets", "-A", check=False)
            kubelet = self.kubelets.get(name)
            parts.append(f"=== {name}\n{status.stdout}{status.stderr}\n{plane.logs()}\n"
                         f"flux kubelet error: {kubelet.error if kubelet else None!r}")
        return "\n".join(parts)
