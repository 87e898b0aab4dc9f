"""`cattle audit` over objects a real API server wrote (tests/fixtures/audit/live-planted.json: read from the control
plane tier after a rebuild and real kubectl create, scale, label, annotate, edit and patch) and git's real rendering
of the testing environment. The tier runs the same against a live cluster (tests/controlplane/audit_checks.py,
after test_rebuild.py's rebuild from nothing)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cattle import env
from cattle.audit import baseline, checks, fields, findings, live
from cattle.audit.run import _git_side, record
from cattle.dr import history
from cattle.errors import ConfigError
from cattle.manifests import flux

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "audit" / "live-planted.json"


def _items() -> list[dict[str, Any]]:
    return list(json.loads(FIXTURE.read_text())["items"])


@pytest.fixture(scope="module")
def git_side() -> tuple[Any, ...]:
    configmap = next(o for o in _items() if o["metadata"]["name"] == flux.BOOTSTRAP_VARS)
    return _git_side(env.load("testing", REPO), dict(configmap["data"]))


def _facts(git_side: tuple[Any, ...], objects: list[dict[str, Any]]) -> checks.Facts:
    rendered, kustomizations, releases, vault_namespaces = git_side
    return checks.Facts(live.LiveObjects(objects), rendered, kustomizations, releases, baseline.load(REPO), "main",
                        True, vault_namespaces)


def _found(git_side: tuple[Any, ...], objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], str]:
    """(class, where, field) -> why."""
    return {(f.kind_class, f.where, f.field): f.why for f in checks.audit(_facts(git_side, objects))}


def _without(objects: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["metadata"]["name"] not in names]


def _clean(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fixture before the hand work: no hand-made objects, miniflux as Flux left it, nothing suspended."""
    kept = copy.deepcopy(_without(objects, "hand-made", "for-now"))
    for obj in kept:
        meta = obj["metadata"]
        meta["managedFields"] = [e for e in meta.get("managedFields") or []
                                 if not str(e["manager"]).startswith("kubectl")]
        if obj["kind"] == "Kustomization":
            obj["spec"].pop("suspend", None)
        if meta["name"] == "miniflux" and obj["kind"] == "Deployment":
            meta["labels"].pop("hand"), meta["annotations"].pop("note")
            obj["spec"]["replicas"] = 1
            obj["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "20m"
    return kept


def test_what_a_real_cluster_made_by_itself_is_not_reported(git_side: tuple[Any, ...]) -> None:
    # every object of the fixture as Flux and the cluster left it: default RBAC, kube-root-ca.crt, the default
    # ServiceAccount, Helm's release record, cattle's secret zero and sync objects, ReplicaSets and Pods
    assert _found(git_side, _clean(_items())) == {}


def test_every_class_planted_by_real_kubectl_is_reported(git_side: tuple[Any, ...]) -> None:
    found = _found(git_side, _items())
    assert set(found) == {
        (findings.NOT_IN_GIT, "CronJob/feeds/for-now", ""),
        (findings.NO_WAY_BACK, "Secret/feeds/hand-made", ""),
        (findings.HAND_EDIT, "Deployment/feeds/miniflux", "spec.replicas"),
        (findings.HAND_EDIT, "Deployment/feeds/miniflux", "metadata.labels.hand"),
        (findings.HAND_EDIT, "Deployment/feeds/miniflux", "metadata.annotations.note"),
        (findings.HAND_EDIT, "Deployment/feeds/miniflux",
         "spec.template.spec.containers[name=miniflux].resources.requests.cpu"),
        (findings.GIT_NOT_TRUTH, "Kustomization/flux-system/platform-configs", ""),
    }
    # matched on what was written and how, with the value git would restore
    assert found[(findings.HAND_EDIT, "Deployment/feeds/miniflux", "spec.replicas")] == (
        "set to 3 by kubectl (Update scale); git restores 1")
    assert found[(findings.HAND_EDIT, "Deployment/feeds/miniflux",
                  "spec.template.spec.containers[name=miniflux].resources.requests.cpu")] == (
        "set to 21m by kubectl-edit (Update); git restores 20m")
    assert "by kubectl-patch" in found[(findings.GIT_NOT_TRUTH, "Kustomization/flux-system/platform-configs", "")]
    assert "kubectl-create" in found[(findings.NOT_IN_GIT, "CronJob/feeds/for-now", "")]


def test_children_of_a_hand_made_object_are_its_finding_not_their_own(git_side: tuple[Any, ...]) -> None:
    objects = _clean(_items())
    replicaset = next(o for o in objects if o["kind"] == "ReplicaSet")
    pod = next(o for o in objects if o["kind"] == "Pod")
    deployment = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "miniflux")
    hand = copy.deepcopy(deployment)  # the same Deployment made by hand under another name: no Flux labels
    hand["metadata"].update(name="by-hand", uid="uid-by-hand", labels={"app": "by-hand"},
                            managedFields=[{"manager": "kubectl-create", "operation": "Update", "fieldsV1": {}}])
    replicaset["metadata"]["ownerReferences"][0].update(name="by-hand", uid="uid-by-hand")
    found = _found(git_side, [*objects, hand])
    assert set(found) == {(findings.NOT_IN_GIT, "Deployment/feeds/by-hand", "")}
    assert found[(findings.NOT_IN_GIT, "Deployment/feeds/by-hand", "")].endswith(
        "with the 2 objects made from it (Pod, ReplicaSet)")
    assert pod["metadata"]["ownerReferences"][0]["uid"] == replicaset["metadata"]["uid"]  # a real two-step chain


