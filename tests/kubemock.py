"""A fake cluster on 127.0.0.1 for bootstrap tests: the fake API server of tests/kubeapi.py over real HTTP, and a
fake Flux that reads the spec cattle sends it. The code under test uses the real `kubernetes` client.

The fake Flux: a GitRepository is Ready only when its `secretRef` Secret exists. A Kustomization is Ready only when
its source exists and is Ready, its `dependsOn` are Ready, its decryption Secret exists in its namespace and holds an
age key that decrypts every SOPS file at its path, its `postBuild.substituteFrom` objects exist (unless optional),
and what it applies (its children) is Ready; it applies them as field manager `kustomize-controller`. Objects appear
only once the Kustomization that applies them has been built. HelmReleases wait for their `dependsOn` and can fail
as helm-controller reports it. Conditions carry `observedGeneration`; `status.observedGeneration` moves only when a
reconcile succeeds, as the real controllers do. The root Kustomization is built from the cattle-bootstrap ConfigMap as
it was when the root Kustomization was created (`first_build_vars`).
"""

from __future__ import annotations

import asyncio
import base64
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

from tests.kubeapi import RealisticEmulator

NAMESPACE_PATH = re.compile(r"^/api/v1/namespaces(/[^/]+)?$")
KS_API = "/apis/kustomize.toolkit.fluxcd.io/v1"
HR_API = "/apis/helm.toolkit.fluxcd.io/v2"
GIT_API = "/apis/source.toolkit.fluxcd.io/v1"
FLUX_MANAGER = "kustomize-controller"  # the field manager Flux applies a Kustomization's objects with


@dataclass
class Scenario:
    """How the fake Flux behaves beyond what the spec decides."""

    delay: float = 0.2  # seconds a Kustomization takes to apply once everything it needs is there
    fail: dict[str, str] = field(default_factory=dict)  # Kustomization -> BuildFailed message (Stalled)
    never: set[str] = field(default_factory=set)  # Kustomizations that never finish
    ready_when: dict[str, Callable[[], bool]] = field(default_factory=dict)  # e.g. a store that needs OpenBao
    helm_fail: dict[str, str] = field(default_factory=dict)  # HelmRelease -> install failure, retries exhausted
    # what the Kustomizations apply: (the Flux Kustomization that applies it, object); see children_of()
    children: list[Any] = field(default_factory=list)
    repo: Path | None = None  # where the fake kustomize-controller reads SOPS files to check its decryption key
    establish_after: float = 0.3  # seconds from a CRD's creation until it is Established (and its kind served)


def children_of(rendering: Any) -> list[tuple[str, dict[str, Any]]]:
    """What each Flux Kustomization of a rendering applies, as the fake Flux creates it: Namespaces, ConfigMaps,
    Kustomizations and HelmReleases (the objects cattle waits on or that Flux needs)."""
    wanted = {"Namespace", "ConfigMap", "Kustomization", "HelmRelease"}
    found = []
    for item in rendering.objects:
        kind, name = item.obj.get("kind"), (item.obj.get("metadata") or {}).get("name")
        if kind in wanted and not (kind == "Kustomization" and name == "flux-system") \
                and not (kind == "ConfigMap" and name == "cattle-bootstrap"):
            found.append((item.kustomization, item.obj))
    return found


