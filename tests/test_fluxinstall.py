"""The Flux install on a scripted API and an injected clock: what is applied in which order, which waits come
between, what each wait says while it waits and when it gives up, and that a force apply is used throughout."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cattle.bootstrap import fluxinstall
from cattle.errors import WaitTimeout
from tests.test_reconcile import FakeClock, ScriptedKube


def parsed(item: dict[str, Any]) -> dict[str, Any]:
    """As the API or kustomize hands it over: parsed, so its strings are not the interned literals of this file
    (an `is` where `==` belongs then fails here as it would in a real run)."""
    return dict(json.loads(json.dumps(item)))


def obj(kind: str, name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    return parsed({"kind": kind, "apiVersion": "v1", "metadata": meta, **extra})


def crd(name: str, status: str | None) -> dict[str, Any]:
    conditions = [] if status is None else [{"type": "Established", "status": status}]
    return parsed({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": name, "namespace": ""}, "status": {"conditions": conditions}})


def deployment(name: str, status: str | None, message: str = "") -> dict[str, Any]:
    conditions = [] if status is None else [{"type": "Available", "status": status, "message": message}]
    return parsed({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": name, "namespace": "flux-system"}, "status": {"conditions": conditions}})


class InstallKube(ScriptedKube):
    """Records each apply with its force flag and the clock's time."""

    def __init__(self, clock: FakeClock, script: list[tuple[float, dict[str, Any]]]) -> None:
        super().__init__(clock, script)
        self.applied: list[tuple[str, bool, float]] = []

    def apply(self, item: dict[str, Any], force: bool = False) -> dict[str, Any]:
        self.applied.append((f"{item['kind']}/{item['metadata']['name']}", force, self.clock.now))
        return item


INSTALL = [obj("Deployment", "source-controller", "flux-system"), obj("ClusterRole", "crd-controller"),
           obj("CustomResourceDefinition", "gitrepositories.source.toolkit.fluxcd.io"),
           obj("Service", "webhook-receiver", "flux-system"), obj("Namespace", "flux-system"),
           obj("ServiceAccount", "source-controller", "flux-system"),
           obj("NetworkPolicy", "allow-egress", "flux-system"),
           obj("CustomResourceDefinition", "kustomizations.kustomize.toolkit.fluxcd.io"),
           obj("ResourceQuota", "critical-pods", "flux-system"), obj("ClusterRoleBinding", "crd-controller"),
           obj("Role", "leader", "flux-system"), obj("RoleBinding", "leader", "flux-system"),
           obj("ConfigMap", "settings", "flux-system"), obj("Secret", "token", "flux-system"),
           obj("PodDisruptionBudget", "controllers", "flux-system")]


def test_sort_for_apply_puts_every_kind_in_its_place_and_an_unknown_kind_just_before_the_workloads() -> None:
    kinds = [o["kind"] for o in fluxinstall.sort_for_apply(INSTALL)]
    assert kinds == ["Namespace", "CustomResourceDefinition", "CustomResourceDefinition", "ServiceAccount",
                     "ResourceQuota", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap", "Secret",
                     "Service", "NetworkPolicy", "PodDisruptionBudget", "Deployment"]
    names = [o["metadata"]["name"] for o in fluxinstall.sort_for_apply(INSTALL)
             if o["kind"] == "CustomResourceDefinition"]
    assert names == ["gitrepositories.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io"]  # stable