def test_an_object_whose_owner_is_gone_is_left_to_the_garbage_collector(git_side: tuple[Any, ...]) -> None:
    objects = _clean(_items())
    next(o for o in objects if o["kind"] == "ReplicaSet")["metadata"]["ownerReferences"][0]["uid"] = "deleted"
    assert _found(git_side, objects) == {}


def test_a_hand_edit_on_top_of_a_cluster_made_object_is_reported(git_side: tuple[Any, ...]) -> None:
    objects = _clean(_items())
    role = next(o for o in objects if o["kind"] == "ClusterRole")
    role["metadata"]["managedFields"].append({"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {}})
    assert set(_found(git_side, objects)) == {(findings.NOT_IN_GIT, "ClusterRole/admin", "")}


def test_git_not_truth_branch_revision_prune_and_reconcile(git_side: tuple[Any, ...]) -> None:
    objects = _clean(_items())
    source = next(o for o in objects if o["kind"] == "GitRepository")
    source["spec"]["ref"]["branch"] = "hotfix"
    apps = next(o for o in objects if o["kind"] == "Kustomization" and o["metadata"]["name"] == "apps")
    apps["status"]["lastAppliedRevision"] = "main@sha1:0000000000000000000000000000000000000000"
    leftover = copy.deepcopy(next(o for o in objects if o["kind"] == "Deployment"
                                  and o["metadata"]["name"] == "miniflux"))
    leftover["metadata"].update(name="retired", uid="uid-retired", managedFields=[])
    leftover["metadata"]["annotations"] = {checks.PRUNE: "disabled"}
    pinned = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "miniflux")
    pinned["metadata"]["annotations"][checks.RECONCILE] = "disabled"
    found = _found(git_side, [*objects, leftover])
    assert set(found) == {
        (findings.GIT_NOT_TRUTH, "GitRepository/flux-system/flux-system", ""),
        (findings.GIT_NOT_TRUTH, "Kustomization/flux-system/apps", ""),
        (findings.GIT_NOT_TRUTH, "Deployment/feeds/retired", ""),
        (findings.GIT_NOT_TRUTH, "Deployment/feeds/miniflux", ""),
    }
    assert "branch hotfix" in found[(findings.GIT_NOT_TRUTH, "GitRepository/flux-system/flux-system", "")]
    # without the prune annotation the same leftover is an object git no longer has
    del leftover["metadata"]["annotations"][checks.PRUNE]
    assert (findings.NOT_IN_GIT, "Deployment/feeds/retired", "") in _found(git_side, [*objects, leftover])


def _claim(name: str, labels: dict[str, str], namespace: str = "feeds") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "labels": labels,
                         "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}]},
            "spec": {"resources": {"requests": {"storage": "1Gi"}}}}


def test_volumes_without_a_restore_path(git_side: tuple[Any, ...]) -> None:
    objects = _clean(_items())
    cluster: dict[str, Any] = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
                               "metadata": {"name": "feeds-db", "namespace": "feeds", "uid": "uid-db",
                                            "labels": {checks.KUSTOMIZE_LABEL: "apps"}},
                               "spec": {"plugins": [{"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": True}]}}
    claims = [_claim("feeds-db-1", {"cnpg.io/cluster": "feeds-db"}), _claim("data-openbao-0", {}, "openbao"),
              _claim("uploads", {})]
    found = _found(git_side, [*objects, cluster, *claims])
    assert {k for k in found if k[0] == findings.NO_WAY_BACK} == {
        (findings.NO_WAY_BACK, "PersistentVolumeClaim/feeds/uploads", "")}
    cluster["spec"]["plugins"][0]["isWALArchiver"] = False  # a database that archives nowhere
    assert (findings.NO_WAY_BACK, "PersistentVolumeClaim/feeds/feeds-db-1", "") in _found(
        git_side, [*objects, cluster, *claims])
    facts = _facts(git_side, [*objects, *claims])
    facts.vault_backed_up = False  # OpenBao with no snapshot store: its raft volume has no way back either
    assert "PersistentVolumeClaim/openbao/data-openbao-0" in {f.where for f in checks.audit(facts)}


