"""End to end on a real kind cluster: the same bootstrap code path as the kmock tests, for real.

Runs only where docker (with a running engine) and kind are present; the disaster-recovery workflow runs it
(job `e2e`) with CATTLE_E2E_REQUIRED=1, which turns a missing docker or kind into a failure instead of a skip.
Set CATTLE_E2E_KEEP=1 to keep the cluster afterwards.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from cattle import bootstrap, env, reconcile, tools
from cattle.kube import Kube
from cattle.paths import state_dir
from cattle.providers import get_provider

pytestmark = pytest.mark.e2e


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
    options = bootstrap.Options(provider="kind", serve=True, timeout=float(os.environ.get("CATTLE_E2E_TIMEOUT", 1500)))
    timeline = bootstrap.run("testing", options)
    assert timeline is not None and timeline.result == "ok"
    [vault_phase] = [e for e in timeline.events if e.phase == "restore"]
    assert vault_phase.status == "ok"  # OpenBao initialised (or restored) and configured during the reconcile
    assert "initialised a fresh OpenBao" in vault_phase.detail or "configuration ensured" in vault_phase.detail
    environment = env.load("testing")
    provider = get_provider(environment, "kind", state_dir(environment.root))
    kube = Kube.from_kubeconfig(*provider.kubeconfig())
    try:
        from cattle import fluxinstall

        kube.learn_flux(fluxinstall.manifests(environment.root))
        names = {o["metadata"]["name"]: reconcile.classify(o)[0]
                 for o in kube.list(reconcile.KINDS["Kustomization"], "Kustomization")}
        assert names == {"flux-system": "ready", "platform-controllers": "ready", "secrets": "ready",
                         "platform-configs": "ready", "apps": "ready"}
    finally:
        kube.close()
        if not os.environ.get("CATTLE_E2E_KEEP"):
            provider.delete()
