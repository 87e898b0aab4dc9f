"""The GitHub workflows are valid, pin every action by SHA, and only call tasks that exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yaml"))


def test_there_are_two_workflows() -> None:
    assert [p.name for p in WORKFLOWS] == ["disaster-recovery.yaml", "validate.yaml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_schema(path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_pinned_and_permissions_least(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert doc["permissions"] == {"contents": "read"}  # jobs that need more say so themselves (report)
    assert "concurrency" in doc
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_task_called_exists(path: Path) -> None:
    listed = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout
    tasks = {line.split()[0] for line in listed.splitlines()[1:] if line.strip()}
    called = re.findall(r"\./scripts/cattle ([\w.-]+)", path.read_text())
    assert called, "the workflow calls no task"
    for name in called:
        assert name in tasks, f"{path.name} calls unknown task {name}"


def test_zizmor_finds_nothing_high() -> None:
    proc = subprocess.run([str(Path(sys.executable).parent / "zizmor"), "--offline", "--min-severity", "high",
                           *map(str, WORKFLOWS)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_disaster_recovery_workflow_runs_the_kind_end_to_end_test_as_required() -> None:
    doc = yaml.safe_load((REPO / ".github/workflows/disaster-recovery.yaml").read_text())
    e2e = doc["jobs"]["e2e"]
    runs = [step for step in e2e["steps"] if "pytest tests/e2e" in step.get("run", "")]
    assert len(runs) == 1 and runs[0]["env"]["CATTLE_E2E_REQUIRED"] == "1"


def test_the_end_to_end_test_guards_pull_requests_that_change_a_rebuild_and_the_drill_stays_weekly() -> None:
    doc = yaml.safe_load((REPO / ".github/workflows/disaster-recovery.yaml").read_text())
    triggers = doc[True]  # PyYAML reads the key `on` as True
    assert set(triggers["pull_request"]["paths"]) == {"cattle/**", "clusters/**", "platform/**"}
    assert "schedule" in triggers and "if" not in doc["jobs"]["e2e"]
    assert doc["jobs"]["drill"]["if"] == "github.event_name != 'pull_request'"


def test_required_end_to_end_test_fails_instead_of_skipping_without_docker() -> None:
    from tests.e2e.test_kind import _skip_reason

    reason = _skip_reason()
    if reason is None:
        pytest.skip("docker and kind are here: the end-to-end test really runs instead")
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/e2e"]
    env = {k: v for k, v in os.environ.items() if k != "CATTLE_E2E_REQUIRED"}
    skipped = subprocess.run(base, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout
    required = subprocess.run(base, cwd=REPO, env={**env, "CATTLE_E2E_REQUIRED": "1"}, capture_output=True,
                              text=True, check=False)
    assert required.returncode == 1 and "1 failed" in required.stdout, required.stdout
    assert f"cannot run: {reason}" in required.stdout


def _steps(job: str) -> list[dict[str, object]]:
    doc = yaml.safe_load((REPO / ".github/workflows/disaster-recovery.yaml").read_text())
    return list(doc["jobs"][job]["steps"])


@pytest.mark.parametrize("job", ["e2e", "drill"])
def test_each_job_prints_the_runner_and_cluster_facts_before_creating_anything(job: str) -> None:
    """kind version, node image, Kubernetes version, CPU/memory and the capacity check come first (dr.runner)."""
    runs = [str(step.get("run", "")) for step in _steps(job)]
    facts = next(i for i, run in enumerate(runs) if "./scripts/cattle dr.runner --env testing" in run)
    assert '--summary "$GITHUB_STEP_SUMMARY"' in runs[facts]
    setup = next(i for i, run in enumerate(runs) if run.strip() == "./scripts/setup")
    creates = [i for i, run in enumerate(runs) if any(word in run for word in ("docker run", "pytest tests/e2e",
                                                                                "dr.drill", "kind create",
                                                                                "scripts/ci-stores"))]
    assert creates and setup < facts < min(creates), runs


def test_one_kind_pin_shared_by_setup_and_the_workflows() -> None:
    text = (REPO / ".github/workflows/disaster-recovery.yaml").read_text()
    assert "kind-action" not in text and "KIND_VERSION" not in text  # kind comes from scripts/setup
    setup = (REPO / "scripts/setup").read_text()
    assert "KIND_VERSION=$(sed -n 's/^version: *//p' \"$root/clusters/kind.yaml\")" in setup
    assert not re.search(r"v0\.\d+\.\d+", setup), "scripts/setup names a kind release itself"
    pin = yaml.safe_load((REPO / "clusters/kind.yaml").read_text())
    assert pin["version"] == "v0.33.0" and pin["source"].endswith("/releases/tag/v0.33.0")


def test_the_drill_has_no_from_backup_input() -> None:
    """The runner's S3 store lives for one job: restoring 'from what the store already holds' cannot work."""
    doc = yaml.safe_load((REPO / ".github/workflows/disaster-recovery.yaml").read_text())
    assert not (doc[True]["workflow_dispatch"] or {}).get("inputs")  # PyYAML reads the key `on` as True
    assert "from-backup" not in (REPO / ".github/workflows/disaster-recovery.yaml").read_text()


