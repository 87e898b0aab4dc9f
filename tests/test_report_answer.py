"""The recovery page answers the boss first: "Can we rebuild everything within 15 minutes today?" Yes, or "Not
proven" with each cause and the one command that fixes it; per environment, time to recover, data we would lose
and what a rebuild now would lose, each saying where and when it was measured (issue 30)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cattle.report import answer as boss
from cattle.report import html as reporthtml
from cattle.report import page as report
from cattle.report.model import THRESHOLD, Audited, EnvReport, Freshness, Rebuild, Report
from tests.reportdata import NOW
from tests.test_report import built, report_repo  # noqa: F401  (fixtures)

HOUR = 3600.0


def _env(name: str = "testing", **changes: object) -> EnvReport:
    """An environment where everything is proven: drilled yesterday within budget, fresh backups, nothing lost."""
    drill = Rebuild(name, "drill", NOW - 20 * HOUR, "ok", 552.0, 900.0, (), (), None, None, "",
                    f"cattle-runs:{name}/drill-x.json")
    fresh = tuple(Freshness(THRESHOLD[k], "ok", a, "newest", f"s3://b/{name}/{'vault' if k == 'vault' else 'pg'}")
                  for k, a in (("vault", 3 * HOUR), ("base-backup", 10 * HOUR), ("wal", 120.0)))
    audited = Audited(NOW - 2 * HOUR, True, 0, 0, 0, (), f"cattle-runs:{name}/audit-x.json")
    made = EnvReport(name, False, 900.0, NOW, (drill,), fresh, (), (), (), audited)
    return replace(made, **changes)  # type: ignore[arg-type]


def _report(*envs: EnvReport) -> Report:
    return Report(NOW, "rev", envs, (), (), 12)


def test_yes_only_when_every_environment_is_proven() -> None:
    yes, sentence, causes = boss.verdict(_report(_env("testing"), _env("staging")))
    assert yes and causes == [] and sentence.startswith("Yes: every environment was rebuilt within its budget")
    assert boss.question(_report(_env())) == "Can we rebuild everything within 15 minutes today?"
    page = reporthtml.render(_report(_env()))
    assert "YES</span> Yes: every environment" in page


def test_each_no_names_its_cause_and_its_command() -> None:
    slow = _env(rebuilds=(replace(_env().rebuilds[0], rto=980.0),))
    failed = _env(rebuilds=(replace(_env().rebuilds[0], result="failed", detail="apps: timeout"),))
    stale = _env(rebuilds=(replace(_env().rebuilds[0], started=NOW - 12 * 24 * HOUR),))
    old_wal = _env(freshness=(*_env().freshness[:2], replace(_env().freshness[2], level="bad", age=2 * HOUR)))
    lossy = _env(audit=Audited(NOW - HOUR, False, 2, 1, 0, (), ""))
    cases = {
        "slow": (slow, "took 16m20s, 1m20s over the 15-minute budget", "dr.drill --env testing"),
        "failed": (failed, "failed after 9m12s (apps: timeout)", "./scripts/cattle dr.drill --env testing"),
        "stale": (stale, "the last testing drill was 12 days ago", "./scripts/cattle dr.drill --env testing"),
        "wal": (old_wal, "testing's WAL archive is 2.0h behind (target ≤ 15m)", "./scripts/cattle db.backups"),
        "audit": (lossy, "would lose 2 objects, 1 hand edit", "./scripts/cattle audit --env testing"),
        "never": (_env(rebuilds=()), "testing has no drill recorded", "./scripts/cattle dr.drill --env testing"),
    }
    for name, (env_report, why, fix) in cases.items():
        yes, sentence, causes = boss.verdict(_report(env_report))
        assert not yes and len(causes) == 1, name
        assert why in causes[0].why and fix in causes[0].fix and causes[0].measured, (name, causes)
        assert sentence == f"Not proven, because {causes[0].why}.", name


def test_missing_credentials_are_not_a_measured_problem() -> None:
    unread = tuple(replace(f, level="none", age=None, problem="unreachable: Unable to locate credentials")
                   for f in _env().freshness)
    yes, sentence, causes = boss.verdict(_report(_env(freshness=unread, audit=None)))
    assert not yes and [c.measured for c in causes] == [False, False, False]  # two stores, the missing audit
    assert "could not be read: no credentials here" in causes[0].why
    assert sentence.endswith("Nothing measured is wrong: what is missing is a measurement.")
    # a measured problem comes first, whatever the order of the environments
    yes, sentence, causes = boss.verdict(_report(_env("a", freshness=unread), _env("b", rebuilds=())))
    assert sentence.startswith("Not proven, because b has no drill recorded") and not sentence.endswith(
        "a measurement.")


def test_every_figure_says_where_and_when(built: report.Built) -> None:  # noqa: F811
    envs = {e.name: e for e in built.report.envs}
    assert boss.time_to_recover(envs["testing"]) == "9m12s of 15m — drill on 2026-11-23, kept on branch cattle-runs"
    assert boss.time_to_recover(envs["staging"]).startswith("not measured: no rebuild recorded")
    assert boss.data_we_would_lose(envs["staging"]).startswith("Vault snapshot 5.0h (target ≤ 7.0h), read from file:")
    assert boss.rebuild_would_lose(envs["testing"]) == ("1 object, 1 hand edit — audit of 2026-11-23, kept on "
                                                        "branch cattle-runs")
    assert boss.rebuild_would_lose(envs["production"]) == "not audited (./scripts/cattle audit)"
    page = built.page.read_text()
    # the answer comes before everything else, and the audit's list is one click away
    assert page.index("Can we rebuild everything within 15 minutes today?") < page.index("At a glance")
    assert "<details><summary>The list (2)</summary>" in page and "Deployment/logging/loki spec.replicas" in page
    yes, _, causes = boss.verdict(built.report)
    assert not yes and {c.env for c in causes} == {"testing", "staging", "production"}
    production_store = [c for c in causes if c.env == "production" and "backup store" in c.why]
    assert len(production_store) == 2 and all(c.measured for c in production_store)  # one per store, not per row


def test_summary_leads_with_the_answer(built: report.Built, tmp_path: Path) -> None:  # noqa: F811
    text = report.summary_markdown(built.report)
    assert text.splitlines()[2].startswith("**Can we rebuild everything within 15 minutes today?** Not proven")
