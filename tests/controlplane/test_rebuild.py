"""`cattle bootstrap` end to end through its normal code path (the kubeconfig provider) on a real kube-apiserver with
the real Flux controllers: Flux from the vendored manifests, secret zero, the checkout served by GitServer, SOPS
decrypted by the real kustomize-controller with the key cattle handed it, postBuild substitution, dependsOn order,
the stand-in charts installed by the real helm-controller, and the real status conditions driving cattle's wait."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from cattle.bootstrap import rebuild as bootstrap
from cattle.bootstrap.timeline import Timeline
from tests.controlplane import audit_checks
from tests.controlplane.conftest import CONTEXT
from tests.controlplane.tier import GIT, Tier

pytestmark = pytest.mark.timeout(1800)  # a whole rebuild (or two) on a busy 2-core machine


def _options(**extra: object) -> bootstrap.Options:
    values: dict[str, object] = {"provider": "kubeconfig", "context": CONTEXT, "serve": True, "timeout": 900.0}
    values.update(extra)
    return bootstrap.Options(**values)  # type: ignore[arg-type]


def _get(tier: Tier, *args: str) -> dict[str, object]:
    return json.loads(tier.plane.kubectl("get", *args, "-o", "json").stdout)  # type: ignore[no-any-return]


def _ready(obj: dict[str, object]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []  # type: ignore[attr-defined]
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _rebuild(tier: Tier, **extra: object) -> Timeline:
    try:
        timeline = bootstrap.run("testing", _options(**extra), timeline=Timeline("testing"))
    except Exception as exc:
        raise AssertionError(f"{exc}\n{tier.diagnosis()}") from exc
    assert timeline is not None and timeline.result == "ok"
    return timeline


def test_a_rebuild_from_nothing_reaches_every_flux_object_ready_and_the_audit_then_sees_only_what_was_planted(
        tier: Tier, secrets_repo: Path, tmp_path: Path) -> None:
    """The rebuild, then `cattle audit` on the cluster it made (tests/controlplane/audit_checks.py): one rebuild for
    both, the tier's dearest step."""
    timeline = _rebuild(tier)  # the checkout served to the cluster by GitServer (--serve)
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

    audit_checks.sees_every_class_planted(tier, secrets_repo, tmp_path)
    audit_checks.says_it_cannot_tell_when_the_cluster_is_unreachable(tier)


# What a re-run must leave alone: every object's identity and spec (generation), and the contents of every
# ConfigMap and Secret (resourceVersion: a server-side apply that changes nothing does not write).
STATE_KINDS = ("namespaces", "customresourcedefinitions", "deployments", "configmaps", "secrets",
               "kustomizations.kustomize.toolkit.fluxcd.io", "helmreleases.helm.toolkit.fluxcd.io",
               "gitrepositories.source.toolkit.fluxcd.io", "helmrepositories.source.toolkit.fluxcd.io")


def _state(tier: Tier, skip: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], tuple[object, ...]]:
    found: dict[tuple[str, str, str], tuple[object, ...]] = {}
    for kind in STATE_KINDS:
        for item in _get(tier, kind, "-A")["items"]:  # type: ignore[union-attr]
            meta = item["metadata"]  # type: ignore[index]
            key = (kind, meta.get("namespace", ""), meta["name"])
            if key in skip:
                continue
            version = meta["resourceVersion"] if kind in ("configmaps", "secrets") else meta.get("generation")
            found[key] = (meta["uid"], version)
    return found


def _managers(obj: dict[str, object]) -> dict[str, str]:
    """manager -> the fields it owns (as the API server records them), flattened to one string."""
    fields = obj["metadata"]["managedFields"]  # type: ignore[index]
    return {m["manager"]: json.dumps(m.get("fieldsV1", {}), sort_keys=True) for m in fields}  # type: ignore[index, union-attr]


def test_a_rerun_changes_nothing_and_takes_back_what_another_manager_changed(tier: Tier, secrets_repo: Path) -> None:
    """Pushed git this time (a GitServer of the test's own at one address for both runs): the second run finds
    everything in place. Between the runs someone `kubectl apply`s another age key into secret zero and labels
    it: cattle's forced server-side apply takes the key back, as the real API server decides, and leaves the label."""
    from cattle.bootstrap.gitserve import GitServer
    from cattle.secrets import keys

    subprocess.run([*GIT, "add", "-A"], cwd=secrets_repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "the environment"], cwd=secrets_repo, check=True)
    with GitServer(secrets_repo, "main") as server:
        url = server.url("127.0.0.1")
        _rebuild(tier, serve=False, git_url=url)
        identity = keys.require_identity("testing")
        stranger = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sops-age", "namespace": "flux-system"},
                    "stringData": {"testing.agekey": "AGE-SECRET-KEY-1NOTTHEKEYCATTLEHANDSFLUXNOTTHEKEYCATTLEHANDS0"}}
        tier.plane.kubectl("apply", "-f", "-", input=json.dumps(stranger))
        tier.plane.kubectl("label", "secret", "sops-age", "-n", "flux-system", "team=sre")
        secret_zero = {("secrets", "flux-system", "sops-age")}
        before = _state(tier, secret_zero)
        second = _rebuild(tier, serve=False, git_url=url)
        after = _state(tier, secret_zero)
    changed = sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
    assert changed == [], f"a re-run changed {changed}"
    assert second.result == "ok"
    secret = _get(tier, "secret", "-n", "flux-system", "sops-age", "--show-managed-fields")
    decoded = base64.b64decode(secret["data"]["testing.agekey"]).decode()  # type: ignore[index]
    assert decoded.strip() == identity.secret  # the key cattle holds, again
    assert secret["metadata"]["labels"]["team"] == "sre"  # type: ignore[index]
    managers = _managers(secret)
    assert "testing.agekey" in managers["cattle"]  # cattle owns the key field again ...
    assert "testing.agekey" not in managers.get("kubectl-client-side-apply", "")  # ... and kubectl no longer
    assert "team" in managers["kubectl-label"] and "team" not in managers["cattle"]