def test_install_applies_namespaces_and_crds_then_waits_then_the_rest_then_waits_for_the_controllers(
        capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    kube = InstallKube(clock, [(0, crd("gitrepositories.source.toolkit.fluxcd.io", "False")),
                               (0, crd("kustomizations.kustomize.toolkit.fluxcd.io", None)),
                               (3, crd("gitrepositories.source.toolkit.fluxcd.io", "True")),
                               (4, crd("kustomizations.kustomize.toolkit.fluxcd.io", "True")),
                               (0, deployment("source-controller", "False", "MinimumReplicasUnavailable")),
                               (9, deployment("source-controller", "True"))])
    count = fluxinstall.install(kube, INSTALL, timeout=60, clock=clock)  # type: ignore[arg-type]
    assert count == len(INSTALL)
    assert all(force for _, force, _ in kube.applied)  # a newer Flux in git wins over the running one's fields
    first = [(name, at) for name, _, at in kube.applied[:3]]
    assert first == [("Namespace/flux-system", 0),
                     ("CustomResourceDefinition/gitrepositories.source.toolkit.fluxcd.io", 0),
                     ("CustomResourceDefinition/kustomizations.kustomize.toolkit.fluxcd.io", 0)]
    rest = kube.applied[3:]
    assert len(rest) == len(INSTALL) - 3 and all(at == 4 for _, _, at in rest)  # after both CRDs, not before
    assert rest[-1][0] == "Deployment/source-controller"
    assert clock.now == 9  # returned as soon as the controller was Available, polling every 0.5 s
    err = capsys.readouterr().err
    assert "applied 3 namespaces and CRDs; waiting for 2 CRDs to be Established" in err
    assert f"applied {len(INSTALL) - 3} controller objects; waiting for 1 Deployments" in err


def test_the_controllers_wait_times_out_naming_each_deployment_and_its_message() -> None:
    clock = FakeClock()
    kube = InstallKube(clock, [(0, crd("gitrepositories.source.toolkit.fluxcd.io", "True")),
                               (0, crd("kustomizations.kustomize.toolkit.fluxcd.io", "True")),
                               (0, deployment("source-controller", "False", "MinimumReplicasUnavailable"))])
    objects = [*INSTALL, obj("Deployment", "kustomize-controller", "flux-system")]
    with pytest.raises(WaitTimeout) as caught:
        fluxinstall.install(kube, objects, timeout=120, clock=clock)  # type: ignore[arg-type]
    assert caught.value.message == ("Flux controllers not done within 120s: Deployments not Available yet: "
                                    "flux-system/source-controller (MinimumReplicasUnavailable), "
                                    "flux-system/kustomize-controller")
    assert "kubectl describe" in caught.value.hint
    assert clock.now == pytest.approx(120)


def test_wait_until_polls_at_its_interval_returns_at_once_when_done_and_says_its_last_words() -> None:
    clock = FakeClock()
    seen: list[float] = []

    def check() -> tuple[bool, str]:
        seen.append(clock.now)
        return clock.now >= 2.0, f"at {clock.now}"

    fluxinstall.wait_until(check, 10, "thing", interval=0.5, clock=clock)
    assert seen == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert clock.now == 2.0  # no sleep after the check that said done
    clock.now = 0.0
    with pytest.raises(WaitTimeout) as caught:
        fluxinstall.wait_until(lambda: (False, "still nothing"), 3, "thing", interval=1.0, clock=clock)
    assert caught.value.message == "thing not done within 3s: still nothing"
    assert clock.now == 3.0  # three polls, at 0, 1 and 2: the deadline is not polled again
    clock.now = 0.0
    with pytest.raises(WaitTimeout):  # the clock steps past the deadline without ever landing on it
        fluxinstall.wait_until(lambda: (False, ""), 1.2, "thing", interval=0.5, clock=clock)
    assert clock.now == 1.5


def test_a_wait_with_no_time_left_gives_up_without_polling() -> None:
    clock = FakeClock()
    polled: list[float] = []
    with pytest.raises(WaitTimeout) as caught:
        fluxinstall.wait_until(lambda: (polled.append(clock.now), (True, ""))[1], 0, "thing", clock=clock)
    assert caught.value.message == "thing not done within 0s: " and polled == []


def test_established_and_available_read_only_their_own_condition_and_its_status() -> None:
    clock = FakeClock()
    other = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
             "metadata": {"name": "c.io", "namespace": ""},
             "status": {"conditions": [{"type": "NamesAccepted", "status": "True"}]}}
    kube = ScriptedKube(clock, [(0, crd("a.io", "True")), (0, crd("b.io", "Unknown")), (0, other)])
    assert fluxinstall._established(kube, ["a.io"]) == (True, "CRDs not Established yet: ")  # type: ignore[arg-type]
    assert fluxinstall._established(kube, ["a.io", "b.io", "c.io", "missing.io"]) == (  # type: ignore[arg-type]
        False, "CRDs not Established yet: b.io, c.io, missing.io")
    kube = ScriptedKube(clock, [(0, deployment("up", "True")), (0, deployment("down", "False", "no pods")),
                                (0, deployment("new", None)), (0, deployment("odd", "Unknown", "?"))])
    assert fluxinstall._available(kube, [("flux-system", "up")])[0] is True  # type: ignore[arg-type]
    names = [("flux-system", n) for n in ("up", "down", "new", "gone", "odd")]
    assert fluxinstall._available(kube, names) == (  # type: ignore[arg-type]
        False, "Deployments not Available yet: flux-system/down (no pods), flux-system/new, flux-system/gone, "
        "flux-system/odd (?)")


def test_manifests_are_the_vendored_flux_install_rendered() -> None:
    from tests.conftest import REPO

    objects = fluxinstall.manifests(REPO)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "CustomResourceDefinition", "Deployment"} <= kinds
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"} >= {
        "source-controller", "kustomize-controller", "helm-controller"}
