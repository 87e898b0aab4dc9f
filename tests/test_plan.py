"""The bootstrap plan as data: layers in dependency order, the RTO budget beside the reconcile timeout."""

from __future__ import annotations

import json

import pytest

from cattle.bootstrap import plan

# as a rendering hands them over: parsed from YAML, so not the interned literals of this file
EXPECTED = [tuple(t) for t in json.loads(json.dumps([
    ("Kustomization", "flux-system", "apps"), ("Kustomization", "flux-system", "secrets"),
    ("HelmRelease", "openbao", "openbao"), ("Kustomization", "flux-system", "platform-controllers"),
    ("Kustomization", "flux-system", "flux-system"), ("Kustomization", "flux-system", "platform-configs")]))]
DEPENDS = {"apps": ["platform-controllers"], "platform-controllers": ["secrets"],
           "platform-configs": ["platform-controllers"], "secrets": [], "flux-system": []}


def facts(timeout: float, budget: float) -> plan.Facts:
    return plan.Facts("production", "kubeconfig", False, True, "key file", False, "https://git", "main", None,
                      "restore", "restore snapshot X", "recover g3", timeout, (), budget)


def test_layers_come_in_dependency_order_not_alphabetical() -> None:
    reconcile = plan.build_plan(facts(900, 900), [], [], [], EXPECTED, DEPENDS).steps[6]
    assert reconcile.objects == (
        "layer 0: Kustomization flux-system/flux-system",
        "layer 0: Kustomization flux-system/secrets",
        "layer 1: Kustomization flux-system/platform-controllers (after secrets)",
        "layer 2: Kustomization flux-system/apps (after platform-controllers)",
        "layer 2: Kustomization flux-system/platform-configs (after platform-controllers)",
        "HelmRelease openbao/openbao")


def test_the_budget_stands_beside_the_timeout_and_a_longer_timeout_is_called_out() -> None:
    within = plan.build_plan(facts(900, 900), [], [], [], EXPECTED, DEPENDS).steps[6].reason
    assert within == "wait up to 15m for 6 Flux objects to be Ready (RTO budget 15m)"
    shorter = plan.build_plan(facts(600, 900), [], [], [], EXPECTED, DEPENDS).steps[6].reason
    assert shorter == "wait up to 10m for 6 Flux objects to be Ready (RTO budget 15m)"  # no note: it ends in time
    over = plan.build_plan(facts(1200, 900), [], [], [], EXPECTED, DEPENDS).steps[6].reason
    assert over.startswith("wait up to 20m for 6 Flux objects to be Ready (RTO budget 15m); NOTE: the reconcile "
                           "timeout is longer than the RTO budget")


def _facts(**changes: object) -> plan.Facts:
    from dataclasses import replace

    return replace(facts(900, 900), **changes)  # type: ignore[arg-type]


def _step(name: str, built: plan.Plan) -> plan.Step:
    return next(s for s in built.steps if s.name == name)


def test_the_cluster_step_says_what_the_provider_will_do() -> None:
    def cluster(**changes: object) -> tuple[str, bool]:
        step = _step("cluster", plan.build_plan(_facts(**changes), [], [], [], EXPECTED, DEPENDS))
        return step.reason, step.acts

    assert cluster(provider="kind", creates_clusters=True, cluster_exists=True) == (
        "kind cluster exists already: reuse it", False)
    assert cluster(provider="kind", creates_clusters=True, cluster_exists=None) == (
        "create a kind cluster, or reuse it if it exists (kind could not be asked here)", True)
    assert cluster(provider="k3d", creates_clusters=True, cluster_exists=False) == ("create a k3d cluster", True)
    assert cluster(provider="kubeconfig", creates_clusters=False, cluster_exists=False) == (
        "attach to kubeconfig context (kubeconfig)", False)
    assert cluster(provider="kubeconfig", creates_clusters=False, cluster_exists=None) == (
        "attach to kubeconfig context (kubeconfig)", False)
    assert cluster(provider="opentofu", creates_clusters=True, cluster_exists=False,
                   cluster_plan="3 to add, 0 to change, 0 to destroy") == (
        "opentofu: tofu plan: 3 to add, 0 to change, 0 to destroy", True)
    assert cluster(provider="opentofu", creates_clusters=True, cluster_exists=True,
                   cluster_plan="no changes: the cluster matches infra/") == (
        "opentofu: tofu plan: no changes: the cluster matches infra/", False)


