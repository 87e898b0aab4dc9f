"""scripts/ci-stores: the one setup of testing's off-cluster backup store that the disaster-recovery workflow's `e2e`
and `drill` jobs share, run here as the `e2e` job runs it (its step, then the end-to-end test's own options through
preflight and the plan) against local stand-ins: docker is a script, the S3-compatible server is moto. A job that
could not pass preflight fails here first (issue 27, items 1 and 5)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from cattle import env
from cattle.bootstrap import rebuild as bootstrap
from cattle.paths import state_dir
from cattle.providers import get_provider
from cattle.vault.server import free_port
from tests.conftest import REPO, StandIns

WORKFLOW = REPO / ".github/workflows/disaster-recovery.yaml"
SCRIPT = "scripts/ci-stores"
# a kind network whose gateway is not the usual 172.18.0.1: the address must be worked out, not assumed
KIND_NETWORK = [{"Name": "kind", "IPAM": {"Config": [{"Subnet": "fc00:f853:ccd:e793::/64"},
                                                     {"Subnet": "172.19.0.0/16", "Gateway": "172.19.0.1"}]}}]


def _jobs() -> dict[str, Any]:
    return dict(yaml.safe_load(WORKFLOW.read_text())["jobs"])


def _step_env(step: dict[str, Any]) -> dict[str, str]:
    """A step's `env:` as the runner gives it when the repository secrets are not configured (empty strings)."""
    return {str(k): re.sub(r"\$\{\{\s*secrets\.\w+\s*\}\}", "", str(v)) for k, v in (step.get("env") or {}).items()}


@pytest.fixture
def docker_host(stand_ins: StandIns, tmp_path: Path) -> Any:
    """A stand-in docker: `network inspect kind` fails until `network create` made it; `run` starts moto's server on
    the published port (the real job runs MinIO there). Yields the calls' log; the server is stopped afterwards."""
    calls, made, pid = tmp_path / "docker-calls", tmp_path / "network-made", tmp_path / "server.pid"
    inspect = tmp_path / "kind-network.json"
    inspect.write_text(json.dumps(KIND_NETWORK))
    stand_ins.put("docker", f"""#!/bin/sh
echo "$*" >> {calls}
case "$1 $2" in
  "version "*) echo 27.5.1 ;;
  "network inspect") if [ -f {made} ]; then cat {inspect}; else echo "Error: No such network: $3" >&2; exit 1; fi ;;
  "network create") touch {made} ;;
  "run -d") port=$(echo "$*" | sed -n 's/.* -p \\([0-9]*\\):9000 .*/\\1/p')
            {sys.executable} -m moto.server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
            echo $! > {pid}; echo 0123abcd ;;
esac
""")
    stand_ins.put("kind", """#!/bin/sh
case "$*" in
  "version") echo "kind v0.33.0 go1.25 linux/amd64" ;;
  "get clusters") ;;
esac
""")
    yield calls
    if pid.exists():
        os.kill(int(pid.read_text()), signal.SIGTERM)


def test_both_kind_jobs_set_up_their_store_with_the_one_script_before_they_start() -> None:
    jobs = _jobs()
    for name, starts in (("e2e", "pytest tests/e2e"), ("drill", "dr.drill --env testing")):
        runs = [str(step.get("run", "")) for step in jobs[name]["steps"]]
        [stores] = [i for i, run in enumerate(runs) if run.strip() == f".venv/bin/python {SCRIPT}"]
        [start] = [i for i, run in enumerate(runs) if starts in run]
        assert stores < start, name
        text = yaml.safe_dump(jobs[name])
        assert "docker run" not in text and "AWS_" not in text and "CATTLE_DB_STORE" not in text, name


def test_the_e2e_jobs_setup_passes_preflight_and_the_cluster_reaches_the_store_where_it_reaches_git(
        secrets_repo: Path, docker_host: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The e2e job's own path: its store step (scripts/ci-stores), its test step's variables, then the end-to-end
    test's options through preflight and the plan. The in-cluster endpoint and the git server's address come from the
    same derivation (item 5)."""
    from tests.e2e.test_kind import OPTIONS

    steps = _jobs()["e2e"]["steps"]
    [test_step] = [s for s in steps if "pytest tests/e2e" in str(s.get("run", ""))]
    # only what the job gives: no store or credentials from this machine or from conftest
    for name in [n for n in os.environ if n.startswith("AWS_") or n in ("CATTLE_DB_STORE", "CATTLE_VAULT_STORE",
                                                                        bootstrap.SERVE_HOST_VARIABLE)]:
        monkeypatch.delenv(name)
    github_env = tmp_path / "github-env"
    github_env.touch()
    port = free_port()
    checkout = (secrets_repo / "clusters/testing/cluster-vars.yaml").read_bytes()
    result = subprocess.run([sys.executable, str(REPO / SCRIPT), "--port", str(port)], cwd=REPO,
                            env={**os.environ, "GITHUB_ENV": str(github_env)}, capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    exported = dict(line.split("=", 1) for line in github_env.read_text().splitlines())
    assert exported["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
    vars_file = yaml.safe_load((secrets_repo / "clusters/testing/cluster-vars.yaml").read_text())["data"]
    assert exported["CATTLE_VAULT_STORE"] == vars_file["VAULT_BACKUP_STORE"]  # cattle reads where the cluster writes
    assert exported["CATTLE_DB_STORE"] == vars_file["DB_BACKUP_STORE"]
    calls = docker_host.read_text().splitlines()
    assert any(c.startswith("network create -d=bridge") and c.endswith(" kind") for c in calls)
    assert any(c.startswith("run -d --name cattle-store") and "@sha256:" in c for c in calls)

    for name, value in {**exported, **_step_env(test_step)}.items():
        monkeypatch.setenv(name, value)
    planned = bootstrap.plan("testing", replace(OPTIONS, dry_run=True))
    assert planned.blocked is None, planned.blocked.message if planned.blocked else ""
    assert planned.vault.action == "initialise" and planned.vault.store_url == exported["CATTLE_VAULT_STORE"]
    assert planned.database is not None
    assert planned.database.mode == "initdb"  # an empty store that was read, not one that could not be

    # item 5: the cluster reaches the store at the address it reaches the served checkout at, worked out at run time
    host = bootstrap.serve_host(get_provider(env.load("testing"), "kind", state_dir(secrets_repo)))
    assert host == "172.19.0.1"
    assert exported["CATTLE_BACKUP_S3_ENDPOINT"] == f"http://{host}:{port}"
    # handed to Flux by bootstrap over cluster-vars, so the checkout the job serves is left as it is
    assert (secrets_repo / "clusters/testing/cluster-vars.yaml").read_bytes() == checkout
    assert bootstrap.bootstrap_overrides() == {"BACKUP_S3_ENDPOINT": f"http://{host}:{port}"}
