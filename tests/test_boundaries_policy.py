"""The validate policy at its edges, on hand-made renderings (no kustomize): a dependency chain exactly at its depth
limit, each resource and probe missing alone, every way an image or chart is not pinned, and namespaces (issue 32,
mutation survivors of cattle/manifests/policy.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from cattle.manifests import policy
from cattle.manifests.render import KUSTOMIZATION_API, RenderedObject, Rendering
from cattle.schemas import SchemaStore


@pytest.fixture(scope="module")
def store() -> SchemaStore:
    return SchemaStore({})


def _problems(store: SchemaStore, *objects: dict[str, Any], rule: str, unpinned: dict[str, str] | None = None,
              where: str = "apps") -> list[tuple[str, str]]:
    parsed = [json.loads(json.dumps(o)) for o in objects]  # strings as kustomize's output gives them, not interned
    rendering = Rendering("testing", [RenderedObject(o, where, f"{o['kind']}.yaml") for o in parsed])
    return [(p.object, p.message) for p in policy.check(rendering, store, unpinned) if p.rule == rule]


def _kustomization(name: str, *depends: str) -> dict[str, Any]:
    return {"apiVersion": f"{KUSTOMIZATION_API}/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                     "dependsOn": [{"name": d} for d in depends]}}


GIT = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
       "metadata": {"name": "flux-system", "namespace": "flux-system"}}


def test_a_dependency_chain_exactly_at_the_limit_passes_and_one_deeper_does_not(store: SchemaStore) -> None:
    assert policy.MAX_DEPTH == 3
    chain = [_kustomization("a"), _kustomization("b", "a"), _kustomization("c", "b")]
    assert _problems(store, GIT, *chain, rule="dependencies") == []
    assert _problems(store, GIT, *chain, _kustomization("d", "c"), rule="dependencies") == [
        ("Kustomization flux-system/d", "dependency chain is 4 deep (limit 3): Flux reconciles it serially")]


def test_a_cycle_is_reported_once_and_a_missing_dependency_or_source_by_name(store: SchemaStore) -> None:
    found = _problems(store, GIT, _kustomization("a", "b"), _kustomization("b", "a"), rule="dependencies")
    assert [m for _, m in found] == ["dependsOn cycle: flux-system/a -> flux-system/b -> flux-system/a"]
    missing = _problems(store, _kustomization("a", "nowhere"), rule="references")
    assert [m for _, m in missing] == ["sourceRef GitRepository flux-system/flux-system does not exist",
                                       "dependsOn flux-system/nowhere does not exist"]


def _deployment(container: dict[str, Any], kind: str = "Deployment") -> dict[str, Any]:
    pod = {"containers": [{"name": "app", "image": "app@sha256:" + "0" * 64, **container}]}
    spec: dict[str, Any] = {"template": {"spec": pod}}
    if kind == "CronJob":
        spec = {"jobTemplate": {"spec": {"template": {"spec": pod}}}}
    if kind == "Job":
        spec = {"template": {"spec": pod}}
    api = {"Deployment": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1"}[kind]
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "app", "namespace": "default"}, "spec": spec}


FULL = {"requests": {"cpu": "10m", "memory": "10Mi"}, "limits": {"memory": "20Mi"}}
PROBES = {"readinessProbe": {"tcpSocket": {"port": 80}}, "livenessProbe": {"tcpSocket": {"port": 80}}}


@pytest.mark.parametrize(("part", "key"), [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")])
def test_each_resource_missing_alone_is_a_problem(store: SchemaStore, part: str, key: str) -> None:
    resources = {p: {k: v for k, v in values.items() if (p, k) != (part, key)} for p, values in FULL.items()}
    assert _problems(store, _deployment({"resources": resources, **PROBES}), rule="resources") == [
        ("Deployment default/app", "container app lacks resources (requests cpu+memory, limits memory)")]
    assert _problems(store, _deployment({"resources": FULL, **PROBES}), rule="resources") == []


@pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe"])
def test_each_probe_missing_alone_is_a_problem_for_long_running_pods_only(store: SchemaStore, probe: str) -> None:
    other = {k: v for k, v in PROBES.items() if k != probe}
    assert _problems(store, _deployment({"resources": FULL, **other}), rule="probes") == [
        ("Deployment default/app", f"container app has no {probe}")]
    assert _problems(store, _deployment({"resources": FULL}, "Job"), rule="probes") == []
    assert _problems(store, _deployment({"resources": FULL}), rule="probes") == [
        ("Deployment default/app", "container app has no readinessProbe or livenessProbe")]


@pytest.mark.parametrize(("image", "why"), [
    ("registry/app", "image 'registry/app' is not pinned (tag missing)"),
    ("registry/app:latest", "image 'registry/app:latest' is not pinned (tag latest)"),
    ("registry:5000/app", "image 'registry:5000/app' is not pinned (tag missing)"),
    ("registry/app:1.2.3", "image 'registry/app:1.2.3' is pinned by tag only (a tag can be re-pushed)"),
])
def test_every_way_an_image_is_not_pinned(store: SchemaStore, image: str, why: str) -> None:
    found = _problems(store, _deployment({"image": image, "resources": FULL, **PROBES}), rule="pinning")
    assert [m for _, m in found] == [why]


def test_an_image_pinned_by_digest_or_listed_as_unpinnable_passes(store: SchemaStore) -> None:
    listed = {"registry/app:1.2.3": "no digest published"}
    assert _problems(store, _deployment({"image": "registry/app:1.2.3", "resources": FULL, **PROBES}),
                     rule="pinning", unpinned=listed) == []
    init = _deployment({"resources": FULL, **PROBES})
    init["spec"]["template"]["spec"]["initContainers"] = [{"name": "init", "image": "busybox:latest"}]
    assert [m for _, m in _problems(store, init, rule="pinning")] == [
        "image 'busybox:latest' is not pinned (tag latest)"]


def _helmrelease(version: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "chart", "namespace": "default"},
            "spec": {"chart": {"spec": {"chart": "chart", "version": version,
                                        "sourceRef": {"kind": "HelmRepository", "name": "repo"}}},
                     "values": values or {}}}


@pytest.mark.parametrize(("version", "pinned"), [("1.2.3", True), ("v1.2.3-rc.1+build.5", True), ("1.2", False),
                                                 ("1.2.x", False), (">=1.2.3", False), ("", False)])
def test_a_chart_version_is_exact_or_a_problem(store: SchemaStore, version: str, pinned: bool) -> None:
    found = _problems(store, _helmrelease(version), rule="pinning")
    assert (found == []) is pinned, found


def test_image_tags_in_helm_values_need_a_digest(store: SchemaStore) -> None:
    values = {"image": {"tag": "1.0"}, "sidecar": {"initImage": "busybox:1.36"},
              "pinned": {"image": {"tag": "1.0", "digest": "sha256:abc"}}, "empty": {"image": {"tag": ""}},
              "list": [{"image": "nginx:1.27@sha256:" + "0" * 64}], "noTag": {"image": "registry:5000/app"}}
    assert list(policy.values_image_tags(values)) == [("image.tag", "1.0"), ("sidecar.initImage", "1.36"),
                                                      ("list[0].image", "nginx:1.27@sha256:" + "0" * 64)]
    found = _problems(store, _helmrelease("1.2.3", values), rule="pinning")
    assert [m for _, m in found] == ["values image.tag sets image tag '1.0' without a digest",
                                     "values sidecar.initImage sets image tag '1.36' without a digest"]


def _oci(ref: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "OCIRepository",
            "metadata": {"name": "oci", "namespace": "default"}, "spec": {"ref": ref}}


@pytest.mark.parametrize(("ref", "why"), [
    ({"tag": "1.2.3"}, None), ({"digest": "sha256:abc", "tag": "latest"}, None), ({"semver": "1.2.3"}, None),
    ({"semver": ">=1.2.3"}, "OCI ref semver '>=1.2.3' is a range"),
    ({"tag": "latest"}, "OCI ref tag 'latest' is not pinned"),
    ({}, "OCI ref tag '(missing)' is not pinned"),
])
def test_an_oci_source_is_pinned_by_tag_exact_semver_or_digest(store: SchemaStore, ref: dict[str, str],
                                                               why: str | None) -> None:
    assert [m for _, m in _problems(store, _oci(ref), rule="pinning")] == ([why] if why else [])


def test_namespaces_must_be_declared_builtin_or_absent_for_cluster_scoped_kinds(store: SchemaStore) -> None:
    def config(namespace: str | None) -> dict[str, Any]:
        meta = {"name": "c"} | ({"namespace": namespace} if namespace else {})
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}

    declared = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mine"}}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}
    assert _problems(store, declared, role, config("mine"), config("kube-system"), config("default"),
                     rule="namespaces") == []
    assert [m for _, m in _problems(store, config("other"), config(None), rule="namespaces")] == [
        "namespace 'other' is not declared in this environment", "namespaced object has no namespace"]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "other", "namespace": "mine"}}
    assert [m for _, m in _problems(store, declared, service, config("other"), rule="namespaces")] == [
        "namespace 'other' is not declared in this environment"]  # only a Namespace declares one


def test_an_object_applied_by_two_kustomizations_is_a_duplicate(store: SchemaStore) -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}
    apps_again = "".join(["ap", "ps"])  # the same name, not the same string object
    rendering = Rendering("testing", [RenderedObject(config, "apps", "a.yaml"),
                                      RenderedObject(config, apps_again, "b.yaml"),
                                      RenderedObject(config, "infra", "c.yaml")])
    assert [(p.file, p.message) for p in policy.check(rendering, store) if p.rule == "duplicates"] == [
        ("c.yaml", "also applied by Kustomization apps")]


def test_an_oci_source_as_kustomize_prints_it_is_checked_and_another_groups_kind_is_not(store: SchemaStore) -> None:
    parsed = yaml.safe_load("apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\n"
                            "metadata: {name: oci, namespace: default}\nspec: {ref: {tag: latest}}\n")
    assert [m for _, m in _problems(store, parsed, rule="pinning")] == ["OCI ref tag 'latest' is not pinned"]
    other = {**_oci({"tag": "latest"}), "apiVersion": "example.com/v1"}
    assert _problems(store, other, rule="pinning") == []


def test_only_a_cloudnative_pg_clusters_image_is_checked(store: SchemaStore) -> None:
    def cluster(api_version: str) -> dict[str, Any]:
        return {"apiVersion": api_version, "kind": "Cluster", "metadata": {"name": "db", "namespace": "default"},
                "spec": {"imageName": "ghcr.io/cloudnative-pg/postgresql:16"}}

    assert [m for _, m in _problems(store, cluster("postgresql.cnpg.io/v1"), rule="pinning")] == [
        "image 'ghcr.io/cloudnative-pg/postgresql:16' is pinned by tag only (a tag can be re-pushed)"]
    assert _problems(store, cluster("cluster.x-k8s.io/v1beta1"), rule="pinning") == []


def test_a_helmreleases_chart_source_or_chart_ref_must_exist(store: SchemaStore) -> None:
    repo = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "repo", "namespace": "default"}}
    assert _problems(store, _helmrelease("1.2.3"), repo, rule="references") == []
    assert [m for _, m in _problems(store, _helmrelease("1.2.3"), rule="references")] == [
        "chart.spec.sourceRef HelmRepository default/repo does not exist"]
    by_ref = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
              "metadata": {"name": "chart", "namespace": "default"},
              "spec": {"chartRef": {"kind": "OCIRepository", "name": "oci"}}}
    assert [m for _, m in _problems(store, by_ref, rule="references")] == [
        "chartRef OCIRepository default/oci does not exist"]
    assert _problems(store, by_ref, _oci({"tag": "1.2.3"}), rule="references") == []


def test_a_variable_left_where_nothing_substitutes_is_a_problem_except_in_a_crd_or_an_object_opted_out(
        store: SchemaStore) -> None:
    from cattle.manifests.substitute import SUBSTITUTE_ANNOTATION

    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "apps"},
              "data": {"url": "https://${DOMAIN}/"}}
    assert _problems(store, config, rule="substitution") == [
        ("ConfigMap apps/c", "${DOMAIN} is never substituted: Kustomization apps has no postBuild")]
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "things.example.com"}, "spec": {"description": "postBuild turns ${var} into a value"}}
    assert _problems(store, crd, rule="substitution") == []  # a CRD's descriptions explain the syntax
    opted_out = {**config, "metadata": {**config["metadata"], "annotations": {SUBSTITUTE_ANNOTATION: "disabled"}}}
    assert _problems(store, opted_out, rule="substitution") == []
