"""The weekly rehearsal of the real backups (disaster-recovery workflow, job rehearse-real-backups): its PostgreSQL is
the major version the backup itself names (scripts/ci-postgres reads barman's backup.info, of the base backup db.verify
restores), installed from the PGDG apt repository when the runner lacks it; its "configured" gate says what is missing
when an environment is half-configured (issue 27, item 9)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cattle.stores import FileStore
from tests.conftest import REPO, StandIns

SCRIPT = REPO / "scripts/ci-postgres"
INFO = "status=DONE\nend_time={end}\nversion={version}\nsize=1\n"


def _store(root: Path, backups: dict[str, tuple[str, str]]) -> str:
    """A directory store holding base backups {path: (end_time, version)} (their backup.info only)."""
    store = FileStore(f"file://{root}", root)
    for name, (end, version) in backups.items():
        store.put(f"{name}/backup.info", INFO.format(end=end, version=version).encode())
    return f"file://{root}"


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          check=False, timeout=120)


def test_the_major_version_is_the_one_of_the_backup_db_verify_restores(tmp_path: Path, repo_copy: Path) -> None:
    # the newest generation's newest complete backup is PostgreSQL 17, an older generation's 16
    url = _store(tmp_path / "store", {"feeds-db-g1/base/20261101T031500": ("2026-11-01 03:15:00+00:00", "160004"),
                                      "feeds-db-g2/base/20261124T031500": ("2026-11-24 03:15:00+00:00", "170006")})
    result = _run("--env", "staging", "--print", env={**os.environ, "CATTLE_DB_STORE": url})
    assert (result.returncode, result.stdout.strip()) == (0, "17"), result.stderr


def test_a_missing_major_is_installed_from_the_pgdg_repository(tmp_path: Path, repo_copy: Path,
                                                               stand_ins: StandIns) -> None:
    url = _store(tmp_path / "store", {"feeds-db-g1/base/20261124T031500": ("2026-11-24 03:15:00+00:00", "170006")})
    lib, calls = tmp_path / "lib-postgresql", tmp_path / "calls"
    (lib / "16/bin").mkdir(parents=True)
    (lib / "16/bin/pg_ctl").touch()  # the runner's own PostgreSQL: not the one the backup needs
    stand_ins.put("sudo", f"""#!/bin/sh
echo "$*" >> {calls}
case "$*" in *"install"*"postgresql-17"*) mkdir -p {lib}/17/bin && touch {lib}/17/bin/pg_ctl ;; esac
""")
    env = {**os.environ, "CATTLE_DB_STORE": url}
    result = _run("--env", "staging", "--pg-root", str(lib), "--as-root", "sudo", env=env)
    assert result.returncode == 0, result.stderr
    made = calls.read_text().splitlines()
    assert any("/usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y" in line for line in made)
    assert made[-1].endswith("install -y -qq --no-install-recommends postgresql-17")
    assert "PostgreSQL 17 (backup 20261124T031500 of g1 says version=170006)" in result.stderr
    # a second run finds it and installs nothing
    calls.unlink()
    assert _run("--env", "staging", "--pg-root", str(lib), "--as-root", "sudo", env=env).returncode == 0
    assert not calls.exists()


def _gate() -> dict[str, Any]:
    job = yaml.safe_load((REPO / ".github/workflows/disaster-recovery.yaml").read_text())["jobs"]
    return dict(next(s for s in job["rehearse-real-backups"]["steps"] if s.get("id") == "configured"))


@pytest.mark.parametrize("given, ok, code, says", [
    ({"AGE_KEY": "k", "READ_KEY": "id", "READ_SECRET": "s"}, "true", 0, ""),
    ({}, "false", 0, "::notice title=not rehearsed::staging: real-backup rehearsal SKIPPED"),
    ({"AGE_KEY": "k", "READ_KEY": "id"}, "false", 1,
     "::error title=half-configured::staging: CATTLE_BACKUP_READ_SECRET_ACCESS_KEY_STAGING is not set"),
    ({"READ_KEY": "id", "READ_SECRET": "s"}, "false", 1,
     "::error title=half-configured::staging: CATTLE_AGE_KEY_STAGING is not set"),
])
def test_the_configured_gate_names_what_is_missing(tmp_path: Path, given: dict[str, str], ok: str, code: int,
                                                   says: str) -> None:
    step = _gate()
    assert set(step["env"]) >= {"AGE_KEY", "READ_KEY", "READ_SECRET", "ENVIRONMENT"}
    output, summary = tmp_path / "output", tmp_path / "summary"
    env = {"PATH": "/usr/bin:/bin", "ENVIRONMENT": "staging", "GITHUB_OUTPUT": str(output),
           "GITHUB_STEP_SUMMARY": str(summary), **given}
    result = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == code, result.stdout + result.stderr
    assert f"ok={ok}" in output.read_text()
    assert says in result.stdout


def test_the_rehearsal_installs_the_backups_postgresql_not_the_test_toolchain() -> None:
    job = yaml.safe_load((REPO / ".github/workflows/disaster-recovery.yaml").read_text())["jobs"]
    runs = [str(s.get("run", "")) for s in job["rehearse-real-backups"]["steps"]]
    assert "./scripts/setup" in runs and "./scripts/setup --test" not in runs  # no control plane tier build here
    [step] = [r for r in runs if "db.verify" in r]
    assert step.index('.venv/bin/python scripts/ci-postgres --env "$ENVIRONMENT"') < step.index("db.verify")
