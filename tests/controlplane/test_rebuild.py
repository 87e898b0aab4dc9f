"""`cattle bootstrap` end to end through its normal code path (the kubeconfig provider) on a real kube-apiserver with
the real Flux controllers: Flux from the vendored manifests, secret zero, the checkout served by GitServer, SOPS
decrypted by the real kustomize-controller with the key cattle handed it, postBuild substitution, dependsOn order,
the stand-in charts installed by the real helm-controller, and the real status conditions driving cattle's wait."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cattle.bootstrap import rebuild as bootstrap
from cattle.bootstrap.timeline import Timeline
from tests.controlplane.tier import Tier

CONTEXT = "cattle-tier"
pytestmark = pytest.mark.timeout(1800)  # a whole rebuild (or two) on a busy 2-core machine


@pytest.fixture
def tier(secrets_repo: Path, tier_binaries: dict[str, Path], tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Tier]:
    with Tier(secrets_repo, tmp_path / "tier", tier_binaries, monkeypatch, context=CONTEXT) as running:
        yield running


def _options(**extra: object) -> bootstrap.Options:
    values: dict[str, object] = {"provider": "kubeconfig", "context": CONTEXT, "serve": True, "timeout": 900.0}
    values.update(extra)
    return bootstrap.Options(**values)  # type: ignore[arg-type]


def _get(tier: Tier, *args: str) -> dict[str, object]:
    return json.loads(tier.plane.kubectl("get", *args, "-o", "json").stdout)  # type: ignore[no-any-return]


def _ready(obj: dict[str, object]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []  # type: ignore[attr-defined]
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_a_rebuild_from_nothing_reaches_every_flux_object_ready(tier: Tier, secrets_repo: Path) -> None:
    try:
        timeline = bootstrap.run("testing", _options(), timeline=Timeline("testing"))
    except Exception as exc:
        raise AssertionError(f"{exc}\n{tier.diagnosis()}") from exc
    assert timeline is not None and timeline.result == "ok"
    phases = [e.phase for e in timeline.events if not e.phase.startswith("reconcile ")]
    assert phases == ["preflight", "secrets: age key", "cluster", "flux", "secrets", "database", "sync",
                      "reconcile", "restore", "verify"]
    # every Flux object git declares is Ready, as the real controllers say
    for kinds in ("kustomizations.kustomize.toolkit.fluxcd.io", "helmreleases.helm.toolkit.fluxcd.io"):
        items = _get(tier, kinds, "-A")["items"]
        assert items and all(_ready(i) for i in items), [  # type: ignore[union-attr]
            (i["metadata"]["name"], i.get("status")) for i in items if not _ready(i)]  # type: ignore[union-attr]
    # the real kustomize-controller decrypted the SOPS Secrets with the key cattle handed it
    secret = _get(tier, "secret", "-n", "monitoring", "grafana-admin")
    assert "ENC[" not in json.dumps(secret["data"])
    # postBuild substitution from cluster-vars reached the objects
    assert "${" not in json.dumps(_get(tier, "gateways.gateway.networking.k8s.io", "-A")["items"])
    # dependsOn: platform-controllers turned Ready only after secrets, apps and platform-configs after it
    ready = {e.phase.removeprefix("reconcile "): e.end for e in timeline.events if e.phase.startswith("reconcile ")}
    assert ready["secrets"] <= ready["platform-controllers"] <= min(ready["apps"], ready["platform-configs"])
