"""The Flux objects cattle makes itself (cattle.manifests.flux), whole: the sync pair and the decision ConfigMap.
The fake Flux reads them in the bootstrap tests; here every field is pinned, so a changed one is a decision."""

from __future__ import annotations

from dataclasses import replace

from cattle import env
from cattle.manifests import flux

ROOT_SPEC = {"interval": "10m", "path": "./clusters/testing", "prune": True,
             "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
             "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "cattle-bootstrap", "optional": True}]}}


def test_the_sync_pair_follows_the_environment_and_the_given_url() -> None:
    testing = replace(env.load("testing"), git_url="https://git.example.org/ops.git", git_branch="release")
    repository, root = flux.sync_objects(testing, "http://172.18.0.1:9418/cattle.git")
    assert repository == {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                          "metadata": {"name": "flux-system", "namespace": "flux-system"},
                          "spec": {"interval": "1m", "url": "http://172.18.0.1:9418/cattle.git",
                                   "ref": {"branch": "release"}, "secretRef": {"name": "flux-system"}}}
    assert root == {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "metadata": {"name": "flux-system", "namespace": "flux-system"},
                    "spec": {**ROOT_SPEC, "path": testing.flux_path}}
    assert testing.flux_path.endswith("clusters/testing")


def test_the_url_falls_back_to_the_environments_then_to_a_placeholder_and_credentials_are_optional() -> None:
    testing = replace(env.load("testing"), git_url="https://git.example.org/ops.git")
    [repository, _] = flux.sync_objects(testing, None, with_credentials=False)
    assert repository["spec"]["url"] == "https://git.example.org/ops.git" and "secretRef" not in repository["spec"]
    [repository, _] = flux.sync_objects(replace(testing, git_url=None))
    assert repository["spec"]["url"] == flux.PLACEHOLDER_URL == "https://git.invalid/cattle.git"
    assert repository["spec"]["secretRef"] == {"name": "flux-system"}  # credentials by default


def test_the_decision_configmap_is_cattles_and_copies_the_variables() -> None:
    variables = {"DB_BOOTSTRAP": "recovery", "DB_RECOVERY_SOURCE": "feeds-db-g2"}
    configmap = flux.bootstrap_configmap(variables)
    assert configmap == {"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "cattle-bootstrap", "namespace": "flux-system",
                                      "labels": {"app.kubernetes.io/managed-by": "cattle"}},
                         "data": {"DB_BOOTSTRAP": "recovery", "DB_RECOVERY_SOURCE": "feeds-db-g2"}}
    variables["DB_BOOTSTRAP"] = "initdb"
    assert configmap["data"]["DB_BOOTSTRAP"] == "recovery"  # a copy: a later change of the caller's dict is not sent
