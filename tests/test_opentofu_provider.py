"""The opentofu provider's own logic, with `tofu` scripted at tools.run: what each exit code and `-json` event
means, how failures are summarised, where inputs and the kubeconfig are written. tests/test_opentofu.py runs the
same provider against a stand-in `tofu` program end to end."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from cattle import env
from cattle.errors import ProviderError, ToolError
from cattle.providers import opentofu
from cattle.providers.opentofu import OpenTofuProvider, PlanSummary, parse_events

OUTPUTS = {name: {"value": f"the {name}", "sensitive": name == "kubeconfig"} for name in opentofu.INTERFACE_OUTPUTS}


def event(kind: str | None, **fields: Any) -> str:
    return json.dumps({**({"type": kind} if kind else {}), **fields})


def test_a_plan_changes_something_when_any_count_is_not_zero() -> None:
    assert [PlanSummary(*counts).changes for counts in ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1))] == \
        [False, True, True, True]
    assert str(PlanSummary(0, 0, 0)) == "no changes: the cluster is as declared"
    assert str(PlanSummary(0, 2, 0)) == "0 to add, 2 to change, 0 to destroy"
    assert str(PlanSummary(0, 0, 3)) == "0 to add, 0 to change, 3 to destroy"


def test_events_a_line_at_a_time_skipping_what_is_not_a_tofu_event() -> None:
    progress: list[str] = []
    lines = ["OpenTofu has been successfully initialized!", event(None, **{"@message": "no type"}),
             event("version", tofu="1.12.6"),
             event("apply_start", hook={"resource": {"addr": "hcloud_network.cluster"}, "action": "create"}),
             event("apply_complete", hook={"resource": {"addr": "hcloud_network.cluster"}, "action": "create",
                                           "elapsed_seconds": 3}),
             event("apply_complete", hook={"resource": {"addr": "hcloud_firewall.nodes"}, "action": "create"}),
             event("apply_errored", hook={"resource": {"addr": "hcloud_server.node[0]"}, "action": "create"}),
             event("apply_errored", hook={}),
             event("diagnostic", diagnostic={"severity": "warning", "summary": "Deprecated attribute"}),
             event("diagnostic", diagnostic={"severity": "error", "summary": "Quota exceeded", "detail": "servers"}),
             event("diagnostic", diagnostic={"severity": "error", "summary": "Apply failed"}),
             event("change_summary", changes={"add": 3})]
    summary, errors = parse_events(lines, progress.append)
    assert summary == PlanSummary(3, 0, 0)
    assert errors == ["Quota exceeded: servers", "Apply failed"]  # warnings are not errors
    assert progress == ["  ✓ hcloud_network.cluster create (3s)", "  ✓ hcloud_firewall.nodes create (0s)",
                        "  ✗ hcloud_server.node[0]", "  ✗ ?"]
    assert parse_events(lines[6:7]) == (None, [])  # without a progress callback nothing is printed
    assert parse_events([event("change_summary", changes={"change": 2})])[0] == PlanSummary(0, 2, 0)
    assert parse_events([event("change_summary", changes={"add": 1, "remove": 4})])[0] == PlanSummary(1, 0, 4)


class ScriptedTofu:
    """tools.run for `tofu`: each subcommand answers (exit code, stdout lines, stderr); every call is recorded."""

    def __init__(self, answers: dict[str, tuple[int, list[str], str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        self.calls.append((list(argv), kwargs))
        command = argv[2]
        if command not in self.answers:
            raise ToolError("cannot run tofu: No such file or directory", argv=list(argv))
        code, lines, stderr = self.answers[command]
        return subprocess.CompletedProcess(argv, code, "\n".join(lines).encode(), stderr.encode())

    @property
    def commands(self) -> list[str]:
        return [argv[2] for argv, _ in self.calls]


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Callable[..., ScriptedTofu]:
    def make(**answers: tuple[int, list[str], str]) -> ScriptedTofu:
        fake = ScriptedTofu({"init": (0, [], ""), "output": (0, [json.dumps(OUTPUTS)], ""), **answers})
        monkeypatch.setattr(opentofu.tools, "run", fake)
        return fake
    return make


@pytest.fixture
def staging(tmp_path: Path) -> OpenTofuProvider:
    return OpenTofuProvider(env.load("staging"), tmp_path / "nested" / "state")


def test_every_tofu_call_runs_unattended_in_the_environments_directory_with_a_long_deadline(
        scripted: Callable[..., ScriptedTofu], staging: OpenTofuProvider) -> None:
    fake = scripted(plan=(0, [], ""))
    staging.plan()
    for argv, kwargs in fake.calls:
        assert argv[:2] == ["tofu", f"-chdir={staging.directory}"]
        assert kwargs["timeout"] == 1800 and kwargs["check"] is False
        assert kwargs["env"]["TF_IN_AUTOMATION"] == "1" and kwargs["env"]["TF_INPUT"] == "0"


def test_a_failed_tofu_command_is_summarised_from_its_diagnostics_else_from_the_end_of_stderr(
        scripted: Callable[..., ScriptedTofu], staging: OpenTofuProvider) -> None:
    diagnostics = [event("diagnostic", diagnostic={"severity": "error", "summary": "Invalid token"}),
                   event("diagnostic", diagnostic={"severity": "error", "summary": "No such region"})]
    scripted(plan=(1, diagnostics, "ignored when there are diagnostics"))
    with pytest.raises(ProviderError) as failed:
        staging.plan()
    assert failed.value.message == (f"tofu plan failed in {staging.directory} (exit 1): Invalid token; "
                                    "No such region")
    stderr = "a" * 100 + "b" * 600 + "\n"
    scripted(plan=(1, ["not json"], stderr))
    with pytest.raises(ProviderError) as failed:
        staging.plan()
    assert failed.value.message == f"tofu plan failed in {staging.directory} (exit 1): {'b' * 600}"
    assert failed.value.hint == "read the error above; fix infra/ or the credentials, then re-run (it resumes)"


@pytest.mark.parametrize("code, expected", [(0, PlanSummary(0, 0, 0)), (2, PlanSummary(1, 0, 0))])
def test_a_plan_without_a_change_summary_still_says_whether_it_changes_something(
        scripted: Callable[..., ScriptedTofu], staging: OpenTofuProvider, code: int, expected: PlanSummary) -> None:
    scripted(plan=(code, [event("version")], ""))  # -detailed-exitcode: 0 no changes, 2 changes
    assert staging.plan() == expected


def test_the_inputs_file_is_written_under_a_new_state_directory(staging: OpenTofuProvider) -> None:
    path = staging._var_file()
    assert path.read_text() == json.dumps({"name": "cattle-staging", "region": "fsn1", "kubernetes_version": "1.36",
                                           "node_size": "cpx32", "node_count": 3}, indent=2)


def test_an_unchanged_cluster_is_reported_as_such_without_an_apply(
        scripted: Callable[..., ScriptedTofu], staging: OpenTofuProvider, capsys: pytest.CaptureFixture[str]) -> None:
    fake = scripted(plan=(0, [], ""))
    assert staging.ensure() is False
    assert fake.commands == ["init", "output", "plan", "output"]
    assert "  opentofu: no changes: the cluster is as declared" in capsys.readouterr().err
    path = staging._kubeconfig_path
    assert path.read_text() == "the kubeconfig" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_kubeconfig_is_read_from_tofu_only_when_this_machine_has_none(
        scripted: Callable[..., ScriptedTofu], staging: OpenTofuProvider) -> None:
    fake = scripted()
    assert staging.kubeconfig() == (staging._kubeconfig_path, None)
    assert fake.commands == ["init", "output"] and staging._kubeconfig_path.read_text() == "the kubeconfig"
    staging.kubeconfig()
    assert fake.commands == ["init", "output"]  # kept: not asked again


@pytest.mark.parametrize("failure", ["tofu fails", "tofu missing"])
def test_no_kubeconfig_says_to_bootstrap_first(scripted: Callable[..., ScriptedTofu], staging: OpenTofuProvider,
                                               failure: str) -> None:
    if failure == "tofu fails":
        scripted(output=(1, [], "Error: No state file was found!"))
    else:
        scripted(init=(0, [], "")).answers.pop("init")  # tools.run cannot start tofu
    with pytest.raises(ProviderError) as refused:
        staging.kubeconfig()
    assert refused.value.message.startswith("no kubeconfig for staging's cluster: ")
    assert refused.value.hint == "run ./scripts/cattle bootstrap --env staging first"


def test_delete_destroys_and_forgets_a_kubeconfig_it_may_never_have_had(
        scripted: Callable[..., ScriptedTofu], staging: OpenTofuProvider, capsys: pytest.CaptureFixture[str]) -> None:
    fake = scripted(destroy=(0, [event("apply_complete", hook={"resource": {"addr": "hcloud_server.node[0]"},
                                                               "action": "delete", "elapsed_seconds": 12})], ""))
    staging.delete()
    assert fake.commands == ["init", "destroy"] and not staging._kubeconfig_path.exists()
    assert "  ✓ hcloud_server.node[0] delete (12s)" in capsys.readouterr().err


@pytest.mark.parametrize("store", ["file://.cattle/backups/staging/vault", "s3:///no-bucket", "gs://bucket/vault",
                                   "swift://bucket/vault"])
def test_the_state_backend_is_only_ever_an_s3_bucket(store: str) -> None:
    """The state lives next to the backups it rebuilds from; anything but a named S3 bucket is refused."""
    staging = env.load("staging")
    with pytest.raises(ProviderError) as refused:
        opentofu.backend_config(replace(staging, backups=replace(staging.backups, vault_store=store)))
    assert refused.value.message.endswith(f"but backups.vault is {store}")
    assert refused.value.hint == "set backups.vault to s3://BUCKET/..."


def test_the_state_backend_is_the_vault_stores_bucket_path_style_on_a_compatible_store(
        monkeypatch: pytest.MonkeyPatch) -> None:
    staging = env.load("staging")
    monkeypatch.setenv("AWS_REGION", "eu-central")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    bucket = urlparse(staging.backups.vault_store).netloc
    assert opentofu.backend_config(staging) == f'bucket = "{bucket}"\nregion = "eu-central"\n'
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    assert opentofu.backend_config(staging).splitlines()[2:] == [
        'endpoints = { s3 = "http://127.0.0.1:9000" }', "use_path_style = true", "skip_credentials_validation = true",
        "skip_region_validation = true", "skip_requesting_account_id = true"]


def test_a_new_kubeconfig_replaces_the_old_one_whole(scripted: Callable[..., ScriptedTofu],
                                                      staging: OpenTofuProvider) -> None:
    """Written private, into a state directory that may not exist yet, and truncated: a shorter kubeconfig (a
    rebuilt cluster) leaves nothing of the longer one behind."""
    fake = scripted()
    fake.answers["output"] = (0, [json.dumps({**OUTPUTS, "kubeconfig": {"value": "long " * 40}})], "")
    staging._write_kubeconfig()
    fake.answers["output"] = (0, [json.dumps(OUTPUTS)], "")
    staging._write_kubeconfig()
    path = staging._kubeconfig_path
    assert path.read_text() == "the kubeconfig" and stat.S_IMODE(path.stat().st_mode) == 0o600
