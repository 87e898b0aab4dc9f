"""GitHub Pages in the disaster-recovery workflow: the report job checks that Pages is enabled with source "GitHub
Actions" and that the run may deploy (the github-pages environment deploys from the default branch), says so in the
job summary, and only then hands the page to the publish job; adopt's checklist names the setting
(issue 27, item 11)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cattle.secrets import adopt
from tests.conftest import REPO

WORKFLOW = REPO / ".github/workflows/disaster-recovery.yaml"


def _jobs() -> dict[str, Any]:
    return dict(yaml.safe_load(WORKFLOW.read_text())["jobs"])


def _pages_step() -> dict[str, Any]:
    return dict(next(s for s in _jobs()["report"]["steps"] if s.get("id") == "pages"))


@pytest.mark.parametrize("pages, ref, deploy, says", [
    ({"build_type": "workflow", "html_url": "https://o.github.io/r/"}, "main", "true",
     "GitHub Pages: enabled, source GitHub Actions: publishing to https://o.github.io/r/"),
    (None, "main", "false", "GitHub Pages is not enabled for o/r"),
    ({"build_type": "legacy", "html_url": "https://o.github.io/r/"}, "main", "false",
     "GitHub Pages' source is 'Deploy from a branch' (build_type legacy), not 'GitHub Actions'"),
    ({"build_type": "workflow", "html_url": "https://o.github.io/r/"}, "try-drill", "false",
     "this run is on branch try-drill: the github-pages environment deploys only from main"),
])
def test_the_report_job_says_whether_pages_can_be_published(tmp_path: Path, pages: dict[str, str] | None, ref: str,
                                                             deploy: str, says: str) -> None:
    bin_dir, output, summary = tmp_path / "bin", tmp_path / "output", tmp_path / "summary"
    bin_dir.mkdir()
    answer = f"echo '{json.dumps(pages)}'" if pages else "echo 'gh: Not Found (HTTP 404)' >&2; exit 1"
    (bin_dir / "gh").write_text(f"""#!/bin/sh
case "$*" in
  "api repos/o/r/pages") {answer} ;;
  "api repos/o/r --jq .default_branch") echo main ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
""")
    (bin_dir / "gh").chmod(0o755)
    step = _pages_step()
    assert set(step["env"]) >= {"GH_TOKEN", "REPOSITORY", "REF_NAME"}
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "GH_TOKEN": "t", "REPOSITORY": "o/r", "REF_NAME": ref,
           "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
           "RUNNER_TEMP": str(tmp_path)}  # set on every runner; unset, two cases at once shared /pages.err
    result = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr  # never a failure: the page is still attached
    assert f"deploy={deploy}" in output.read_text()
    assert says in summary.read_text()
    if deploy == "false":
        assert "::warning title=page not published::" in result.stdout


def test_only_a_run_that_may_publish_reaches_deploy_pages() -> None:
    jobs = _jobs()
    report, publish = jobs["report"], jobs["publish"]
    assert "environment" not in report  # the environment's branch rule would stop the whole job, records and all
    assert report["permissions"] == {"contents": "write", "pages": "read"}
    assert report["outputs"]["deploy"] == "${{ steps.pages.outputs.deploy }}"
    upload = next(s for s in report["steps"] if str(s.get("uses", "")).startswith("actions/upload-pages-artifact@"))
    assert upload["if"] == "steps.pages.outputs.deploy == 'true'"
    assert publish["needs"] == "report" and publish["if"] == "needs.report.outputs.deploy == 'true'"
    assert publish["environment"]["name"] == "github-pages"
    assert publish["permissions"] == {"pages": "write", "id-token": "write"}
    assert [str(s.get("uses", "")).split("@")[0] for s in publish["steps"]] == ["actions/deploy-pages"]


def test_adopts_checklist_names_the_pages_setting() -> None:
    result = adopt.Adoption(pages="https://acme.github.io/infra/")
    checklist = result.checklist()
    assert ("GitHub Pages: Settings > Pages > Build and deployment > Source: GitHub Actions "
            "(the recovery report is published to https://acme.github.io/infra/)") in checklist
    assert "only from the default branch" in checklist
