"""Clusters from code: the OpenTofu configurations parsed with a real HCL2 parser (interface, pins, backend), and the
opentofu provider's orchestration against a stand-in `tofu` that records its calls and answers with real output
shapes. The real engine runs `tofu fmt -check`, `validate` and `test` (mock providers) in the PR workflow."""

from __future__ import annotations

import json
import re
import stat
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest

from cattle import env
from cattle.bootstrap import rebuild as bootstrap
from cattle.errors import CattleError
from cattle.providers.opentofu import TOFU_VERSION, OpenTofuProvider, PlanSummary, parse_events
from tests.conftest import REPO, StandIns

INFRA = REPO / "infra"
MODULES = sorted(p for p in (INFRA / "modules").iterdir() if p.is_dir())
INTERFACE_INPUTS = {"name", "region", "kubernetes_version", "node_size", "node_count"}
INTERFACE_OUTPUTS = {"api_endpoint", "ca_certificate", "kubeconfig", "load_balancer_address"}
CLOUD_ENVS = [e.name for e in env.load_all() if e.provider == "opentofu"]


def _clean(node: Any) -> Any:
    """python-hcl2's tree as plain data: labels and strings without their quotes, no parser bookkeeping."""
    if isinstance(node, dict):
        return {_clean(k): _clean(v) for k, v in node.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    if isinstance(node, str) and len(node) >= 2 and node[0] == node[-1] == '"':
        return node[1:-1]
    return node


def _load(directory: Path) -> dict[str, list[Any]]:
    """Every top-level block of a configuration directory's .tf files (parsed by python-hcl2), merged."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            for key, value in _clean(hcl2.load(handle)).items():
                merged.setdefault(key, []).extend(value)
    return merged


def _blocks(config: dict[str, list[Any]], kind: str) -> dict[str, Any]:
    return {name: body for block in config.get(kind, []) for name, body in block.items()}


def test_at_least_two_implementations_one_managed_one_on_plain_vms() -> None:
    kinds = {m.name: {r for block in _load(m).get("resource", []) for r in block} for m in MODULES}
    assert any(any(r.endswith("_kubernetes_cluster") for r in found) for found in kinds.values())  # managed
    assert any({"hcloud_server"} <= found for found in kinds.values())  # k3s on VMs


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_every_module_has_the_cluster_interface_and_exact_pins(module: Path) -> None:
    config = _load(module)
    assert set(_blocks(config, "variable")) == INTERFACE_INPUTS
    outputs = _blocks(config, "output")
    assert set(outputs) == INTERFACE_OUTPUTS
    assert outputs["kubeconfig"].get("sensitive") is True
    [terraform] = config["terraform"]
    assert terraform["required_version"] == f"= {TOFU_VERSION}"
    for block in terraform["required_providers"]:
        for name, pin in block.items():
            assert re.fullmatch(r"= \d+\.\d+\.\d+", pin["version"]), f"{module.name}: {name} is not pinned exactly"
    tests = list((module / "tests").glob("*.tftest.hcl"))
    assert tests and all("mock_provider" in t.read_text() for t in tests), "tofu test with mock providers"


@pytest.mark.parametrize("name", CLOUD_ENVS)
def test_each_cloud_environment_keeps_its_state_locked_in_its_backup_bucket(name: str) -> None:
    config = _load(INFRA / name)
    [terraform] = config["terraform"]
    [backend] = terraform["backend"]
    s3 = backend["s3"]
    assert s3["key"] == f"{name}/opentofu/terraform.tfstate" and s3["use_lockfile"] is True
    assert "bucket" not in s3  # the bucket comes from backups.vault at init: one place says where backups live
    [call] = [body for block in config["module"] for body in block.values()]
    source = (INFRA / name / call["source"]).resolve()
    assert source in MODULES
    assert set(call) >= INTERFACE_INPUTS
    assert set(_blocks(config, "output")) == INTERFACE_OUTPUTS


@pytest.fixture
def tofu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stand_ins: StandIns) -> Path:
    """The stand-in tofu first on PATH; returns its call log."""
    stand_ins.put("tofu", f"#!{sys.executable}\n" + (REPO / "tests/data/tofu-standin.py").read_text())
    calls = tmp_path / "tofu-calls.jsonl"
    monkeypatch.setenv("TOFU_CALLS", str(calls))
    monkeypatch.setenv("TOFU_STATE", str(tmp_path / "tofu-state"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    return calls


def _calls(log: Path) -> list[str]:
    return [next(a for a in json.loads(line) if not a.startswith("-chdir=")) for line in log.read_text().splitlines()
            if json.loads(line) != ["version"]]


def test_ensure_creates_once_and_a_rerun_is_a_no_op(tofu: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    provider = OpenTofuProvider(env.load("staging"), tmp_path / "state")
    assert provider.ensure() is True
    assert _calls(tofu) == ["init", "output", "plan", "apply", "output"]
    err = capsys.readouterr().err
    assert "opentofu: applying (4 to add, 0 to change, 0 to destroy)" in err
    assert "✓ module.cluster.hcloud_server.server create (7s)" in err  # live output condensed, one line a resource
    path, context = provider.kubeconfig()
    assert path is not None and path.read_text().startswith("apiVersion: v1") and context is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    backend = (tmp_path / "state/opentofu-staging.s3.tfbackend").read_text()
    assert 'bucket = "cattle-backups"' in backend and 'endpoints = { s3 = "http://127.0.0.1:9" }' in backend
    inputs = json.loads((tmp_path / "state/opentofu-staging.tfvars.json").read_text())
    assert inputs == {"name": "cattle-staging", "region": "fsn1", "kubernetes_version": "1.36", "node_size": "cpx32",
                      "node_count": 3}
    tofu.write_text("")
    assert provider.ensure() is False
    assert _calls(tofu) == ["init", "output", "plan", "output"]  # no apply on an existing cluster


def test_destroy_runs_tofu_destroy(tofu: Path, tmp_path: Path) -> None:
    provider = OpenTofuProvider(env.load("staging"), tmp_path / "state")
    provider.ensure()
    provider.delete()
    assert _calls(tofu)[-1] == "destroy" and not provider.exists()


def test_dry_run_shows_the_tofu_plan_summary(tofu: Path, secrets_repo: Path, monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("CATTLE_VAULT_STORE", f"file://{tmp_path / 'vault'}")
    planned = bootstrap.plan("staging", bootstrap.Options(dry_run=True, allow_empty_vault=True,
                                                         git_url="https://git.example.com/cattle.git"))
    cluster = planned.plan.steps[1]
    assert cluster.reason == "opentofu: tofu plan: 4 to add, 0 to change, 0 to destroy" and cluster.acts
    assert "apply" not in _calls(tofu)  # the dry run only plans


@pytest.mark.usefixtures("tool_lookup")
def test_a_missing_tofu_is_a_preflight_failure_that_says_how_to_install_it(
        secrets_repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    planned = bootstrap.plan("production", bootstrap.Options(dry_run=True, allow_empty_vault=True))
    assert planned.blocked is not None
    assert "tofu: tofu is not installed" in planned.blocked.message
    assert "install OpenTofu 1.12.6" in planned.blocked.message


def test_destroying_production_needs_the_same_guard() -> None:
    with pytest.raises(CattleError, match="production is protected: destroying it needs --i-mean-production"):
        bootstrap.destroy_target("production", None, i_mean_production=False)
    target = bootstrap.destroy_target("production", None, i_mean_production=True)
    assert target.description.startswith("opentofu cluster")


def test_errors_from_tofu_are_summarised_from_its_diagnostics() -> None:
    lines = [json.dumps({"type": "diagnostic", "diagnostic": {"severity": "error", "summary": "Invalid credentials",
                                                             "detail": "HCLOUD_TOKEN is not valid"}}),
             json.dumps({"type": "change_summary", "changes": {"add": 1, "change": 2, "remove": 0}})]
    summary, errors = parse_events(lines)
    assert summary == PlanSummary(1, 2, 0) and errors == ["Invalid credentials: HCLOUD_TOKEN is not valid"]


def test_one_opentofu_pin_for_the_provider_setup_and_the_pr_workflow() -> None:
    import subprocess

    import yaml

    workflow = yaml.safe_load((REPO / ".github/workflows/validate.yaml").read_text())
    steps = workflow["jobs"]["opentofu"]["steps"]
    [setup] = [s for s in steps if str(s.get("uses", "")).startswith("opentofu/setup-opentofu@")]
    assert str(setup["with"]["tofu_version"]) == TOFU_VERSION
    commands = "\n".join(str(s.get("run", "")) for s in steps)
    assert "tofu fmt -check -recursive infra" in commands
    assert 'tofu -chdir="$dir" validate' in commands and 'tofu -chdir="$dir" test' in commands
    read = subprocess.run(["sed", "-n", r's/^TOFU_VERSION = "\(.*\)"$/\1/p', "cattle/providers/opentofu.py"],
                          cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    assert read == TOFU_VERSION and "TOFU_VERSION=$(sed -n" in (REPO / "scripts/setup").read_text()


def test_a_created_cluster_on_the_wrong_kubernetes_stops_before_flux(
        tofu: Path, secrets_repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Preflight cannot ask a cluster that does not exist yet: right after the cluster phase the new server's
    version is checked against the environment and every component's range, before anything is applied."""
    from cattle.bootstrap import fluxinstall
    from cattle.errors import PreflightError
    from tests.kubemock import FakeCluster, Scenario

    crds = [o for o in fluxinstall.manifests(secrets_repo) if o["kind"] == "CustomResourceDefinition"]
    (tmp_path / "fake").mkdir()
    fake = FakeCluster(tmp_path / "fake", crds, Scenario(repo=secrets_repo))
    try:
        fake.server_version = "v1.32.2"  # what an old image or a cloud default could give
        monkeypatch.setenv("TOFU_KUBECONFIG", fake.kubeconfig.read_text())
        monkeypatch.setenv("CATTLE_VAULT_STORE", f"file://{tmp_path / 'vault'}")
        options = bootstrap.Options(allow_empty_vault=True, git_url="https://git.example.com/cattle.git",
                                    timeout=30.0)
        with pytest.raises(PreflightError, match=r"the opentofu cluster of staging: the server runs Kubernetes "
                                                 r"v1\.32\.2, outside the supported range of: Flux"):
            bootstrap.run("staging", options)
        assert "apply" in _calls(tofu)  # the cluster phase ran
        assert fake.requests_of("PATCH", "/") == [] and fake.requests_of("POST", "/apis") == []  # nothing applied
    finally:
        fake.close()
