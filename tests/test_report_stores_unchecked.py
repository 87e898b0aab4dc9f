"""`report --no-check-stores`, as the disaster-recovery workflow's report job runs it: that job holds no store
credentials (and testing's file:// stores live on another runner), so the page says each store was not checked from
CI instead of a red UNREACHABLE it never measured (issue 27, item 4)."""

from __future__ import annotations

from pathlib import Path

import yaml

from cattle.report import html as reporthtml
from cattle.report import page as report
from tests.conftest import REPO


def test_unchecked_stores_are_said_so_never_red(repo_copy: Path, tmp_path: Path) -> None:
    built = report.build(repo_copy, tmp_path / "site", check_stores=False)
    for env_report in built.report.envs:
        assert [f.word for f in env_report.freshness] == ["NOT CHECKED"] * 3, env_report.name
        assert env_report.backup_level == "none"
        assert all(f.problem.startswith("not checked from CI") for f in env_report.freshness)
    page = reporthtml.render(built.report)
    assert "UNREACHABLE" not in page and "STALE" not in page
    assert page.count("not checked from CI") >= 3 * len(built.report.envs)


def test_without_the_flag_the_stores_are_read(repo_copy: Path, tmp_path: Path) -> None:
    """Not checking is a choice the caller makes, never what a failed or empty read turns into."""
    built = report.build(repo_copy, tmp_path / "site", ["testing"])
    assert not any(f.word == "NOT CHECKED" for f in built.report.envs[0].freshness)


def test_the_report_job_does_not_check_the_stores_it_holds_no_credentials_for() -> None:
    steps = yaml.safe_load((REPO / ".github/workflows/disaster-recovery.yaml").read_text())["jobs"]["report"]["steps"]
    [build] = [s for s in steps if "./scripts/cattle report " in str(s.get("run", ""))]
    assert "--no-check-stores" in build["run"]
    assert not any(name.startswith("AWS_") for name in build.get("env") or {})
