"""`cattle audit` against a live cluster: the real API server's managedFields from real kubectl create, scale,
label, annotate, edit and patch, ownerReferences from the real controllers, Flux objects suspended for real.

These run on the cluster test_rebuild.py's rebuild from nothing has just made (one rebuild for both: a rebuild is
the tier's dearest step), in this order: nothing found, then every class planted, then the API server down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cattle.audit import findings
from cattle.audit import run as auditing
from tests.controlplane.cluster import wait_for
from tests.controlplane.conftest import CONTEXT
from tests.controlplane.tier import Tier

REPO = Path(__file__).resolve().parents[2]
CLAIM = """apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: uploads, namespace: feeds}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"""


def _task(*args: str) -> subprocess.CompletedProcess[str]:
    """./scripts/cattle audit as an operator runs it (the tier's KUBECONFIG and CATTLE_REPO are in os.environ)."""
    return subprocess.run([sys.executable, str(REPO / "tasks.py"), "audit", "--provider", "kubeconfig", "--context",
                           CONTEXT, *args], capture_output=True, text=True, env=dict(os.environ), timeout=600,
                          cwd=REPO, check=False)


def sees_every_class_planted(tier: Tier, secrets_repo: Path, tmp_path: Path) -> None:
    """Right after a rebuild: nothing found (exit 0); then eight findings, one per planted change (exit 1), all
    accepted with --ignore (exit 0), and the audit's run record written."""
    clean = _task("--format", "json")
    assert clean.returncode == 0, clean.stdout + clean.stderr  # what cattle just built is all in git
    assert json.loads(clean.stdout)["ok"] is True

    k = tier.plane.kubectl
    k("create", "cronjob", "for-now", "-n", "feeds", "--image=busybox", "--schedule=0 * * * *")
    k("create", "deployment", "by-hand", "-n", "feeds", "--image=busybox", "--replicas=2")
    k("create", "secret", "generic", "hand-made", "-n", "feeds", "--from-literal=password=hunter2")
    k("create", "-f", "-", input=CLAIM)
    k("patch", "kustomization", "apps", "-n", "flux-system", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    k("patch", "helmrelease", "alloy", "-n", "logging", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    k("label", "deployment", "miniflux", "-n", "feeds", "hand=made")  # stays: apps is suspended
    k("scale", "deployment", "loki", "-n", "logging", "--replicas=2")  # stays: helm-controller does not revert it
    # the real controllers make the hand-made Deployment's ReplicaSet and pods (kwok turns them Running)
    wait_for("by-hand's two pods", lambda: len(json.loads(k("get", "pods", "-n", "feeds", "-l", "app=by-hand", "-o",
                                                            "json").stdout)["items"]) == 2, tier.plane.processes)

    result = auditing.audit("testing", "kubeconfig", CONTEXT)
    found = {(f.kind_class, f.where, f.field): f.why for f in result.findings}
    assert set(found) == {
        (findings.NOT_IN_GIT, "CronJob/feeds/for-now", ""),
        (findings.NOT_IN_GIT, "Deployment/feeds/by-hand", ""),
        (findings.NO_WAY_BACK, "Secret/feeds/hand-made", ""),
        (findings.NO_WAY_BACK, "PersistentVolumeClaim/feeds/uploads", ""),
        (findings.GIT_NOT_TRUTH, "Kustomization/flux-system/apps", ""),
        (findings.GIT_NOT_TRUTH, "HelmRelease/logging/alloy", ""),
        (findings.HAND_EDIT, "Deployment/feeds/miniflux", "metadata.labels.hand"),
        (findings.HAND_EDIT, "Deployment/logging/loki", "spec.replicas"),
    }, "\n".join(f"{k}: {v}" for k, v in found.items())
    assert "(ReplicaSet, Pod)" in found[(findings.NOT_IN_GIT, "Deployment/feeds/by-hand", "")] or \
        "(Pod, ReplicaSet)" in found[(findings.NOT_IN_GIT, "Deployment/feeds/by-hand", "")]
    assert found[(findings.HAND_EDIT, "Deployment/logging/loki", "spec.replicas")].startswith(
        "set to 2 by kubectl (Update scale)")
    assert "kubectl-patch" in found[(findings.GIT_NOT_TRUTH, "Kustomization/flux-system/apps", "")]

    lossy = _task()
    assert lossy.returncode == 1, lossy.stdout + lossy.stderr
    assert "a rebuild now would lose: 4 objects, 2 hand edits, 2 places where git is not what runs" in lossy.stdout
    accepted = tmp_path / "accepted.yaml"
    accepted.write_text("".join(f"- {{kind: '{f.kind}', namespace: '{f.namespace}', name: '{f.name}', reason: "
                                f"'tested', owner: tier}}\n" for f in result.findings))
    ignored = _task("--ignore", str(accepted))
    assert ignored.returncode == 0, ignored.stdout + ignored.stderr
    assert "accepted (8, from --ignore)" in ignored.stdout
    # every audit is a run record the recovery page reads
    records = sorted((secrets_repo / ".cattle" / "runs").glob("testing-audit-*.json"))
    assert records and json.loads(records[-1].read_text())["kind"] == "audit"


def says_it_cannot_tell_when_the_cluster_is_unreachable(tier: Tier) -> None:
    """The API server down: exit 2, "could not compare", never "nothing would be lost"."""
    tier.plane.power_off()
    stopped = _task()
    assert stopped.returncode == 2, stopped.stdout + stopped.stderr
    assert "audit could not compare the cluster with git" in stopped.stderr