def test_secret_zero_restore_sync_and_preflight_read_their_facts() -> None:
    def reason(step: str, secret_names: list[str] | None = None, **changes: object) -> str:
        return _step(step, plan.build_plan(_facts(**changes), [], [], secret_names or [], EXPECTED, DEPENDS)).reason

    assert reason("secrets") == "secret zero: age key from key file; flux-system/sops-age"
    assert reason("secrets", ["git-credentials"]) == ("secret zero: age key from key file; flux-system/sops-age and "
                                                      "git credentials")
    assert reason("secrets", key_source=None, may_generate_key=True) == (
        "secret zero: no age key here: make a new one and regenerate every declared secret (throwaway environment); "
        "flux-system/sops-age")
    assert reason("secrets", key_source=None, may_generate_key=False) == (
        "secret zero: no age key: bootstrap will stop (see docs/secrets.md, key custody); flux-system/sops-age")
    assert reason("restore") == "as soon as OpenBao is up: restore snapshot X"
    assert reason("restore", vault_action="initialise", vault_reason="no snapshot yet") == (
        "as soon as OpenBao is up: no snapshot yet; init record kept encrypted in that store, configured for the "
        "platform, first snapshot taken at once")
    assert reason("restore", vault_action="refuse", vault_reason="the store is unreadable") == (
        "REFUSED: the store is unreadable")
    assert reason("sync") == "GitRepository https://git @ main"
    assert reason("sync", git_branch="release", git_warning="not pushed") == (
        "GitRepository https://git @ release (warning: not pushed)")
    assert reason("preflight") == "tools, provider and keys checked"
    assert reason("preflight", preflight_problems=("no sops", "no key")) == (
        "FAILED, a real run stops here and changes nothing: no sops; no key")
    assert reason("database") == ("recover g3 (kept as it is when the CNPG Cluster exists already); ConfigMap "
                                  "flux-system/cattle-bootstrap")
    assert reason("reconcile", rto_budget=None) == "wait up to 15m for 6 Flux objects to be Ready"


def test_the_whole_plan_renders_every_step_in_order_with_its_objects() -> None:
    flux_objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}}]
    sync = [{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
             "metadata": {"name": "flux-system", "namespace": "flux-system"}}]
    built = plan.build_plan(_facts(provider="kind", creates_clusters=True, cluster_exists=True), flux_objects, sync,
                            ["git-credentials"], EXPECTED[:2], {"apps": ["secrets"]})
    assert [s.name for s in built.changes] == ["preflight", "flux", "secrets", "database", "sync", "reconcile",
                                               "restore", "verify"]  # the reused cluster is the one no-op
    assert built.render() == "\n".join([
        "bootstrap plan for production:",
        "  1. preflight: tools, provider and keys checked",
        "  2. cluster (no-op): kind cluster exists already: reuse it",
        "  3. flux: server-side apply 1 Flux v2.9.4 objects, CRDs first; wait Established, then Available",
        "       - Namespace flux-system",
        "  4. secrets: secret zero: age key from key file; flux-system/sops-age and git credentials",
        "       - Secret flux-system/sops-age (values never printed)",
        "       - Secret flux-system/git-credentials (values never printed)",
        "  5. database: recover g3 (kept as it is when the CNPG Cluster exists already); ConfigMap "
        "flux-system/cattle-bootstrap",
        "       - ConfigMap flux-system/cattle-bootstrap",
        "  6. sync: GitRepository https://git @ main",
        "       - GitRepository flux-system/flux-system",
        "  7. reconcile: wait up to 15m for 2 Flux objects to be Ready (RTO budget 15m)",
        "       - layer 0: Kustomization flux-system/secrets",
        "       - layer 1: Kustomization flux-system/apps (after secrets)",
        "  8. restore: as soon as OpenBao is up: restore snapshot X",
        "  9. verify: every Flux object Ready; Vault canary back when restored"])
    assert built.render(with_objects=False).splitlines() == [line for line in built.render().splitlines()
                                                              if not line.startswith("       - ")]


def test_layers_survive_a_cycle_and_ignore_dependencies_outside_the_expected_objects() -> None:
    expected = [("Kustomization", "flux-system", n) for n in ("a", "b", "c")]
    lines = plan.layers(expected, {"a": ["b"], "b": ["a"], "c": ["a", "elsewhere"]})
    assert lines == ["layer 0: Kustomization flux-system/b (after a)",
                     "layer 1: Kustomization flux-system/a (after b)",
                     "layer 2: Kustomization flux-system/c (after a, elsewhere)"]
    assert plan.layers([], {}) == []


def test_the_plan_is_data_nothing_may_change_after_it_is_made() -> None:
    from dataclasses import FrozenInstanceError

    built = plan.build_plan(facts(900, 900), [], [], [], EXPECTED, DEPENDS)
    for item, field in ((built, "env"), (built.steps[0], "reason"), (facts(900, 900), "env")):
        with pytest.raises(FrozenInstanceError):
            setattr(item, field, "changed")
