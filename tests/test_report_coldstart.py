"""The recovery page's cold start: per environment, the latest dr.coldstart's verdict and its own timeline, from
records made by the code that writes them (Timeline + cattle.dr.coldstart.record)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cattle import env
from cattle.bootstrap.timeline import Timeline
from cattle.dr import coldstart, history
from cattle.report import facts, html
from cattle.report.model import EnvReport
from tests.reportdata import NOW, at

STARTED = at("2026-11-23T04:40:00Z")


def _record(result: str, rto: float | None, detail: str = "") -> dict[str, Any]:
    timeline = Timeline("testing", started=STARTED)
    timeline.record("power off", STARTED + 10, STARTED + 20, "ok", "kind: stopped cattle-testing-control-plane")
    timeline.record("power on", STARTED + 20, STARTED + 22, "ok" if rto is not None else "failed", detail)
    if rto is not None:
        timeline.record("Flux Ready", STARTED + 30, STARTED + 20 + rto, "ok", "14 reconciled and Ready again")
        timeline.record("database primary", STARTED + 20 + rto, STARTED + 20 + rto, "skipped",
                        "SKIPPED: no CNPG Cluster in the environment")
    timeline.result = result
    return history.checked(coldstart.record(timeline, STARTED + 20, rto, 900.0, detail), "the record")


def _page(records: tuple[dict[str, Any], ...], name: str = "testing") -> tuple[EnvReport, str]:
    report = facts.env_report(env.load(name), records, 12, NOW, check_stores=False)
    return report, html.env_section(report)


def test_a_cold_start_that_came_back_shows_its_rto_date_budget_and_its_own_timeline(repo_copy: Path) -> None:
    report, page = _page((_record("failed", None, "node x did not start"), _record("ok", 95.0)))
    assert report.coldstart is not None and report.coldstart.kind == "coldstart"
    assert report.coldstart_line() == "cold start: came back in 95s on 2026-11-23 (budget 900s)"
    assert "cold start: came back in 95s on 2026-11-23 (budget 900s)" in page
    assert "WITHIN BUDGET" in page and "SKIPPED: no CNPG Cluster in the environment" in page
    assert "the cold start of 2026-11-23" in page
    assert report.rebuilds == ()  # a cold start is not a rebuild: the drill trend does not count it


def test_a_cold_start_that_did_not_come_back_says_so_with_its_reason(repo_copy: Path) -> None:
    detail = "node cattle-testing-control-plane of kind cluster cattle-testing did not start: no space left"
    report, page = _page((_record("failed", None, detail),))
    assert report.coldstart_line() == f"cold start: did NOT come back on 2026-11-23: {detail}"
    assert "FAILED" in page and "did NOT come back" in page


def test_over_budget_is_said_and_none_recorded_is_said_where_it_can_run(repo_copy: Path) -> None:
    detail = "the cluster came back in 1000s, over the RTO budget of 900s"
    report, _ = _page((_record("failed", 1000.0, detail),))
    assert report.coldstart_line() == f"cold start: came back in 1000s on 2026-11-23 (budget 900s), FAILED: {detail}"
    report, page = _page(())
    assert report.coldstart is None and "cold start: never drilled" in page
    assert "Cold start" not in _page((), "production")[1]  # protected: it never runs there
