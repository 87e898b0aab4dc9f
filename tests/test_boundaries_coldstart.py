"""The cold-start drill's verdict and record at their edges, with test_coldstart.py's stand-in docker and checks:
back exactly at the RTO budget is within it, an error that is no preflight refusal before the power cut is a failed
drill (not "not run"), and a failure's first line kept to 300 characters in the record (issue 32, boundaries of
cattle/dr/coldstart.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cattle import env
from cattle.bootstrap.timeline import Timeline
from cattle.dr import coldstart, history
from cattle.dr.coldchecks import Before, ColdStartFailed, Outcome
from cattle.errors import KubeApiError, PreflightError
from tests.conftest import StandIns
from tests.test_coldstart import FakeChecks, _docker, _records


def test_back_exactly_at_the_budget_is_within_it_and_a_tenth_over_is_not() -> None:
    timeline = Timeline("testing")
    assert coldstart.verdict(timeline, 900.0, 900.0) == ("came back in 900.0s (power on → everything Ready), within "
                                                         "the budget of 900s")
    assert "OVER the budget of 900s" in coldstart.verdict(timeline, 900.1, 900.0)


def test_an_error_before_the_power_cut_that_is_no_refusal_is_a_failed_drill(
        repo_copy: Path, stand_ins: StandIns, tmp_path: Path) -> None:
    calls = _docker(stand_ins, tmp_path, env.load("testing").cluster_name)
    unreachable = KubeApiError("GET /api/v1/nodes failed: connection refused")
    with pytest.raises(KubeApiError):
        coldstart.coldstart("testing", checks=FakeChecks([], before_fails=unreachable))
    assert not calls.exists()
    [record] = _records(repo_copy)
    assert record["result"] == "failed" and record["result"] != history.NOT_RUN
    assert record["detail"] == "GET /api/v1/nodes failed: connection refused"


class _FluxNeverBack(FakeChecks):
    def flux(self, before: Before) -> Outcome:
        raise ColdStartFailed("12 Flux objects Ready again: not within 900s: " + "x" * 400 + "\nsecond line")


def test_a_failure_after_power_on_keeps_its_first_line_to_300_characters(
        repo_copy: Path, stand_ins: StandIns, tmp_path: Path) -> None:
    _docker(stand_ins, tmp_path, env.load("testing").cluster_name)
    with pytest.raises(ColdStartFailed):
        coldstart.coldstart("testing", checks=_FluxNeverBack([]))
    [record] = _records(repo_copy)
    assert record["result"] == "failed" and record["rto_seconds"] is None
    assert record["detail"] == ("12 Flux objects Ready again: not within 900s: " + "x" * 400)[:300]


class _StopsOnly:
    """A provider that can power its nodes off but has no way to power them on again."""

    name = "half"

    def stop_nodes(self) -> list[str]:
        raise AssertionError("a cluster that cannot be powered on again must not be powered off")


def test_a_provider_that_can_only_power_off_is_refused() -> None:
    with pytest.raises(PreflightError, match="the half provider cannot power the cluster's nodes off and on"):
        coldstart.power_cycling(_StopsOnly())  # type: ignore[arg-type]


def test_the_readiness_phases_count_as_waiting_and_the_canaries_do_not(
        repo_copy: Path, stand_ins: StandIns, tmp_path: Path) -> None:
    _docker(stand_ins, tmp_path, env.load("testing").cluster_name)
    timeline = coldstart.coldstart("testing", checks=FakeChecks([]))
    assert [(e.phase, e.waiting) for e in timeline.events[3:]] == [
        *((phase, True) for phase in coldstart.READINESS), ("canaries", False)]
