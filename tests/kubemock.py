"""A mock Kubernetes API on 127.0.0.1 (kmock's KubernetesEmulator over real HTTP) that plays the controllers:
CRDs become Established, Deployments Available, and the Flux objects of an environment become Ready in
dependency order, or fail or hang, as a scenario says. The code under test uses the real `kubernetes` client."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
import requests
import yaml

NAMESPACE_PATH = re.compile(r"^/api/v1/namespaces(/[^/]+)?$")


@dataclass
class Scenario:
    """How the fake Flux behaves: per Kustomization, ready after a delay, fail with a message, or never."""

    delay: float = 0.2
    fail: dict[str, str] = field(default_factory=dict)
    never: set[str] = field(default_factory=set)
    ready_when: dict[str, Callable[[], bool]] = field(default_factory=dict)  # e.g. a store that needs OpenBao
    children: list[dict[str, Any]] = field(default_factory=list)  # Kustomizations and HelmReleases to create


class FakeCluster:
    """Emulator + server in a background event loop, and a controller thread speaking HTTP to it."""

    def __init__(self, tmp: Path, crds: list[dict[str, Any]], scenario: Scenario) -> None:
        self.scenario = scenario
        self.km = kmock.KubernetesEmulator()
        self.server = kmock.Server(self.km)
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "kmock did not start"
        self.km.resources.load_bundled()
        for crd in crds:
            spec = crd["spec"]
            for version in spec["versions"]:
                self.km.resources[f"{spec['group']}/{version['name']}/{spec['names']['plural']}"] = {
                    "namespaced": spec["scope"] == "Namespaced", "kind": spec["names"]["kind"],
                    "singular": spec["names"].get("singular", ""), "verbs": ["get", "list", "watch", "patch"],
                    "shortnames": [], "categories": [], "subresources": ["status"]}
        (self.km[NAMESPACE_PATH]) << self._namespaces
        self.server_version = "v1.36.4"  # what GET /version reports (the env's declared Kubernetes)
        (self.km[re.compile(r"^/version$")]) << (lambda request: {"major": "1", "gitVersion": self.server_version})
        self.url = str(self.server.url).rstrip("/")
        self.kubeconfig = tmp / "kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "kmock",
            "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
            "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}],
            "users": [{"name": "kmock", "user": {"token": "kmock-token"}}]}))
        self._http("POST", "/api/v1/namespaces/openbao/configmaps", {  # what kube-controller-manager publishes
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": "openbao"},
            "data": {"ca.crt": self_signed_ca_pem()}})
        self.ready_order: list[str] = []
        self._controller = threading.Thread(target=self._control, daemon=True)
        self._controller.start()

    async def _serve(self) -> None:
        async with self.km, self.server:
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.05)

    def _namespaces(self, request: kmock.Request) -> Any:
        """kmock's path parser cannot serve /api/v1/namespaces: keep Namespaces in a dict here."""
        name = request.url.path.rsplit("/", 1)[-1] if request.url.path.count("/") == 4 else None
        if request.method in ("POST", "PATCH"):
            body = request.data or {}
            name = name or body.get("metadata", {}).get("name")
            self.namespaces.setdefault(name, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            return self.namespaces[name]
        if name is None:
            return {"items": list(self.namespaces.values())}
        if name in self.namespaces:
            return self.namespaces[name]
        return kmock.Response(status=404, payload={"kind": "Status", "code": 404, "message": "not found"})

    # --- the fake controllers ----------------------------------------------------------------
    def _http(self, method: str, path: str, body: Any = None, ctype: str = "application/json") -> Any:
        response = requests.request(method, self.url + path, json=body, headers={"Content-Type": ctype}, timeout=5)
        return response.json() if response.content else None

    def objects(self, group_version_plural: str) -> list[dict[str, Any]]:
        found = self._http("GET", group_version_plural) or {}
        return list(found.get("items") or [])

    def _control(self) -> None:
        crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        deployments = "/apis/apps/v1/deployments"
        kustomizations = "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations"
        created_children = False
        started: dict[str, float] = {}
        while not self._stop.is_set():
            try:
                for crd in self.objects(crds):
                    if not crd.get("status"):
                        self._http("PATCH", f"{crds}/{crd['metadata']['name']}/status",
                                   {"status": {"conditions": [{"type": "Established", "status": "True"}]}},
                                   "application/merge-patch+json")
                for dep in self.objects(deployments):
                    if not dep.get("status"):
                        meta = dep["metadata"]
                        self._http("PATCH", f"/apis/apps/v1/namespaces/{meta['namespace']}/deployments/"
                                   f"{meta['name']}/status", {"status": {"conditions": [
                                       {"type": "Available", "status": "True"}]}}, "application/merge-patch+json")
                flux_objects = self.objects(kustomizations)
                if not created_children and any(k["metadata"]["name"] == "flux-system" for k in flux_objects):
                    for child in self.scenario.children:
                        self._create(child)
                    created_children = True
                self._reconcile(started)
            except requests.RequestException:
                pass
            time.sleep(0.05)

    def _create(self, obj: dict[str, Any]) -> None:
        group_version = obj["apiVersion"]
        plural = {"Kustomization": "kustomizations", "HelmRelease": "helmreleases"}[obj["kind"]]
        namespace = obj["metadata"]["namespace"]
        self._http("POST", f"/apis/{group_version}/namespaces/{namespace}/{plural}",
                   {k: v for k, v in obj.items() if k != "status"})

    def _reconcile(self, started: dict[str, float]) -> None:
        now = time.monotonic()
        kustomizations = {k["metadata"]["name"]: k for k in
                          self.objects("/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations")}
        ready = {n for n, k in kustomizations.items() if _ready(k)}
        for name, obj in kustomizations.items():
            if name in ready or name in self.scenario.never:
                continue
            deps = [d["name"] for d in (obj.get("spec") or {}).get("dependsOn") or []]
            path = f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/{name}/status"
            blocking = [d for d in deps if d not in ready]
            if blocking:
                self._patch_status(path, obj, "False", "DependencyNotReady",
                                   f"dependency 'flux-system/{blocking[0]}' is not ready")
                continue
            if name not in started and name == "platform-controllers":
                self._release_helm_charts()  # the HelmReleases go Ready while their Kustomization still waits
            started.setdefault(name, now)
            if name in self.scenario.fail:
                self._patch_status(path, obj, "False", "BuildFailed", self.scenario.fail[name], stalled=True)
            elif now - started[name] >= self.scenario.delay and self.scenario.ready_when.get(name, _always)():
                self._patch_status(path, obj, "True", "ReconciliationSucceeded", "Applied revision: main@sha1:abc")
                self.ready_order.append(name)
            else:
                self._patch_status(path, obj, "Unknown", "Progressing", "Reconciliation in progress")

    def _release_helm_charts(self) -> None:
        for release in self.objects("/apis/helm.toolkit.fluxcd.io/v2/helmreleases"):
            meta = release["metadata"]
            self._http("PATCH", f"/apis/helm.toolkit.fluxcd.io/v2/namespaces/{meta['namespace']}/"
                       f"helmreleases/{meta['name']}/status", {"status": {"conditions": [
                           {"type": "Ready", "status": "True", "reason": "InstallSucceeded",
                            "message": "Helm install succeeded"}]}}, "application/merge-patch+json")

    def _patch_status(self, path: str, obj: dict[str, Any], status: str, reason: str, message: str,
                      stalled: bool = False) -> None:
        current = (obj.get("status") or {}).get("conditions") or []
        conditions = [{"type": "Ready", "status": status, "reason": reason, "message": message}]
        if stalled:
            conditions.append({"type": "Stalled", "status": "True", "reason": reason, "message": message})
        if current != conditions:
            self._http("PATCH", path, {"status": {"conditions": conditions}}, "application/merge-patch+json")

    def requests_of(self, method: str, path_part: str) -> list[Any]:
        return [r for r in list(self.km) if r.method == method and path_part in r.url.path]

    def close(self) -> None:
        self._stop.set()
        self._controller.join(5)
        self._thread.join(5)


def _always() -> bool:
    return True


def self_signed_ca_pem() -> str:
    """A throwaway CA certificate (PEM), standing in for the cluster's."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _ready(obj: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])
