"""The drill's report and guard rails (the drill itself runs on kind in the disaster-recovery workflow)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
