"""The command line: every namespace listed with one-line help; errors are messages, not tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=120)


def test_list_shows_every_namespace_with_help() -> None:
    out = _invoke("--list").stdout
    for name in ("bootstrap", "status", "destroy", "validate", "test", "secrets.check", "secrets.rotate",
                 "vault.backup", "vault.restore", "vault.verify", "env.list"):
        line = next((line for line in out.splitlines() if line.strip().startswith(name + " ")), None)
        assert line is not None and len(line.split(None, 1)) == 2, f"{name} missing or without help in:\n{out}"


def test_unknown_env_is_a_clear_error_not_a_traceback() -> None:
    proc = _invoke("env.show", "--env", "prod")
    assert proc.returncode == 1
    assert "error: unknown environment 'prod'; valid environments: production, staging, testing" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_destroy_refuses_production_without_the_flag() -> None:
    proc = _invoke("destroy", "--env", "production", "--yes")
    assert proc.returncode == 1
    assert "production is protected: destroying it needs --i-mean-production" in proc.stderr


def test_status_of_a_cluster_never_built_here_says_what_to_do(repo_copy: Path) -> None:
    proc = _invoke("status", "--env", "testing")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"no kubeconfig at {repo_copy}/.cattle/kubeconfig-cattle-testing" in proc.stderr
    assert "run invoke bootstrap --env ENV first" in proc.stderr


def test_bad_flag_values_are_named_with_the_valid_ones() -> None:
    fmt = _invoke("validate", "--format", "yaml")
    assert fmt.returncode == 2 and "error: --format 'yaml' is not one of: text, json" in fmt.stderr
    provider = _invoke("bootstrap", "--provider", "nope", "--dry-run")
    assert provider.returncode == 1 and "Traceback" not in provider.stderr
    assert "error: unknown provider 'nope'" in provider.stderr and "kind, k3d, kubeconfig" in provider.stderr
