"""End to end on a real kind cluster: the same bootstrap code path as the kmock tests, for real.

Runs only when named (`pytest tests/e2e`: `./scripts/cattle test` never collects it, even where Docker works) and
where docker (with a running engine) and kind are present; the disaster-recovery workflow runs it (job `e2e`) with
CATTLE_E2E_REQUIRED=1, which turns a missing docker or kind into a failure instead of a skip. Set CATTLE_E2E_KEEP=1
to keep the cluster afterwards. Its pytest deadline covers the rebuilds it runs, each within CATTLE_E2E_TIMEOUT.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from cattle import env, tools
from cattle.bootstrap import rebuild as bootstrap
from cattle.bootstrap import reconcile
from cattle.kube import Kube
from cattle.paths import state_dir
from cattle.providers import get_provider

BUDGET = float(os.environ.get("CATTLE_E2E_TIMEOUT", 1500))  # one rebuild's reconcile timeout
REBUILDS = 2  # the first rebuild and the re-run (tests/test_e2e_limits.py counts the calls)
MARGIN = 900.0  # creating and deleting the kind cluster, pulling the node image, the checks in between
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(REBUILDS * BUDGET + MARGIN)]
# what the test rebuilds with; tests/test_ci_stores.py plans exactly this against local stand-ins (preflight included)
OPTIONS = bootstrap.Options(provider="kind", serve=True, timeout=BUDGET)


def _docker_running() -> bool:
    docker = tools.locate("docker")
    if docker is None:
        return False
    return subprocess.run([str(docker), "info"], capture_output=True, check=False).returncode == 0


def _skip_reason() -> str | None:
    if not _docker_running():
        return "needs a running Docker engine (docker info failed or docker is missing)"
    if tools.locate("kind") is None:
        return "needs the kind binary (in the venv or on PATH; scripts/setup installs it where Docker runs)"
    return None


def test_bootstrap_testing_on_kind() -> None:
    reason = _skip_reason()
    if reason is not None:
        if os.environ.get("CATTLE_E2E_REQUIRED"):
            pytest.fail(f"CATTLE_E2E_REQUIRED is set but the kind end-to-end test cannot run: {reason}")
        pytest.skip(reason)
    options = OPTIONS
    timeline = bootstrap.run("testing", options)
    assert timeline is not None and timeline.result == "ok"
    [vault_phase] = [e for e in timeline.events if e.phase == "restore"]
    assert vault_phase.status == "ok"  # OpenBao initialised (or restored) and configured during the reconcile
    assert "initialised a fresh OpenBao" in vault_phase.detail or "configuration ensured" in vault_phase.detail
    environment = env.load("testing")
    provider = get_provider(environment, "kind", state_dir(environment.root))
    kube = Kube.from_kubeconfig(*provider.kubeconfig())
    try:
        from cattle.bootstrap import fluxinstall

        kube.learn_flux(fluxinstall.manifests(environment.root))
        kustomizations = kube.list(reconcile.KINDS["Kustomization"], "Kustomization")
        names = {o["metadata"]["name"]: reconcile.classify(o)[0] for o in kustomizations}
        assert names == {"flux-system": "ready", "platform-controllers": "ready", "secrets": "ready",
                         "platform-configs": "ready", "apps": "ready"}
        releases = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": reconcile.classify(o)
                    for o in kube.list(reconcile.KINDS["HelmRelease"], "HelmRelease")}
        assert releases and all(state == "ready" for state, _ in releases.values()), releases
        # the Secrets Flux needs: the decryption key and cattle's database decision
        sops_age = kube.get("v1", "Secret", "sops-age", "flux-system") or {}
        assert any(k.endswith(".agekey") for k in (sops_age.get("data") or {})), "flux-system/sops-age missing"
        decision = kube.get("v1", "ConfigMap", "cattle-bootstrap", "flux-system") or {}
        assert (decision.get("data") or {}).get("DB_BOOTSTRAP") in ("initdb", "recovery")
        # the timeline was written
        runs = sorted((environment.root / ".cattle/runs").glob("testing-*.json"))
        assert runs and json.loads(runs[-1].read_text())["result"] == "ok"
        # a re-run is a no-op: the cluster is reused and no Flux object's spec changes
        generations = {o["metadata"]["name"]: o["metadata"]["generation"] for o in kustomizations}
        again = bootstrap.run("testing", options)
        assert again is not None and again.result == "ok"
        [cluster_phase] = [e for e in again.events if e.phase == "cluster"]
        assert cluster_phase.detail == "reused"
        after = {o["metadata"]["name"]: o["metadata"]["generation"]
                 for o in kube.list(reconcile.KINDS["Kustomization"], "Kustomization")}
        assert after == generations
    finally:
        kube.close()
        if not os.environ.get("CATTLE_E2E_KEEP"):
            provider.delete()