def test_a_label_nobody_owns_that_git_does_not_set_is_reported(git_side: tuple[Any, ...]) -> None:
    # what a Flux that only removes kubectl's managedFields entry (not fluxcd/pkg ssa v0.76's replace) would leave
    objects = _clean(_items())
    deployment = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "miniflux")
    deployment["metadata"]["labels"]["team"] = "night-shift"
    deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "9"  # the controller's own
    assert set(_found(git_side, objects)) == {(findings.HAND_EDIT, "Deployment/feeds/miniflux",
                                               "metadata.labels.team")}


def test_field_paths_of_managed_fields() -> None:
    entry = {"f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}}},
                        "f:finalizers": {'v:"a"': {}}, "f:ports": {"i:1": {}}}}
    paths = fields.leaves(entry)
    obj = {"spec": {"containers": [{"name": "x"}, {"name": "app", "image": "img"}], "finalizers": ["a"],
                    "ports": [1, 2]}}
    assert [fields.text(p) for p in paths] == ["spec.containers[name=app].image", 'spec.finalizers["a"]',
                                               "spec.ports[1]"]
    assert [fields.value_at(obj, p) for p in paths] == ["img", "a", 2]
    assert fields.value_at({"spec": {}}, paths[0]) is fields.MISSING
    assert fields.shown(fields.MISSING) == "(not set)"


def test_ignore_file_needs_a_reason_and_an_owner_and_moves_findings_aside(tmp_path: Path,
                                                                          git_side: tuple[Any, ...]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {kind: CronJob, namespace: feeds, name: for-now, reason: keep}\n")
    with pytest.raises(ConfigError, match="lacks owner"):
        findings.load_ignores(bad)
    good = tmp_path / "ignore.yaml"
    good.write_text("- {kind: CronJob, namespace: feeds, name: 'for-*', reason: 'until ticket 12', owner: alice}\n")
    audit = findings.Audit("testing", "ctx", "rev", checks.audit(_facts(git_side, _items())))
    findings.apply_ignores(audit, findings.load_ignores(good))
    assert "CronJob/feeds/for-now" not in {f.where for f in audit.findings}
    assert [(f.where, a.owner) for f, a in audit.accepted] == [("CronJob/feeds/for-now", "alice")]
    assert "until ticket 12 (owner: alice)" in findings.format_text(audit)


def test_report_and_record(git_side: tuple[Any, ...]) -> None:
    audit = findings.Audit("testing", "ctx", "main@sha1:abc", checks.audit(_facts(git_side, _items())),
                           objects_read=18)
    assert audit.headline() == ("testing: a rebuild now would lose: 2 objects, 4 hand edits, 1 places where git is "
                                "not what runs")
    text = findings.format_text(audit)
    assert "CronJob/feeds/for-now: not in git" in text and "-> add to git" in text
    as_json = json.loads(findings.format_json(audit))
    assert as_json["ok"] is False and as_json["counts"][findings.HAND_EDIT] == 4
    kept = history.checked(record(audit, 1000.0), "audit")  # a run record the history branch takes
    assert kept["result"] == "would lose" and len(kept["findings"]) == 7
    clean = findings.Audit("testing", "ctx", "rev", [], objects_read=3)
    assert clean.ok and clean.headline() == "testing: a rebuild now would lose nothing (3 live objects read)"


def test_baseline_entries_need_a_reason(tmp_path: Path) -> None:
    (tmp_path / "platform").mkdir()
    (tmp_path / "platform" / "audit-baseline.yaml").write_text("skip:\n  - {kind: Event}\n")
    with pytest.raises(ConfigError, match="has no reason"):
        baseline.load(tmp_path)
    rules = baseline.load(REPO)
    assert all(rules.skip.values()) and all(rules.managers.values()) and all(r["reason"] for r in rules.objects)


def test_a_hand_edited_secret_never_shows_its_values(git_side: tuple[Any, ...]) -> None:
    objects = _clean(_items())
    secret = copy.deepcopy(next(o for o in objects if o["metadata"]["name"] == "sops-age"))
    secret["metadata"].update(name="grafana-admin", namespace="monitoring", uid="uid-grafana",
                              labels={checks.KUSTOMIZE_LABEL: "secrets"})
    secret["data"] = {"admin-password": "aHVudGVyMg=="}  # hunter2
    secret["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration":
                                         '{"data":{"admin-password":"aHVudGVyMg=="}}'}
    secret["metadata"]["managedFields"] = [{"manager": "kubectl-client-side-apply", "operation": "Update",
                                            "fieldsV1": {"f:data": {"f:admin-password": {}}, "f:metadata": {
                                                "f:annotations": {"f:kubectl.kubernetes.io/last-applied-configuration":
                                                                  {}}}}}]
    found = checks.audit(_facts(git_side, [*objects, secret]))
    edits = [f for f in found if f.where == "Secret/monitoring/grafana-admin"]
    assert {f.field for f in edits} == {"data.admin-password",
                                        "metadata.annotations.kubectl.kubernetes.io/last-applied-configuration"}
    shown = json.dumps([f.why for f in found])
    assert "aHVudGVyMg" not in shown and "hunter2" not in shown
    assert all("(a value of a Secret, not shown)" in f.why for f in edits)
