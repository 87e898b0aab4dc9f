"""A chart repository and an OCI registry on loopback serving stand-in charts (tests/controlplane/standins.py), and
the rewrite of a repository copy's chart sources to point at them.

Each stand-in keeps the name and version its HelmRelease asks for, renders one Deployment named after the release
(with pinned image, requests, limits and probes) and carries the CRDs the real chart installs. A HelmRelease whose
chart or version the real repository would not have fails here as it would there: the index holds only the charts
git asks for, at the versions it pins.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.controlplane import standins

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CONTENT = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
STANDIN_IMAGE = "registry.invalid/cattle/standin@sha256:" + "0" * 64

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
  labels: {app.kubernetes.io/name: {{ .Chart.Name }}, app.kubernetes.io/instance: {{ .Release.Name }}}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/instance: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app.kubernetes.io/instance: {{ .Release.Name }}}
    spec:
      containers:
        - name: standin
          image: STANDIN_IMAGE
          resources:
            requests: {cpu: 10m, memory: 16Mi}
            limits: {memory: 64Mi}
          readinessProbe:
            httpGet: {path: /ready, port: 8080}
          livenessProbe:
            httpGet: {path: /healthz, port: 8080}
""".replace("STANDIN_IMAGE", STANDIN_IMAGE)


@dataclass(frozen=True)
class Chart:
    """A stand-in chart: name, version, and where the HelmRelease's source finds it."""

    name: str
    version: str
    source_kind: str  # HelmRepository or OCIRepository
    source: str  # namespace/name of the source object

    def archive(self) -> bytes:
        metadata = {"apiVersion": "v2", "name": self.name, "version": self.version, "appVersion": self.version,
                    "description": "stand-in of the real chart for cattle's control plane tier"}
        files = [("Chart.yaml", yaml.safe_dump(metadata).encode()),
                 ("templates/deployment.yaml", DEPLOYMENT.encode()),
                 *((f"crds/{name}", data) for name, data in standins.crd_documents(self.name))]
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, data in files:
                info = tarfile.TarInfo(f"{self.name}/{name}")
                info.size, info.mtime, info.mode = len(data), 1767225600, 0o644
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()


