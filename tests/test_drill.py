"""The drill's report and guard rails (the drill itself runs on kind in the disaster-recovery workflow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cattle import env
from cattle.bootstrap.timeline import Timeline
from cattle.dr import drill
from cattle.errors import CattleError


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
