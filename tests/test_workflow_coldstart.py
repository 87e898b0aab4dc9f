"""The disaster-recovery workflow's cold-start drill and live audits: where they run, and what the audit steps do
with each exit code of `audit` (their shell run for real, with a stand-in ./scripts/cattle)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

WORKFLOW = REPO / ".github/workflows/disaster-recovery.yaml"


def _jobs() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]  # type: ignore[no-any-return]


def test_the_cold_start_runs_on_the_drills_cluster_and_its_record_reaches_the_report() -> None:
    steps = _jobs()["drill"]["steps"]
    runs = [str(step.get("run", "")) for step in steps]
    [drill] = [i for i, run in enumerate(runs) if "./scripts/cattle dr.drill --env testing" in run]
    [cold] = [i for i, run in enumerate(runs) if "dr.coldstart" in run]
    assert runs[cold].strip() == "./scripts/cattle dr.coldstart --env testing --summary coldstart-summary.md"
    assert drill < cold and "if" not in steps[cold]  # only after a drill that left its cluster Ready
    assert steps[cold]["env"] == {"CATTLE_AGE_KEY_TESTING": "${{ secrets.CATTLE_AGE_KEY_TESTING }}"}
    [summary] = [i for i, run in enumerate(runs) if "coldstart-summary.md >> \"$GITHUB_STEP_SUMMARY\"" in run]
    [upload] = [i for i, step in enumerate(steps) if "upload-artifact" in str(step.get("uses", ""))]
    assert cold < summary < upload and steps[summary]["if"] == steps[upload]["if"] == "always()"
    assert ".cattle/runs/*.json" in steps[upload]["with"]["path"]  # the coldstart record, with the drill's


def _audit_steps() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    job = _jobs()["audit-live"]
    assert job["if"] == "github.event_name != 'pull_request'"
    assert job["strategy"]["matrix"]["env"] == ["staging", "production"]
    steps = {str(step.get("name", "")): step for step in job["steps"]}
    configured = steps["Is this environment's kubeconfig configured?"]
    audit = steps["What a rebuild now would lose (audit, read-only)"]
    upload = steps["Upload the audit record"]
    return configured, audit, upload


def test_each_environment_reads_only_its_own_kubeconfig_secret() -> None:
    configured, audit, upload = _audit_steps()
    for step in (configured, audit):
        assert step["env"]["KUBECONFIG_STAGING"] == ("${{ matrix.env == 'staging' && secrets.CATTLE_KUBECONFIG_STAGING "
                                                     "|| '' }}")
        assert step["env"]["KUBECONFIG_PRODUCTION"] == ("${{ matrix.env == 'production' && "
                                                        "secrets.CATTLE_KUBECONFIG_PRODUCTION || '' }}")
    assert audit["if"] == "steps.configured.outputs.ok == 'true'"
    assert upload["if"] == "always() && steps.configured.outputs.ok == 'true'"
    assert upload["with"]["path"] == ".cattle/runs/*.json" and upload["with"]["name"].startswith("audit-")


def _run(step: dict[str, Any], tmp_path: Path, env: dict[str, str]) -> tuple[int, str, str, str]:
    """The step's shell as the runner runs it (bash -eo pipefail): (exit code, stdout, the summary, outputs)."""
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    summary.touch()
    output.touch()
    script = tmp_path / "step.sh"
    script.write_text(str(step["run"]))
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT":
                               str(output), "RUNNER_TEMP": str(tmp_path), **env},
                          capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, summary.read_text(), output.read_text()


def test_no_kubeconfig_is_a_visible_skip(tmp_path: Path) -> None:
    configured, _, _ = _audit_steps()
    code, stdout, summary, output = _run(configured, tmp_path, {"ENVIRONMENT": "production", "KUBECONFIG_STAGING": "",
                                                               "KUBECONFIG_PRODUCTION": ""})
    assert (code, output) == (0, "ok=false\n")
    assert stdout.startswith("::notice title=not audited::production: live audit SKIPPED - repository secret "
                             "CATTLE_KUBECONFIG_PRODUCTION not configured")
    assert summary.startswith("### production: live audit SKIPPED")
    (tmp_path / "configured").mkdir()
    code, _, _, output = _run(configured, tmp_path / "configured", {"ENVIRONMENT": "staging", "KUBECONFIG_STAGING": "x",
                                                            "KUBECONFIG_PRODUCTION": ""})
    assert (code, output.splitlines()[-1]) == (0, "ok=true")


@pytest.mark.parametrize("exit_code, step_fails, verdict, annotation", [
    (0, False, "nothing a rebuild would lose", None),
    (1, False, "a rebuild now WOULD LOSE what is listed below", "::notice title=a rebuild would lose::staging"),
    (2, False, "COULD NOT TELL", "::warning title=not audited::staging"),
    (3, True, "FAILED (exit 3)", "::error title=audit failed::staging"),
])
def test_the_audits_exit_code_decides_the_summary_and_never_a_1_fails_the_workflow(
        tmp_path: Path, exit_code: int, step_fails: bool, verdict: str, annotation: str | None) -> None:
    _, audit, _ = _audit_steps()
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    seen = tmp_path / "seen"
    (scripts / "cattle").write_text(f"""#!/bin/sh
echo "$* KUBECONFIG=$KUBECONFIG $(cat "$KUBECONFIG") secret-in-env=${{KUBECONFIG_STAGING:-none}}" > {seen}
echo "Deployment feeds/hand-made: not in git"
exit {exit_code}
""")
    (scripts / "cattle").chmod(0o755)
    code, stdout, summary, _ = _run(audit, tmp_path, {"ENVIRONMENT": "staging", "KUBECONFIG_STAGING": "apiVersion: v1",
                                                     "KUBECONFIG_PRODUCTION": ""})
    assert (code != 0) == step_fails, stdout
    assert seen.read_text() == (f"audit --env staging --provider kubeconfig KUBECONFIG={tmp_path}/kubeconfig-staging "
                                "apiVersion: v1 secret-in-env=none\n")
    assert not (tmp_path / "kubeconfig-staging").exists()  # the credentials do not outlive the step
    assert summary.startswith(f"### staging: live audit: {verdict}")
    assert "Deployment feeds/hand-made: not in git" in summary and "Deployment feeds/hand-made" in stdout
    if annotation:
        assert annotation in stdout
    else:
        assert "::" not in stdout
