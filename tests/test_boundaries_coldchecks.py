"""The cold-start drill's live checks at their edges, on the fake cluster and fake clock of test_coldstart.py with
OpenBao and the canaries stubbed: a CattleError is "not yet" and its first line is the reason given at the deadline,
the nodes and Flux named when not Ready before the power cut, the Vault canary written only when OpenBao is in the
cluster and active, OpenBao back only at health 200, the database back only when every Cluster is Ready again, and
both canaries read through their doors (issue 32, boundaries of cattle/dr/coldchecks.py)."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path
from typing import Any

import pytest

from cattle import env
from cattle.dr import coldchecks, drill
from cattle.dr.coldchecks import Before, ColdStartFailed, Outcome
from cattle.errors import CattleError, KubeApiError, PreflightError
from cattle.kube import Kube
from cattle.providers.kubeconfig import KubeconfigProvider
from cattle.vault import endpoint as baoendpoint
from cattle.vault import openbao as vault
from tests.test_coldstart import FakeKube, _checks, _Clock, _flux


def _parsed(obj: Any) -> Any:
    """Through JSON, as the API answers: no string shared with the code's literals."""
    return json.loads(json.dumps(obj))


class _Nodes(FakeKube):
    def __init__(self, nodes: dict[str, bool], flux: list[dict[str, Any]], clusters: list[dict[str, Any]] | None = None
                 ) -> None:
        super().__init__(flux, clusters)
        self.nodes = nodes

    def request(self, method: str, path: str) -> dict[str, Any]:
        return _parsed({"items": [{"metadata": {"name": name}, "status": {"conditions": [
            {"type": "Ready", "status": "True" if ready else "False"}]}} for name, ready in self.nodes.items()]})


def test_a_cattle_error_is_not_yet_and_its_first_line_is_the_reason_at_the_deadline(repo_copy: Path) -> None:
    clock = _Clock()
    checks = _checks(repo_copy, FakeKube([]), clock)
    answers: list[Any] = [CattleError("API server not answering\nsecond line"), None, "v1.33.1"]

    def probe() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
    assert checks._until("the API server answers", probe) == "v1.33.1"
    assert clock.now == 4.0  # polled every 2 s

    def refused() -> None:
        raise CattleError("connection refused " + "x" * 300 + "\nsecond line")
    with pytest.raises(ColdStartFailed) as failed:
        checks._until("the API server answers", refused)
    assert failed.value.message == "the API server answers: not within 900s: connection refused " + "x" * 181
    with pytest.raises(ColdStartFailed) as failed:
        checks._until("nodes Ready", lambda: False)
    assert failed.value.message == "nodes Ready: not within 900s"


def test_nodes_not_ready_before_the_power_cut_are_named(repo_copy: Path) -> None:
    kube = _Nodes({"node-a": True, "node-b": False, "node-c": False}, [])
    with pytest.raises(PreflightError, match=r"nodes not Ready: \['node-b', 'node-c'\]: a cold start proves"):
        _checks(repo_copy, kube, _Clock()).before()
    with pytest.raises(PreflightError, match=r"nodes not Ready: no node: a cold start proves"):
        _checks(repo_copy, _Nodes({}, []), _Clock()).before()


def test_no_flux_object_before_the_power_cut_is_named(repo_copy: Path) -> None:
    with pytest.raises(PreflightError, match=r"Flux is not Ready: no Flux object: a cold start proves"):
        _checks(repo_copy, _Nodes({"node-a": True}, []), _Clock()).before()