def test_pull_requests_render_every_chart_with_a_pinned_checked_helm() -> None:
    """helm pinned with its sha256, the charts pulled, charts.check --require into the job summary after the diff."""
    steps = yaml.safe_load((REPO / ".github/workflows/validate.yaml").read_text())["jobs"]["validate"]["steps"]
    runs = [str(step.get("run", "")) for step in steps]
    install = next(i for i, step in enumerate(steps) if "helm" in str(step.get("name", "")).lower()
                   and "Install" in str(step.get("name")))
    assert re.fullmatch(r"v\d+\.\d+\.\d+", steps[install]["env"]["HELM_VERSION"])
    assert re.fullmatch(r"[0-9a-f]{64}", steps[install]["env"]["HELM_SHA256"])
    assert 'sha256sum -c -' in runs[install] and "install -m 0755" in runs[install]
    diff = next(i for i, run in enumerate(runs) if "./scripts/cattle diff" in run)
    pull = next(i for i, run in enumerate(runs) if "./scripts/cattle charts.pull" in run)
    check = next(i for i, run in enumerate(runs) if "./scripts/cattle charts.check" in run)
    assert diff < install < pull < check
    assert "--require" in runs[check] and '"$GITHUB_STEP_SUMMARY"' in runs[check] and "pipefail" in runs[check]


def _disaster_recovery() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / ".github/workflows/disaster-recovery.yaml").read_text()))


def test_the_real_backups_of_staging_and_production_are_rehearsed_weekly_or_visibly_skipped() -> None:
    job = _disaster_recovery()["jobs"]["rehearse-real-backups"]
    assert job["if"] == "github.event_name != 'pull_request'"
    assert job["strategy"]["matrix"]["env"] == ["staging", "production"]
    text = "\n".join(str(step.get("run", "")) for step in job["steps"])
    assert './scripts/cattle dr.rehearse --env "$ENVIRONMENT"' in text
    assert './scripts/cattle db.verify --env "$ENVIRONMENT"' in text
    assert "::notice title=not rehearsed::" in text and "GITHUB_STEP_SUMMARY" in text  # skipped, never silent
    configured = next(s for s in job["steps"] if s.get("id") == "configured")
    later = [s for s in job["steps"] if "run" in s and s is not configured]
    assert all("steps.configured.outputs.ok == 'true'" in s["if"] for s in later)


def test_history_is_kept_and_the_report_page_published() -> None:
    job = _disaster_recovery()["jobs"]["report"]
    assert set(job["needs"]) == {"e2e", "drill", "rehearse-real-backups", "audit-live"}
    assert job["if"].startswith("always()")
    assert job["permissions"] == {"contents": "write", "pages": "read"}  # job publish deploys (test_pages_check)
    text = "\n".join(str(step.get("run", "")) for step in job["steps"])
    assert "./scripts/cattle dr.record records" in text and "git push" in text and "cattle-runs" in text
    assert "./scripts/cattle report --no-check-stores --output site" in text
    uses = [str(step.get("uses", "")).split("@")[0] for step in job["steps"]]
    assert {"actions/upload-pages-artifact", "actions/download-artifact"} <= set(uses)
    readme = (REPO / "README.md").read_text()
    assert "](https://example.github.io/cattle/)" in readme and "badge.svg" in readme  # the badge adopt rewrites