class FakeCluster:
    """Emulator + server in a background event loop, and a controller thread speaking HTTP to it."""

    def __init__(self, tmp: Path, crds: list[dict[str, Any]], scenario: Scenario) -> None:
        self.scenario = scenario
        self.km = RealisticEmulator(custom_groups={c["spec"]["group"] for c in crds})
        self.server = kmock.Server(self.km)
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._sessions = threading.local()
        self._open_sessions: list[requests.Session] = []
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
        for namespace in ("default", "kube-system", "openbao"):
            self.add_namespace(namespace)
        self._http("POST", "/api/v1/namespaces/openbao/configmaps", {  # what kube-controller-manager publishes
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": "openbao"},
            "data": {"ca.crt": self_signed_ca_pem()}})
        self.ready_order: list[str] = []
        self.built: set[str] = set()  # Kustomizations whose children exist
        self.started: dict[str, float] = {}
        self.helm_attempts: dict[str, int] = {}
        self.crd_seen: dict[str, float] = {}
        self._crds_settled = 0  # how many CRD creations had been seen when every CRD was last Established
        self._controller = threading.Thread(target=self._control, daemon=True)
        self._controller.start()

    @property
    def first_build_vars(self) -> dict[str, str] | None:
        """The cattle-bootstrap variables the root Kustomization was first built with (None: it did not exist)."""
        return self.km.root_bootstrap_vars

    async def _serve(self) -> None:
        async with self.km, self.server:
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.05)

    def add_namespace(self, name: str) -> None:
        self.namespaces.setdefault(name, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        self.km.namespace_names.add(name)
        self.km.changed.set()

    def apply_as(self, manager: str, path: str, obj: dict[str, Any], force: bool = False) -> int:
        """Server-side apply by another field manager (kubectl, a controller) to `path`; returns the HTTP status."""
        query = f"?fieldManager={manager}" + ("&force=true" if force else "")
        response = self._session().patch(self.url + path + query, json=obj, timeout=5,
                                         headers={"Content-Type": "application/apply-patch+yaml"})
        return response.status_code

    def _namespaces(self, request: kmock.Request) -> Any:
        """kmock's path parser cannot serve /api/v1/namespaces: keep Namespaces in a dict here."""
        name = request.url.path.rsplit("/", 1)[-1] if request.url.path.count("/") == 4 else None
        if request.method in ("POST", "PATCH"):
            body = request.data or {}
            name = name or body.get("metadata", {}).get("name")
            self.add_namespace(name)
            return self.namespaces[name]
        if name is None:
            return {"items": list(self.namespaces.values())}
        if name in self.namespaces:
            return self.namespaces[name]
        return kmock.Response(status=404, payload={"kind": "Status", "code": 404, "message": "not found"})

    # --- HTTP plumbing -------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        """One keep-alive session per thread (the controller's passes would otherwise open a connection a request)."""
        session = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
            self._open_sessions.append(session)
        return session

    def _http(self, method: str, path: str, body: Any = None, ctype: str = "application/json") -> Any:
        response = self._session().request(method, self.url + path, json=body, headers={"Content-Type": ctype},
                                           timeout=5)
        return response.json() if response.content else None

    def objects(self, group_version_plural: str) -> list[dict[str, Any]]:
        found = self._http("GET", group_version_plural) or {}
        return list(found.get("items") or [])

    def _get(self, path: str) -> dict[str, Any] | None:
        response = self._session().get(self.url + path, timeout=5)
        return dict(response.json()) if response.status_code == 200 else None

    def _status(self, path: str, obj: dict[str, Any], conditions: list[dict[str, Any]]) -> None:
        # As Flux does: every condition carries the generation it was set for; status.observedGeneration moves
        # only when a reconcile succeeds (-1 until then), so a failing or waiting object keeps the old value.
        generation = (obj.get("metadata") or {}).get("generation")
        conditions = [{**c, "observedGeneration": generation} for c in conditions]
        current = obj.get("status") or {}
        succeeded = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        observed = generation if succeeded else current.get("observedGeneration", -1)
        status = {"conditions": conditions, "observedGeneration": observed}
        if current.get("conditions") != conditions or current.get("observedGeneration") != observed:
            self._http("PATCH", f"{path}/status", {"status": status}, "application/merge-patch+json")

    # --- the fake controllers ------------------------------------------------------------------
    def _control(self) -> None:
        """Reconcile passes: right after any write (cattle's or its own), and otherwise at a pace that slows from
        50 ms to 400 ms while nothing is written, so an idle cluster costs little CPU; what waits on time alone
        (establish_after, delay, ready_when) is seen at most 400 ms late."""
        pause = 0.05
        while not self._stop.is_set():
            self.km.changed.clear()
            try:
                self._establish_crds()
                self._make_deployments_available()
                self._reconcile_sources()
                self._reconcile_kustomizations()
                self._reconcile_helmreleases()
            except requests.RequestException:
                pass
            pause = 0.05 if self.km.changed.is_set() else min(pause * 2, 0.4)
            time.sleep(0.05)
            self.km.changed.wait(pause - 0.05)

    def _establish_crds(self) -> None:
        crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        created = sum(1 for plural, _, _ in list(self.km.created) if plural == "customresourcedefinitions")
        if created == self._crds_settled:
            return  # no CRD created since every one was Established: nothing to list (Flux's CRDs are large)
        now = time.monotonic()
        pending = False
        for crd in self.objects(crds):
            spec = crd.get("spec") or {}
            first = self.crd_seen.setdefault(crd["metadata"]["name"], now)
            if now - first < self.scenario.establish_after:
                pending = True
                continue  # the API server is still setting up the new kind
            self.km.served.add((spec.get("group", ""), (spec.get("names") or {}).get("plural", "")))
            if not crd.get("status"):
                self._http("PATCH", f"{crds}/{crd['metadata']['name']}/status",
                           {"status": {"conditions": [{"type": "Established", "status": "True"}]}},
                           "application/merge-patch+json")
        if not pending:
            self._crds_settled = created

    def _make_deployments_available(self) -> None:
        for dep in self.objects("/apis/apps/v1/deployments"):
            if not dep.get("status"):
                meta = dep["metadata"]
                self._http("PATCH", f"/apis/apps/v1/namespaces/{meta['namespace']}/deployments/{meta['name']}/status",
                           {"status": {"conditions": [{"type": "Available", "status": "True"}]}},
                           "application/merge-patch+json")

    def _secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get(f"/api/v1/namespaces/{namespace}/secrets/{name}")

    def _reconcile_sources(self) -> None:
        for repo in self.objects(f"{GIT_API}/gitrepositories") if self._served("source.toolkit.fluxcd.io") else []:
            meta, spec = repo["metadata"], repo.get("spec") or {}
            path = f"{GIT_API}/namespaces/{meta['namespace']}/gitrepositories/{meta['name']}"
            secret = (spec.get("secretRef") or {}).get("name")
            if secret and self._secret(meta["namespace"], secret) is None:
                conditions = [_cond("False", "AuthenticationFailed", f'secrets "{secret}" not found')]
            elif not spec.get("url") or not (spec.get("ref") or {}).get("branch"):
                conditions = [_cond("False", "GitOperationFailed", "no url or branch")]
            else:
                conditions = [_cond("True", "Succeeded", f"stored artifact for revision "
                                    f"'{spec['ref']['branch']}@sha1:abc'")]
            self._status(path, repo, conditions)

    def _served(self, group: str) -> bool:
        return any(g == group for g, _ in self.km.served)

    def _kustomization_problem(self, obj: dict[str, Any], ready: set[str]) -> tuple[str, str, bool] | None:
        """(reason, message, terminal) of the first thing the Kustomization still lacks, as Flux reports it."""
        meta, spec = obj["metadata"], obj.get("spec") or {}
        namespace = meta["namespace"]
        source = spec.get("sourceRef") or {}
        source_ns = source.get("namespace", namespace)
        repo = self._get(f"{GIT_API}/namespaces/{source_ns}/gitrepositories/{source.get('name')}")
        if repo is None:
            return "ArtifactFailed", f"Source '{source.get('kind')}/{source_ns}/{source.get('name')}' not found", False
        if not _ready(repo):
            return "ArtifactFailed", f"Source '{source.get('kind')}/{source_ns}/{source.get('name')}' is not ready", \
                False
        blocking = [d["name"] for d in spec.get("dependsOn") or [] if d["name"] not in ready]
        if blocking:
            return "DependencyNotReady", f"dependency '{namespace}/{blocking[0]}' is not ready", False
        decryption = spec.get("decryption")
        if decryption:
            problem = self._decryption_problem(namespace, (decryption.get("secretRef") or {}).get("name"),
                                               str(spec.get("path", "")))
            if problem:
                return "DecryptionFailed", problem, True
        for ref in (spec.get("postBuild") or {}).get("substituteFrom") or []:
            plural = "configmaps" if ref.get("kind") == "ConfigMap" else "secrets"
            if not ref.get("optional") and self._get(f"/api/v1/namespaces/{namespace}/{plural}/{ref['name']}") is None:
                return ("ReconciliationFailed", f"substitute from '{ref['kind']}/{ref['name']}' error: {plural} "
                        f"\"{ref['name']}\" not found", False)
        return None

    def _decryption_problem(self, namespace: str, secret_name: str | None, path: str) -> str | None:
        name = secret_name or self._controller_flag("--sops-age-secret")
        if not name:
            return "decryption: no secretRef and no --sops-age-secret on kustomize-controller"
        secret = self._secret(namespace, name)
        if secret is None:
            return f'decryption secret error: secrets "{name}" not found'
        keys = {k: v for k, v in (secret.get("stringData") or {}).items()}
        keys.update({k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()})
        identities = [v.strip() for k, v in keys.items() if k.endswith(".agekey")]
        if not identities:
            return f"decryption secret {name} has no key ending in .agekey"
        if self.scenario.repo is None:
            return None
        from pyrage import x25519

        publics = {str(x25519.Identity.from_str(i).to_public()) for i in identities}
        for sops_file in sorted((self.scenario.repo / path).glob("*.secret.yaml")):
            doc = yaml.safe_load(sops_file.read_text()) or {}
            recipients = {r.get("recipient") for r in (doc.get("sops") or {}).get("age") or []}
            if recipients and not recipients & publics:
                return (f"failed to decrypt and format '{sops_file.name}': sops: no key could decrypt the data "
                        f"(the {name} key is for {', '.join(sorted(publics))})")
        return None

    def _controller_flag(self, flag: str) -> str | None:
        found = self._get("/apis/apps/v1/namespaces/flux-system/deployments/kustomize-controller") or {}
        for container in ((found.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
            for arg in container.get("args") or []:
                if str(arg).startswith(flag + "="):
                    return str(arg).split("=", 1)[1]
        return None

    def _create_children(self, parent: str) -> None:
        for owner, obj in self.scenario.children:
            if owner != parent:
                continue
            kind, meta = obj["kind"], obj["metadata"]
            if kind == "Namespace":
                self.add_namespace(meta["name"])
                continue
            body = {k: v for k, v in obj.items() if k != "status"}
            if kind == "ConfigMap":
                self._http("POST", f"/api/v1/namespaces/{meta.get('namespace', 'default')}/configmaps"
                           f"?fieldManager={FLUX_MANAGER}", body)
            else:
                api, plural = (KS_API, "kustomizations") if kind == "Kustomization" else (HR_API, "helmreleases")
                self._http("POST", f"{api}/namespaces/{meta['namespace']}/{plural}?fieldManager={FLUX_MANAGER}",
                           body)
        self.built.add(parent)

    def _children_ready(self, parent: str) -> bool:
        for owner, obj in self.scenario.children:
            if owner != parent or obj["kind"] not in ("Kustomization", "HelmRelease"):
                continue
            api, plural = (KS_API, "kustomizations") if obj["kind"] == "Kustomization" else (HR_API, "helmreleases")
            if obj["kind"] == "Kustomization":
                continue  # a Kustomization that applies another does not health-check it
            found = self._get(f"{api}/namespaces/{obj['metadata']['namespace']}/{plural}/{obj['metadata']['name']}")
            if found is None or not _ready(found):
                return False
        return True

    def _reconcile_kustomizations(self) -> None:
        if not self._served("kustomize.toolkit.fluxcd.io"):
            return
        now = time.monotonic()
        kustomizations = {k["metadata"]["name"]: k for k in self.objects(f"{KS_API}/kustomizations")}
        ready = {n for n, k in kustomizations.items() if _ready(k)}
        for name, obj in kustomizations.items():
            if name in self.scenario.never:
                continue
            path = f"{KS_API}/namespaces/{obj['metadata']['namespace']}/kustomizations/{name}"
            if name in ready and (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get(
                    "generation"):
                continue
            problem = self._kustomization_problem(obj, ready)
            if problem is not None:
                reason, message, terminal = problem
                conditions = [_cond("False", reason, message)]
                if terminal:
                    conditions.append({"type": "Stalled", "status": "True", "reason": reason, "message": message})
                self._status(path, obj, conditions)
                continue
            if name in self.scenario.fail:
                message = self.scenario.fail[name]
                self._status(path, obj, [_cond("False", "BuildFailed", message),
                                         {"type": "Stalled", "status": "True", "reason": "BuildFailed",
                                          "message": message}])
                continue
            self.started.setdefault(name, now)
            if name not in self.built:
                self._create_children(name)
            if (now - self.started[name] >= self.scenario.delay and self._children_ready(name)
                    and self.scenario.ready_when.get(name, _always)()):
                self._status(path, obj, [_cond("True", "ReconciliationSucceeded", "Applied revision: main@sha1:abc")])
                if name not in self.ready_order:
                    self.ready_order.append(name)
            else:
                self._status(path, obj, [_cond("Unknown", "Progressing", "Reconciliation in progress")])

    def _reconcile_helmreleases(self) -> None:
        if not self._served("helm.toolkit.fluxcd.io"):
            return
        releases = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in
                    self.objects(f"{HR_API}/helmreleases")}
        ready = {key for key, r in releases.items() if _ready(r)}
        for (namespace, name), release in releases.items():
            if (namespace, name) in ready:
                continue
            path = f"{HR_API}/namespaces/{namespace}/helmreleases/{name}"
            deps = [(d.get("namespace", namespace), d["name"]) for d in (release.get("spec") or {}).get("dependsOn")
                    or []]
            blocking = [d for d in deps if d not in ready]
            if blocking:
                self._status(path, release, [_cond("False", "DependencyNotReady",
                                                   f"dependency '{blocking[0][0]}/{blocking[0][1]}' is not ready")])
            elif name in self.scenario.helm_fail:
                attempts = self.helm_attempts[name] = self.helm_attempts.get(name, 0) + 1
                message = self.scenario.helm_fail[name]
                if attempts < 3:
                    self._status(path, release, [_cond("False", "InstallFailed", message)])
                else:
                    exhausted = f"install retries exhausted: {message}"
                    self._status(path, release, [_cond("False", "RetriesExceeded", exhausted),
                                                 {"type": "Stalled", "status": "True", "reason": "RetriesExceeded",
                                                  "message": exhausted}])
            else:
                self._status(path, release, [_cond("True", "InstallSucceeded", "Helm install succeeded")])

    def requests_of(self, method: str, path_part: str) -> list[Any]:
        return [r for r in list(self.km) if r.method == method and path_part in r.url.path]

    def close(self) -> None:
        self._stop.set()
        self._controller.join(5)
        for session in self._open_sessions:
            session.close()
        self._thread.join(5)


def _cond(status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": "Ready", "status": status, "reason": reason, "message": message}


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
