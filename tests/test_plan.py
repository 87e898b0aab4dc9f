"""The bootstrap plan as data: layers in dependency order, the RTO budget beside the reconcile timeout."""

from __future__ import annotations

from cattle.bootstrap import plan

EXPECTED = [("Kustomization", "flux-system", "apps"), ("Kustomization", "flux-system", "secrets"),
            ("HelmRelease", "openbao", "openbao"), ("Kustomization", "flux-system", "platform-controllers"),
            ("Kustomization", "flux-system", "flux-system"), ("Kustomization", "flux-system", "platform-configs")]
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
    over = plan.build_plan(facts(1200, 900), [], [], [], EXPECTED, DEPENDS).steps[6].reason
    assert over.startswith("wait up to 20m for 6 Flux objects to be Ready (RTO budget 15m); NOTE: the reconcile "
                           "timeout is longer than the RTO budget")