def test_pull_requests_run_both_tiers_of_the_test_command_the_control_plane_tier_as_root() -> None:
    steps = yaml.safe_load((REPO / ".github/workflows/validate.yaml").read_text())["jobs"]["validate"]["steps"]
    runs = [str(step.get("run", "")) for step in steps]
    main = runs.index("./scripts/cattle test --tier main")
    [tier] = [i for i, run in enumerate(runs) if run.endswith("./scripts/cattle test --tier controlplane")]
    # root for its own network namespace, with the runner's PATH (its Go) and HOME (the cache the first step built)
    assert main < tier and runs[tier].startswith('sudo env "PATH=$PATH" "HOME=$HOME" CI=true ')
    assert not any(run.strip() == "./scripts/cattle test" for run in runs)  # never both tiers as the runner user


def _keep_records_step() -> str:
    steps = yaml.safe_load((REPO / ".github/workflows/disaster-recovery.yaml").read_text())["jobs"]["report"]["steps"]
    return str(next(s for s in steps if s.get("name") == "Keep them on the history branch cattle-runs")["run"])


@pytest.mark.parametrize("layout, drill, kept, code", [
    # upload-artifact roots the drill's artifact at the repository: records/<artifact>/.cattle/runs/<run>.json
    ("records/drill-1/.cattle/runs/testing-1.json", "success", True, 0),
    # download-artifact unpacks a lone artifact straight into records/
    ("records/testing-1.json", "failure", True, 0),
    ("", "success", False, 1),  # a drill ran and left no record: the job fails
    ("", "skipped", False, 0),  # nothing ran: a warning
])
def test_the_report_keeps_every_record_wherever_the_artifact_put_it(
        tmp_path: Path, layout: str, drill: str, kept: bool, code: int) -> None:
    (tmp_path / "records").mkdir()
    if layout:
        (tmp_path / layout).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / layout).write_text("{}")
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    for script, name in ((tmp_path / "scripts" / "cattle", "cattle"), (bin_dir / "git", "git")):
        script.parent.mkdir(exist_ok=True)
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\n')
        script.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "GITHUB_TOKEN": "t", "REPOSITORY": "o/r", "DRILL_RESULT": drill}
    result = subprocess.run(["bash", "-eo", "pipefail", "-c", _keep_records_step()], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == code, result.stdout + result.stderr
    made = calls.read_text().splitlines() if calls.exists() else []
    assert ("cattle dr.record records" in made) == kept
    assert any(line.startswith("git push") for line in made) == kept
    if code:
        assert "::error title=no run records::the drill ran (success)" in result.stdout


def test_the_report_waits_for_the_end_to_end_test() -> None:
    jobs = yaml.safe_load((REPO / ".github/workflows/disaster-recovery.yaml").read_text())["jobs"]
    assert set(jobs["report"]["needs"]) >= {"e2e", "drill", "rehearse-real-backups"}


# releases of actions whose action.yml says `using: node20` (read in upstream snapshots, 2026-12-04): GitHub-hosted
# runners stopped providing Node 20 on 2026-09-16
NODE_20_RELEASES = {"11bd71901bbe5b1630ceea73d27597364c9af683": "actions/checkout v4.2.2",
                    "a26af69be951a213d495a4c3e4e4022e16d87065": "actions/setup-python v5.6.0",
                    "ea165f8d65b6e75b540449e92b4886f43607fa02": "actions/upload-artifact v4.6.2",
                    "330a01c490aca151604b8cf639adc76d48f6c5d4": "actions/upload-artifact v5.0.0"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_action_runs_on_node_20(path: Path) -> None:
    pins = re.findall(r"uses: [\w./-]+@([0-9a-f]{40})", path.read_text())
    assert pins and not [NODE_20_RELEASES[p] for p in pins if p in NODE_20_RELEASES]


def test_the_readme_says_what_each_job_needs_configured_and_what_it_does_without_it() -> None:
    """Every job of both workflows has a row in the README's CI table: when it runs, what it needs configured, and
    what it does when that is missing (issue 27, done-when)."""
    readme = (REPO / "README.md").read_text()
    rows = {m.group(1): [cell.strip() for cell in m.group(2).split("|")]
            for m in re.finditer(r"^\| `([\w-]+)` \((?:validate|disaster-recovery)\) \|(.*)\|$", readme, re.MULTILINE)}
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"]:
            assert job in rows, f"{path.name}: job {job} has no row in the README's CI table"
            assert len(rows[job]) == 3 and all(rows[job]), rows[job]