class _OpenBao:
    """reach, health and the canaries of drill stubbed; what was written and read recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, code: int = 200, written: bool = True) -> None:
        self.calls: list[str] = []
        self.code = code

        def reach(stack: ExitStack, forward: Any, timeout: float = 300) -> tuple[str, int]:
            self.calls.append(f"reach {timeout}")
            return "http://127.0.0.1:18200", int(str(self.code))

        monkeypatch.setattr(baoendpoint, "reach", reach)
        monkeypatch.setattr(baoendpoint, "kubectl_forwarder", lambda *kubeconfig: None)
        monkeypatch.setattr(vault, "health", lambda addr: int(str(self.code)))
        monkeypatch.setattr(drill, "canary_id", lambda: "drill-20261204T120000-abcd")
        monkeypatch.setattr(drill, "write_app_canary", lambda *args: self.calls.append(f"app canary {args[-1]}"))
        monkeypatch.setattr(drill, "write_vault_canary",
                            lambda environment, addr, canary: self.calls.append(f"vault canary {canary}") or written)
        monkeypatch.setattr(drill, "_gateway_service", lambda kube: "envoy-gateway")
        monkeypatch.setattr(coldchecks, "forward", lambda *args: self._forward(args))
        monkeypatch.setattr(drill, "read_app_canary",
                            lambda environment, port, category: f"category {category} at port {port}")
        monkeypatch.setattr(drill, "read_vault_canary",
                            lambda environment, addr, canary: self.calls.append(f"read vault {canary}") or True)

    def _forward(self, args: tuple[Any, ...]) -> AbstractContextManager[str]:
        self.calls.append(f"forward {args[2:]}")
        return nullcontext("127.0.0.1:38443")


@pytest.fixture
def ready(monkeypatch: pytest.MonkeyPatch) -> _Nodes:
    """One node and one Kustomization Ready; no CNPG Cluster served (the database and its canary skipped); OpenBao in
    the cluster (no address variable)."""
    monkeypatch.delenv("CATTLE_VAULT_ADDR", raising=False)
    monkeypatch.delenv("CATTLE_VAULT_ADDR_TESTING", raising=False)
    return _Nodes({"node-a": True}, [_parsed(_flux("Kustomization", "apps"))])


def test_the_vault_canary_is_written_when_openbao_runs_in_the_cluster_and_is_active(
        repo_copy: Path, ready: _Nodes, monkeypatch: pytest.MonkeyPatch) -> None:
    bao = _OpenBao(monkeypatch)
    before = _checks(repo_copy, ready, _Clock()).before()
    assert before.canary == "coldstart-20261204T120000-abcd"
    assert before.app_canary_skipped.startswith("no database canary: the API server serves no CNPG Cluster")
    assert (before.openbao_skipped, before.vault_canary_skipped) == ("", "")
    assert bao.calls == ["reach 60", "vault canary coldstart-20261204T120000-abcd"]


def test_without_an_init_record_the_vault_canary_is_skipped_and_a_standby_refuses(
        repo_copy: Path, ready: _Nodes, monkeypatch: pytest.MonkeyPatch) -> None:
    _OpenBao(monkeypatch, written=False)
    before = _checks(repo_copy, ready, _Clock()).before()
    assert before.vault_canary_skipped == ("no Vault canary: no init record of OpenBao in the Vault store (no root "
                                           "token to write one)")
    _OpenBao(monkeypatch, code=429)
    with pytest.raises(PreflightError, match=r"OpenBao is not active and unsealed \(health 429\)"):
        _checks(repo_copy, ready, _Clock()).before()


def test_openbao_outside_the_cluster_writes_no_vault_canary(repo_copy: Path, ready: _Nodes,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    bao = _OpenBao(monkeypatch)
    monkeypatch.setenv("CATTLE_VAULT_ADDR", "http://127.0.0.1:8200")
    before = _checks(repo_copy, ready, _Clock()).before()
    assert before.vault_canary_skipped == f"no Vault canary: {before.openbao_skipped}"
    assert bao.calls == []


def test_openbao_is_back_only_at_health_200(repo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bao = _OpenBao(monkeypatch)
    checks = _checks(repo_copy, FakeKube([]), _Clock())
    assert checks.openbao(Before([], [])) == Outcome("active and unsealed by its static seal, no unseal command")
    assert bao.calls == ["reach 30"]
    bao.code = 429
    with pytest.raises(ColdStartFailed, match="OpenBao active and unsealed: not within 900s"):
        checks.openbao(Before([], []))


def _cluster(name: str, ready: bool) -> dict[str, Any]:
    return _parsed({"kind": "Cluster", "metadata": {"namespace": "feeds", "name": name},
                    "status": {"currentPrimary": f"{name}-1",
                               "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}})


def test_the_database_is_back_only_when_every_cluster_is_ready_again(repo_copy: Path) -> None:
    before = Before([], [], databases=[("feeds", "feeds-db"), ("feeds", "other-db")])
    checks = _checks(repo_copy, FakeKube([_cluster("feeds-db", True), _cluster("other-db", True)]), _Clock())
    assert checks.database(before) == Outcome("Ready: feeds/feeds-db primary feeds-db-1, feeds/other-db primary "
                                              "other-db-1")
    checks = _checks(repo_copy, FakeKube([_cluster("feeds-db", True), _cluster("other-db", False)]), _Clock())
    with pytest.raises(ColdStartFailed, match="the CNPG primary Ready again: not within 900s"):
        checks.database(before)


def test_both_canaries_are_read_through_their_doors(repo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bao = _OpenBao(monkeypatch)
    checks = _checks(repo_copy, FakeKube([]), _Clock())
    outcome = checks.canaries(Before([], [], canary="coldstart-1"))
    assert outcome == Outcome("category coldstart-1 at port 38443 and drill/canary coldstart-1 in OpenBao")
    assert bao.calls == ["forward ('envoy-gateway-system', 'envoy-gateway', 443)", "reach 60", "read vault coldstart-1"]
    bao.calls.clear()
    outcome = checks.canaries(Before([], [], canary="coldstart-1", vault_canary_skipped="no Vault canary: outside"))
    assert outcome == Outcome("category coldstart-1 at port 38443 (SKIPPED no Vault canary: outside)")
    assert checks.canaries(Before([], [], canary="c", app_canary_skipped="no database canary: none",
                                  vault_canary_skipped="no Vault canary: outside")) == \
        Outcome("", "no database canary: none; no Vault canary: outside")


def test_a_deployment_without_replicas_asks_for_one_pod(repo_copy: Path) -> None:
    statuses = (("none-ready", {}), ("one-ready", {"readyReplicas": 1}))
    objects = [_parsed({"kind": "Deployment", "metadata": {"name": name, "namespace": "apps"}, "spec": {},
                        "status": status}) for name, status in statuses]
    checks = _checks(repo_copy, FakeKube(objects), _Clock())
    assert checks._workloads(checks.kube) == {("Deployment", "apps", "none-ready"): False,  # type: ignore[arg-type]
                                              ("Deployment", "apps", "one-ready"): True}


def test_more_replicas_ready_than_asked_for_or_none_asked_for_is_ready(repo_copy: Path) -> None:
    # a rolling update's surge: three pods ready for two replicas; a Deployment scaled to zero has nothing to wait for
    objects = [_parsed({"kind": "Deployment", "metadata": {"name": name, "namespace": "apps"},
                        "spec": {"replicas": replicas}, "status": status})
               for name, replicas, status in (("surge", 2, {"readyReplicas": 3}), ("scaled-to-zero", 0, {}))]
    checks = _checks(repo_copy, FakeKube(objects), _Clock())
    assert checks._workloads(checks.kube) == {("Deployment", "apps", "surge"): True,  # type: ignore[arg-type]
                                              ("Deployment", "apps", "scaled-to-zero"): True}


def test_flux_not_ready_before_the_power_cut_names_five_objects(repo_copy: Path) -> None:
    waiting = []
    for n in range(6):
        obj = _flux("Kustomization", f"app-{n}")
        obj["status"]["conditions"][0].update(status="False", reason="DependencyNotReady", message="waiting")
        waiting.append(_parsed(obj))
    with pytest.raises(PreflightError) as refused:
        _checks(repo_copy, _Nodes({"node-a": True}, waiting), _Clock()).before()
    assert refused.value.message.count("Kustomization flux-system/app-") == 5


class _NoCnpg(FakeKube):
    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        if kind == "Cluster":
            raise KubeApiError("GET /apis/postgresql.cnpg.io/v1/clusters failed: 404\nthe server could not find it")
        return super().list(api_version, kind, namespace)


def test_no_cnpg_served_is_skipped_with_the_first_line_of_the_apis_answer(repo_copy: Path) -> None:
    checks = _checks(repo_copy, _NoCnpg([]), _Clock())
    assert checks._databases(checks.kube) == (  # type: ignore[arg-type]
        [], "the API server serves no CNPG Cluster (GET /apis/postgresql.cnpg.io/v1/clusters failed: 404)")


def test_connecting_learns_flux_and_the_cnpg_cluster_kind_from_the_repository(
        repo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    learned: list[list[str]] = []
    closed: list[str] = []

    class _Learning:
        def learn_flux(self, objects: list[dict[str, Any]]) -> None:
            learned.append(sorted({str(o.get("kind")) for o in objects}))

        def close(self) -> None:
            closed.append("closed")
    monkeypatch.setattr(Kube, "from_kubeconfig", classmethod(lambda cls, path, context=None: _Learning()))
    checks = coldchecks.LiveChecks(env.load("testing"), KubeconfigProvider("ctx"), _Clock())  # type: ignore[arg-type]
    checks._connect()
    checks._connect()  # a second connection closes the first
    assert closed == ["closed"]
    assert learned[1] == ["CustomResourceDefinition"] and len(learned) == 4
