"""`bootstrap --env all`: every environment of the repository rebuilt at once, each on a control plane of its own,
with its own kubeconfig context, OpenBao, Vault and database stores and Flux controllers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cattle.bootstrap import fleet
from cattle.bootstrap import rebuild as bootstrap
from tests.controlplane.tier import Tier

pytestmark = pytest.mark.timeout(1800)
NAMES = ("testing", "staging")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _two_environments(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy declares testing and staging (production's third control plane would not fit two cores), each
    with its own context and local stores, as an operator would point them at a cluster made another way."""
    shutil.rmtree(root / "clusters/production")
    clusters = root / "clusters"
    _edit(clusters / "testing/environment.yaml", "  name: cattle-testing\n",
          "  name: cattle-testing\n  context: cattle-testing\n")
    for name in NAMES:
        text = (clusters / name / "environment.yaml").read_text()
        for kind in ("vault", "postgres"):
            key = "vault" if kind == "vault" else "database"
            old = next(line for line in text.splitlines() if line.startswith(f"  {key}: "))
            text = text.replace(old, f"  {key}: file://.cattle/backups/{name}/{kind}")
        (clusters / name / "environment.yaml").write_text(text)
    for variable in ("CATTLE_DB_STORE", "CATTLE_VAULT_STORE"):
        monkeypatch.delenv(variable, raising=False)


def _ready(items: list[dict[str, object]]) -> list[str]:
    """Names of the objects that are not Ready."""
    def ok(item: dict[str, object]) -> bool:
        conditions = (item.get("status") or {}).get("conditions") or []  # type: ignore[attr-defined]
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return [str(i["metadata"]["name"]) for i in items if not ok(i)]  # type: ignore[index]


def test_env_all_rebuilds_two_environments_on_two_control_planes_at_once(
        secrets_repo: Path, tier_binaries: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _two_environments(secrets_repo, monkeypatch)
    assert fleet.names(fleet.ALL) == sorted(NAMES)
    with Tier(secrets_repo, tmp_path / "tier", tier_binaries, monkeypatch, names=NAMES) as tier:
        result = fleet.run_all(bootstrap.Options(provider="kubeconfig", serve=True, timeout=900.0))
        assert result.ok, f"{result.summary()}\n{tier.diagnosis()}"
        releases = {}
        for name, plane in tier.planes.items():
            for kind in ("kustomizations.kustomize.toolkit.fluxcd.io", "helmreleases.helm.toolkit.fluxcd.io"):
                items = json.loads(plane.kubectl("get", kind, "-A", "-o", "json").stdout)["items"]
                assert items and _ready(items) == [], (name, kind, _ready(items))
            found = json.loads(plane.kubectl("get", "helmreleases.helm.toolkit.fluxcd.io", "-A", "-o",
                                             "json").stdout)["items"]
            releases[name] = {i["metadata"]["name"] for i in found}
            variables = json.loads(plane.kubectl("get", "configmap", "cluster-vars", "-n", "flux-system", "-o",
                                                 "json").stdout)["data"]
            assert variables["ENVIRONMENT"] == name  # each environment went to its own control plane
    # staging's public DNS (external-dns) exists only on staging's control plane
    assert "external-dns" in releases["staging"] and "external-dns" not in releases["testing"]
    # at once: each environment's reconcile overlapped the other's
    spans = {w.env: next((e.start, e.end) for e in w.timeline.events if e.phase == "reconcile") for w in result.runs}
    assert spans["testing"][0] < spans["staging"][1] and spans["staging"][0] < spans["testing"][1]
