"""What the control plane tier stands in for, in one place. Nothing here is used outside tests/controlplane.

Charts cannot be downloaded here, and kwok runs no containers, so the operators the charts install never run:
- every HelmRelease's chart is a stand-in with the chart's own name and version, served by a chart repository on
  loopback (`charts.ChartServer`) that the tier's copy of git points the chart sources at; a stand-in renders one
  Deployment (Ready through kwok) and installs the CRDs the real chart brings, from vendor/crds/;
- the operators' status work that Flux's health checks wait for is done by `mark_certificates_ready` (cert-manager
  issuing a Certificate); every other custom resource git declares is Current to kstatus without an operator;
- OpenBao is a local `bao server` reached at CATTLE_VAULT_ADDR, as in the fake-API tests.
"""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

from tests.controlplane.cluster import ControlPlane

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "vendor" / "crds"

# the CRDs each chart installs itself (its crds/ directory, or templates with install.crds), from vendor/crds/
CHART_CRDS: dict[str, tuple[str, ...]] = {
    "cert-manager": ("cert-manager",),
    "cloudnative-pg": ("cloudnative-pg",),
    "plugin-barman-cloud": ("plugin-barman-cloud",),
    "kube-prometheus-stack": ("prometheus-operator",),
    "external-secrets": ("external-secrets",),
    "gateway-helm": ("gateway-api", "envoy-gateway"),
}


def crd_documents(chart: str) -> list[tuple[str, bytes]]:
    """(file name, YAML) of every vendored CRD file the chart installs."""
    files: list[tuple[str, bytes]] = []
    for folder in CHART_CRDS.get(chart, ()):
        for path in sorted((CRDS / folder).iterdir()):
            if path.name.endswith(".yaml"):
                files.append((path.name, path.read_bytes()))
            elif path.name.endswith(".yaml.gz") and not (CRDS / folder / path.name[:-3]).exists():
                files.append((path.name[:-3], gzip.decompress(path.read_bytes())))
    return files


def mark_certificates_ready(plane: ControlPlane, stop: threading.Event, interval: float = 0.5) -> None:
    """cert-manager's part: every Certificate gets Ready=True for its generation (run in a thread until `stop`)."""
    while not stop.wait(interval):
        result = plane.kubectl("get", "certificates.cert-manager.io", "-A", "-o", "json", check=False)
        if result.returncode != 0:
            continue  # the CRD is not there yet
        for item in json.loads(result.stdout).get("items", []):
            meta = item["metadata"]
            conditions = (item.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   and c.get("observedGeneration") == meta.get("generation") for c in conditions):
                continue
            status = {"status": {"conditions": [{
                "type": "Ready", "status": "True", "reason": "Ready", "message": "issued by the tier's stand-in",
                "observedGeneration": meta.get("generation"), "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
            plane.kubectl("patch", "certificates.cert-manager.io", meta["name"], "-n", meta["namespace"],
                          "--subresource=status", "--type=merge", "-p", json.dumps(status), check=False)