def charts_of(objects: list[dict[str, Any]]) -> tuple[list[Chart], dict[str, dict[str, Any]]]:
    """The charts the HelmReleases among `objects` ask for, and their sources by namespace/name."""
    sources = {f"{o['metadata'].get('namespace')}/{o['metadata']['name']}": o for o in objects
               if o.get("kind") in ("HelmRepository", "OCIRepository")}
    charts: list[Chart] = []
    for obj in objects:
        if obj.get("kind") != "HelmRelease":
            continue
        namespace = obj["metadata"].get("namespace")
        spec = obj["spec"]
        if "chartRef" in spec:  # an OCIRepository holding one chart at one tag
            ref = spec["chartRef"]
            key = f"{ref.get('namespace', namespace)}/{ref['name']}"
            source = sources[key]
            name = str(source["spec"]["url"]).rstrip("/").rsplit("/", 1)[-1]
            charts.append(Chart(name, str(source["spec"]["ref"]["tag"]), "OCIRepository", key))
        else:
            chart = spec["chart"]["spec"]
            ref = chart["sourceRef"]
            charts.append(Chart(str(chart["chart"]), str(chart["version"]), ref["kind"],
                                f"{ref.get('namespace', namespace)}/{ref['name']}"))
    return charts, sources


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet; keeps what was asked for
        self.server.requests.append(getattr(self, "path", "(unparsed request)"))

    def _send(self, status: int, body: bytes, content_type: str = "application/octet-stream",
              head: bool = False, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        found = self.server.files.get(self.path.split("?")[0])
        if found is None:
            self._send(404, b'{"errors":[{"code":"NOT_FOUND"}]}', "application/json", head)
            return
        body, content_type, headers = found
        self._send(200, body, content_type, head, headers)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    files: dict[str, tuple[bytes, str, dict[str, str]]]
    requests: list[str]


class ChartServer:
    """Serves `charts` on 127.0.0.1: /helm/<namespace>/<name>/index.yaml and its archives for HelmRepositories,
    the OCI distribution API (/v2/...) for OCIRepositories. A context manager."""

    def __init__(self, charts: list[Chart]) -> None:
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.files, self.httpd.requests = {}, []
        self.charts = charts
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._publish()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def helm_url(self, source: str) -> str:
        return f"http://{self.address}/helm/{source}"

    def oci_url(self, chart: Chart) -> str:
        return f"oci://{self.address}/charts/{chart.name}"

    def _publish(self) -> None:
        files = self.httpd.files
        entries: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for chart in self.charts:
            archive = chart.archive()
            digest = hashlib.sha256(archive).hexdigest()
            if chart.source_kind == "OCIRepository":
                config = json.dumps({"name": chart.name, "version": chart.version, "apiVersion": "v2"}).encode()
                config_digest = f"sha256:{hashlib.sha256(config).hexdigest()}"
                manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                       "config": {"mediaType": HELM_CONFIG, "digest": config_digest,
                                                  "size": len(config)},
                                       "layers": [{"mediaType": HELM_CONTENT, "digest": f"sha256:{digest}",
                                                   "size": len(archive)}]}).encode()
                manifest_digest = f"sha256:{hashlib.sha256(manifest).hexdigest()}"
                base = f"/v2/charts/{chart.name}"
                for ref in (chart.version, manifest_digest):
                    files[f"{base}/manifests/{ref}"] = (manifest, OCI_MANIFEST,
                                                        {"Docker-Content-Digest": manifest_digest})
                files[f"{base}/blobs/{config_digest}"] = (config, HELM_CONFIG, {})
                files[f"{base}/blobs/sha256:{digest}"] = (archive, HELM_CONTENT, {})
                files[f"{base}/tags/list"] = (json.dumps({"name": f"charts/{chart.name}",
                                                          "tags": [chart.version]}).encode(), "application/json", {})
                files["/v2/"] = (b"{}", "application/json", {"Docker-Distribution-API-Version": "registry/2.0"})
                continue
            path = f"/helm/{chart.source}/{chart.name}-{chart.version}.tgz"
            files[path] = (archive, "application/gzip", {})
            entries.setdefault(chart.source, {}).setdefault(chart.name, []).append({
                "apiVersion": "v2", "name": chart.name, "version": chart.version, "appVersion": chart.version,
                "digest": digest, "urls": [f"http://{self.address}{path}"],
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        for source, index in entries.items():
            body = yaml.safe_dump({"apiVersion": "v1", "entries": index, "generated": "2026-01-01T00:00:00Z"})
            files[f"/helm/{source}/index.yaml"] = (body.encode(), "application/x-yaml", {})

    def point_sources_at_me(self, root: Path, sources: dict[str, dict[str, Any]]) -> list[Path]:
        """Rewrite the chart sources in the repository copy at `root` to this server; returns the files changed."""
        urls: dict[str, tuple[str, bool]] = {}
        for chart in self.charts:
            url = str(sources[chart.source]["spec"]["url"])
            urls[url] = ((self.oci_url(chart), True) if chart.source_kind == "OCIRepository"
                         else (self.helm_url(chart.source), False))
        changed: list[Path] = []
        for path in sorted((root / "platform").rglob("*.yaml")):
            documents = list(yaml.safe_load_all(path.read_text()))
            touched = False
            for doc in documents:
                if isinstance(doc, dict) and doc.get("kind") in ("HelmRepository", "OCIRepository"):
                    url = str((doc.get("spec") or {}).get("url"))
                    if url in urls:
                        doc["spec"]["url"], insecure = urls[url]
                        if insecure:
                            doc["spec"]["insecure"] = True
                        touched = True
            if touched:
                path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
                changed.append(path)
        return changed

    def __enter__(self) -> ChartServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
