"""The drill's report and guard rails (the drill itself runs on kind in the disaster-recovery workflow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cattle import env
from cattle.bootstrap.timeline import Timeline
from cattle.dr import drill
from cattle.errors import CattleError
from tests.waiting import FakeClock


def test_protected_environment_is_refused() -> None:
    with pytest.raises(CattleError, match="production is protected: a drill destroys the cluster"):
        drill.drill("production")


def test_summary_has_verdict_table_and_gantt() -> None:
    timeline = Timeline("testing", started=1000.0)
    timeline.record("cluster", 1000.0, 1060.0, "ok")
    timeline.record("reconcile apps", 1060.0, 1500.0, "ok")
    timeline.record("restore", 1500.0, 1520.0, "failed", "snapshot refused")
    over = drill.summary_markdown(timeline, 1000.0, 900.0)
    assert "Generation 2 RTO **1000s** — OVER the budget of 900s" in over
    assert "```mermaid\ngantt" in over and "reconcile apps : 60, 500" in over and "restore : crit, 500, 520" in over
    assert "RTO (testing): 520.0s" in over
    assert "within the budget" in drill.summary_markdown(timeline, 800.0, 900.0)
    assert "**900s** — within the budget of 900s" in drill.summary_markdown(timeline, 900.0, 900.0)


def test_a_registry_mirror_is_refused_the_rto_stays_honest(repo_copy: Path) -> None:
    path = repo_copy / "clusters/testing/environment.yaml"
    path.write_text(path.read_text().replace("git:\n", "registry:\n  mirrors:\n    docker.io: https://mirror.example\n"
                                             "git:\n", 1))
    with pytest.raises(CattleError, match=r"testing declares registry mirrors \(docker.io\): the drill measures the "
                                          "honest RTO"):
        drill.drill("testing")


def test_there_is_no_from_backup_shortcut() -> None:
    """The S3 store of the CI drill lives one job: generation 2 always restores what generation 1 wrote."""
    import inspect

    assert "from_backup" not in inspect.signature(drill.drill).parameters


class _Cluster:
    deleted = 0

    def kubeconfig(self) -> tuple[None, None]:
        return None, None

    def delete(self) -> None:
        _Cluster.deleted += 1


class _Kube:
    def close(self) -> None:
        pass


@pytest.mark.parametrize("took, fails", [(1200.0, True), (300.0, False)])
def test_a_drill_over_its_rto_budget_fails_and_is_recorded_as_failed(
        repo_copy: Path, monkeypatch: pytest.MonkeyPatch, took: float, fails: bool) -> None:
    """The orchestration of the two generations with the cluster steps stood in: generation 2 taking longer than
    the budget (900 s for testing) fails the drill, and its run record says failed, not ok."""
    import json

    from cattle.bootstrap.timeline import Timeline
    from cattle.dr import drill as drills

    def fake_run(environment: env.Environment, options: object) -> Timeline:
        timeline = Timeline(environment.name, started=1000.0)
        timeline.record("reconcile", 1000.0, 1000.0 + took, "ok")
        timeline.result = "ok"
        return timeline

    monkeypatch.setattr(drills.bootstrap, "run", fake_run)
    monkeypatch.setattr(drills.bootstrap, "connect", lambda environment, provider: (environment, _Kube()))
    monkeypatch.setattr(drills, "get_provider", lambda *args: _Cluster())
    monkeypatch.setattr(drills, "write_canaries", lambda *args: drills.Canary("c", "s"))
    monkeypatch.setattr(drills, "smoke", lambda *args: None)
    _Cluster.deleted = 0
    (repo_copy / ".cattle").mkdir()  # bootstrap's first run makes it
    if fails:
        with pytest.raises(drills.DrillFailed, match=r"generation 2 took 1200s, over the RTO budget of 900s"):
            drills.drill("testing", serve=False)
    else:
        assert drills.drill("testing", serve=False).total == took
    assert _Cluster.deleted == 1  # generation 1 was destroyed before generation 2
    [saved] = sorted((repo_copy / ".cattle/runs").glob("testing-*.json"))
    record = json.loads(saved.read_text())
    assert record["kind"] == "drill" and record["rto_seconds"] == took
    assert record["result"] == ("failed" if fails else "ok")
    assert ("over the RTO budget" in record.get("detail", "")) is fails


def _stand_in(monkeypatch: pytest.MonkeyPatch, runs: list[object], smoke: object = None) -> list[str]:
    """The cluster steps of a drill stood in; returns the order things happened in."""
    from cattle.dr import drill as drills

    happened: list[str] = []

    def fake_run(environment: env.Environment, options: object) -> Timeline | None:
        outcome = runs.pop(0)
        happened.append(f"bootstrap {outcome!r}"[:40])
        if isinstance(outcome, Exception):
            raise outcome
        timeline = Timeline(environment.name, started=1000.0)
        timeline.record("reconcile", 1000.0, 1000.0 + float(outcome), "ok")  # type: ignore[arg-type]
        timeline.result = "ok"  # as bootstrap.run leaves a run that finished
        return timeline

    class Cluster(_Cluster):
        def delete(self) -> None:
            happened.append("delete")

    def fake_smoke(*args: object) -> None:
        happened.append("smoke")
        if isinstance(smoke, Exception):
            raise smoke

    monkeypatch.setattr(drills.bootstrap, "run", fake_run)
    monkeypatch.setattr(drills.bootstrap, "connect", lambda environment, provider: (environment, _Kube()))
    monkeypatch.setattr(drills, "get_provider", lambda *args: Cluster())
    monkeypatch.setattr(drills, "write_canaries", lambda *args: happened.append("canaries") or drills.Canary("c", "s"))
    monkeypatch.setattr(drills, "smoke", fake_smoke)
    return happened


def _records(root: Path) -> list[dict[str, object]]:
    import json

    return [json.loads(p.read_text()) for p in sorted((root / ".cattle/runs").glob("testing-*.json"))]


def test_a_failed_generation_1_stops_before_anything_is_destroyed_and_is_recorded(
        repo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first_line = "apps not Ready: " + "x" * 300
    happened = _stand_in(monkeypatch, [CattleError(f"{first_line}\nmore lines", "fix it")])
    (repo_copy / ".cattle").mkdir()
    clock = iter([1000.0, 1234.5678])  # the drill's start, then its failure

    class Time:
        time = staticmethod(lambda: next(clock))
        strftime, gmtime, monotonic, sleep = (staticmethod(f) for f in (drill.time.strftime, drill.time.gmtime,
                                                                       drill.time.monotonic, drill.time.sleep))

    monkeypatch.setattr(drill, "time", Time)
    with pytest.raises(CattleError, match="apps not Ready"):
        drill.drill("testing", serve=False)
    assert "delete" not in happened and "canaries" not in happened
    [record] = _records(repo_copy)
    assert record["result"] == "failed" and record["kind"] == "drill" and record["events"] == []
    assert record["detail"] == f"generation 1: {first_line[:250]}"  # the first line, cut for the record
    assert record["rto_budget_seconds"] == 900 and record["started"] == 1000.0 and record["rto_seconds"] == 234.57


def test_a_failed_generation_2_is_recorded_as_such(repo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    happened = _stand_in(monkeypatch, [10.0, CattleError("restore refused", "fix it")])
    (repo_copy / ".cattle").mkdir()
    with pytest.raises(CattleError, match="restore refused"):
        drill.drill("testing", serve=False)
    assert happened[1:3] == ["canaries", "delete"] and "smoke" not in happened
    [record] = _records(repo_copy)
    assert record["detail"] == "generation 2: restore refused" and record["result"] == "failed"
    assert (repo_copy / ".cattle" / drill.CANARY_FILE).is_file()  # what generation 1 wrote is kept


def test_smoke_checks_failing_fail_the_drill_and_its_record_and_the_summary_is_written(
        repo_copy: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    happened = _stand_in(monkeypatch, [10.0, 20.0], smoke=drill.DrillFailed("the Vault canary is not back"))
    (repo_copy / ".cattle").mkdir()
    summary = tmp_path / "summary.md"
    with pytest.raises(drill.DrillFailed, match="the Vault canary is not back"):
        drill.drill("testing", serve=False, summary=summary)
    assert happened == ["bootstrap 10.0", "canaries", "delete", "bootstrap 20.0", "smoke"]
    [record] = _records(repo_copy)
    assert record["result"] == "failed" and record["rto_seconds"] == 20.0 and "detail" not in record
    assert "Generation 2 RTO **20s** — within the budget of 900s" in summary.read_text()


def test_a_good_drill_records_ok_with_generation_2s_rto(repo_copy: Path, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    happened = _stand_in(monkeypatch, [10.0, 900.0])  # exactly the budget is within it
    (repo_copy / ".cattle").mkdir()
    timeline = drill.drill("testing", serve=False, summary=tmp_path / "summary.md")
    assert timeline.total == 900.0 and happened[-1] == "smoke"
    [record] = _records(repo_copy)
    assert record["result"] == "ok" and record["rto_seconds"] == 900.0 and record["rto_budget_seconds"] == 900


def test_retry_polls_until_true_and_names_what_never_became_true(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()  # bounded: a retry that never gives up fails in seconds
    monkeypatch.setattr(drill.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(drill.time, "sleep", clock.sleep)
    answers = iter([False, False, True])
    drill._retry("thing", lambda: next(answers), timeout=100, interval=10)
    assert clock.now == 20.0
    clock.now = 0.0
    with pytest.raises(drill.DrillFailed, match=r"^never: not true within 30s$"):
        drill._retry("never", lambda: False, timeout=30, interval=10)
    assert clock.now == 40.0  # polled at 0, 10, 20, 30 (still within), given up after 40


def test_through_ingress_speaks_curl_with_sni_host_auth_and_body(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    seen: list[list[str]] = []

    def fake(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append(argv)
        assert kwargs["timeout"] == 30 and kwargs["check"] is False
        assert kwargs["capture_output"] is True and kwargs["text"] is True  # the body and code are read as text
        return subprocess.CompletedProcess(argv, 0, '{"id": 1}\n201', "")

    monkeypatch.setattr(drill.subprocess, "run", fake)
    assert drill._through_ingress("8443", "feeds.example.com", "/v1/categories", ("admin", "pw"), "POST",
                                  {"title": "x"}) == (201, '{"id": 1}')
    assert seen[0] == ["curl", "-ks", "-o", "-", "-w", "\n%{http_code}", "--resolve",
                       "feeds.example.com:8443:127.0.0.1", "-X", "POST", "https://feeds.example.com:8443/v1/categories",
                       "-u", "admin:pw", "-H", "Content-Type: application/json", "-d", '{"title": "x"}']
    monkeypatch.setattr(drill.subprocess, "run", lambda argv, **kw: subprocess.CompletedProcess(argv, 7, "", ""))
    assert drill._through_ingress("8443", "h", "/healthz") == (0, "")  # curl could not connect: no HTTP code


def test_the_gateway_service_is_the_one_owned_by_gateway_public() -> None:
    class Services:
        def __init__(self, services: list[dict[str, object]]) -> None:
            self.services = services

        def list(self, api_version: str, kind: str, namespace: str) -> list[dict[str, object]]:
            assert (api_version, kind, namespace) == ("v1", "Service", "envoy-gateway-system")
            return self.services

    def svc(name: str, gateway: str | None) -> dict[str, object]:
        import json

        labels = {"gateway.envoyproxy.io/owning-gateway-name": gateway} if gateway else {}
        return dict(json.loads(json.dumps({"metadata": {"name": name, "labels": labels}})))  # as the API sends it

    found = drill._gateway_service(Services([svc("envoy-other", "internal"), svc("plain", None),  # type: ignore[arg-type]
                                             svc("envoy-public-1a2b", "public")]))
    assert found == "svc/envoy-public-1a2b"
    with pytest.raises(drill.DrillFailed, match="no Envoy service for Gateway envoy-gateway-system/public"):
        drill._gateway_service(Services([svc("envoy-other", "internal")]))  # type: ignore[arg-type]


def test_a_drill_stopped_at_preflight_is_recorded_as_not_run(repo_copy: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 31, item 8: a refusal at preflight (nothing was created) is "not run", not a failed drill."""
    from cattle.errors import PreflightError

    happened = _stand_in(monkeypatch, [PreflightError("preflight for environment 'testing' (provider kind) failed; "
                                                      "nothing was changed:\n  - docker: not found")])
    (repo_copy / ".cattle").mkdir()
    with pytest.raises(PreflightError):
        drill.drill("testing", serve=False)
    assert "delete" not in happened
    [record] = _records(repo_copy)
    assert record["result"] == "not run" and record["kind"] == "drill"
    assert record["detail"] == ("stopped at preflight, nothing was changed: preflight for environment 'testing' "
                                "(provider kind) failed; nothing was changed:")
