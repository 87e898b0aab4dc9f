"""rebuild's own decisions, without a cluster: what it expects Flux to make ready, when it serves the checkout,
which key and git source it plans with, and when a run leaves a timeline behind. The end-to-end runs against the
mock API are in test_bootstrap.py."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pyrage import x25519

from cattle import env
from cattle.bootstrap import rebuild as bootstrap
from cattle.database.backups import MARKER, Decision
from cattle.errors import CattleError, ConfigError, PreflightError
from cattle.kube import Kube
from cattle.secrets import keys
from cattle.vault import endpoint as baoendpoint
from cattle.vault import openbao
from cattle.vault import restore as vaultrestore
from tests.conftest import StandIns


@pytest.fixture
def no_kind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tool_lookup: None) -> Iterator[None]:
    """No provider tools and no cluster: preflight fails, so a dry run plans and then stops, touching nothing."""
    bin_dir = tmp_path / "only-git"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    yield


def test_expected_lists_the_flux_objects_of_the_versions_cattle_waits_on(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = [
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "apps", "namespace": "flux-system"},
         "spec": {"dependsOn": [{"name": "platform-configs"}, {"name": "secrets"}]}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "secrets", "namespace": "flux-system"}, "spec": {}},
        {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
         "metadata": {"name": "loki", "namespace": "logging"},
         "spec": {"dependsOn": [{"name": "kube-prometheus-stack", "namespace": "monitoring"}]}},
        # same kinds, other API groups or versions: not objects Flux reports Ready on
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
         "metadata": {"name": "stray"}, "spec": {"dependsOn": [{"name": "x"}]}},
        {"apiVersion": "helm.toolkit.fluxcd.io/v2beta1", "kind": "HelmRelease",
         "metadata": {"name": "old", "namespace": "logging"}, "spec": {}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "logging"}},
    ]
    monkeypatch.setattr(bootstrap, "render", lambda *_: SimpleNamespace(
        objects=[SimpleNamespace(obj=o) for o in objects]))
    expected, depends = bootstrap._expected(env.load("testing"), None)
    assert expected == [("Kustomization", "flux-system", "apps"), ("Kustomization", "flux-system", "secrets"),
                        ("HelmRelease", "logging", "loki")]
    assert depends == {"apps": ["platform-configs", "secrets"], "secrets": []}  # HelmReleases order themselves


def test_a_kind_environment_without_a_git_url_serves_this_checkout(
        secrets_repo: Path, no_kind: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(PreflightError, match="kind is not installed"):
        bootstrap.run("testing", bootstrap.Options(dry_run=True))
    assert "GitRepository (served from this checkout) @ main" in capsys.readouterr().out


def test_a_given_git_url_is_planned_with_what_cattle_can_tell_about_it(
        secrets_repo: Path, no_kind: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(PreflightError):
        bootstrap.run("testing", bootstrap.Options(provider="kind", dry_run=True, git_url="https://git.example/c"))
    assert ("GitRepository https://git.example/c @ main (warning: not a git checkout: cannot tell whether it is "
            "pushed)") in capsys.readouterr().out


def test_git_credentials_are_planned_only_when_there_are_some(
        secrets_repo: Path, no_kind: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CATTLE_GIT_TOKEN", raising=False)
    monkeypatch.delenv("CATTLE_GIT_SSH_KEY_FILE", raising=False)
    options = bootstrap.Options(provider="kind", dry_run=True, git_url="https://git.example/c")
    [without] = [s for s in bootstrap.plan("testing", options).plan.steps if s.name == "secrets"]
    assert without.objects == ("Secret flux-system/sops-age (values never printed)",)
    monkeypatch.setenv("CATTLE_GIT_TOKEN", "ghp_" + "y3" * 18)
    [with_token] = [s for s in bootstrap.plan("testing", options).plan.steps if s.name == "secrets"]
    assert with_token.objects == ("Secret flux-system/sops-age (values never printed)",
                                  "Secret flux-system/flux-system (values never printed)")
    assert with_token.reason.endswith("flux-system/sops-age and git credentials")


def test_a_remote_cluster_is_never_served_the_checkout_by_default(secrets_repo: Path, no_kind: None) -> None:
    """Only a local cluster can reach this machine: a kubeconfig cluster without a git URL is an error to fix."""
    with pytest.raises(ConfigError, match="no git URL for environment testing"):
        bootstrap.run("testing", bootstrap.Options(provider="kubeconfig", dry_run=True))


def test_a_key_that_does_not_open_the_environments_files_is_not_planned_with(
        secrets_repo: Path, no_kind: None, capsys: pytest.CaptureFixture[str]) -> None:
    keys.key_file("testing").write_text(str(x25519.Identity.generate()) + "\n")
    with pytest.raises(PreflightError):
        bootstrap.run("testing", bootstrap.Options(dry_run=True))
    out = capsys.readouterr().out
    assert "age key from" not in out
    assert "no age key here: make a new one and regenerate every declared secret" in out


def test_a_run_stopped_at_preflight_leaves_no_timeline(secrets_repo: Path, no_kind: None) -> None:
    with pytest.raises(PreflightError, match="kind is not installed"):
        bootstrap.run("testing", bootstrap.Options())
    assert not (secrets_repo / ".cattle/runs").exists()


class KubeWith:
    """The two reads database_choice makes, answered from a dict keyed by (kind, name)."""

    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.objects = objects

    def learn_flux(self, _docs: object) -> None:
        pass

    def get(self, _api_version: str, kind: str, name: str, _namespace: str) -> dict[str, Any] | None:
        return self.objects.get((kind, name))


LEFT = {"DB_BOOTSTRAP": "recovery", "DB_GENERATION": "g3", "DB_RECOVERY_GENERATION": "g2"}


@pytest.mark.parametrize("present", [{"ConfigMap"}, {"Cluster"}, set()])
def test_the_planned_database_decision_stands_until_its_cluster_exists(secrets_repo: Path,
                                                                      present: set[str]) -> None:
    """A decision left by an interrupted run (ConfigMap, no CNPG Cluster yet) or a Cluster whose decision is gone:
    what this run planned is applied and recorded in the store."""
    objects: dict[tuple[str, str], dict[str, Any]] = {("ConfigMap", "cattle-bootstrap"): {"data": LEFT},
                                                      ("Cluster", "feeds-db"): {"spec": {}}}
    kube = KubeWith({key: value for key, value in objects.items() if key[0] in present})
    decision = Decision("initdb", 1, None, None, "no backup yet: new, empty database")
    variables, detail = bootstrap.database_choice(env.load("testing"), kube, decision)  # type: ignore[arg-type]
    assert (variables, detail) == (decision.variables, "no backup yet: new, empty database")
    assert json.loads(bootstrap.database_store(env.load("testing")).get(MARKER))["current"] == "g1"  # type: ignore[union-attr]


def test_an_existing_database_keeps_the_decision_it_was_built_with(secrets_repo: Path) -> None:
    kube = KubeWith({("ConfigMap", "cattle-bootstrap"): {"data": LEFT}, ("Cluster", "feeds-db"): {"spec": {}}})
    decision = Decision("initdb", 1, None, None, "no backup yet")
    variables, detail = bootstrap.database_choice(env.load("testing"), kube, decision)  # type: ignore[arg-type]
    assert (variables, detail) == (LEFT, "feeds-db exists already (recovery, g3)")
    assert MARKER not in bootstrap.database_store(env.load("testing")).names()  # type: ignore[union-attr]


def test_only_a_protected_environment_needs_the_explicit_flag_to_be_destroyed(secrets_repo: Path) -> None:
    with pytest.raises(CattleError, match="production is protected: destroying it needs --i-mean-production"):
        bootstrap.destroy_target("production", "kind", i_mean_production=False)
    assert bootstrap.destroy_target("production", "kind", i_mean_production=True).description == \
        "kind cluster cattle-production (production)"
    assert bootstrap.destroy_target("testing", None, i_mean_production=False).description == \
        "kind cluster cattle-testing (testing)"


def test_destroy_deletes_the_cluster_the_operator_confirmed_even_if_the_env_file_changed_since(
        secrets_repo: Path, stand_ins: StandIns, tmp_path: Path) -> None:
    calls = tmp_path / "kind-calls"
    stand_ins.put("kind", f"""#!/bin/sh
case "$*" in
  "version") echo "kind v0.33.0 go1.25 linux/amd64" ;;
  "delete cluster"*) echo "$*" >> {calls} ;;
esac
""")
    target = bootstrap.destroy_target("testing", None, i_mean_production=False)
    environment_file = secrets_repo / "clusters/testing/environment.yaml"
    environment_file.write_text(environment_file.read_text().replace("name: cattle-testing", "name: somebody-elses"))
    assert env.load("testing").cluster_name == "somebody-elses"
    bootstrap.destroy(target)
    assert calls.read_text().splitlines() == ["delete cluster --name cattle-testing"]


def test_a_database_store_cattle_cannot_open_is_a_failed_check(secrets_repo: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bootstrap.DB_STORE_VARIABLE, "ftp://backups.example/feeds")
    decision, check = bootstrap.plan_database(env.load("production"), allow_empty=False)
    assert decision is None and check is not None
    assert (check.name, check.ok) == ("database store", False)
    assert check.detail == "unsupported backup store 'ftp://backups.example/feeds'"


def test_a_database_store_that_opens_but_holds_no_readable_generation_is_a_failed_check(
        secrets_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store opens, but what it holds is not a generation cattle can read: a doubt, so a failed check."""
    store = tmp_path / "feeds"
    (store / "someone-elses-dump.sql.gz").parent.mkdir()
    (store / "someone-elses-dump.sql.gz").write_bytes(b"\x1f\x8b")
    monkeypatch.setenv(bootstrap.DB_STORE_VARIABLE, f"file://{store}")
    decision, check = bootstrap.plan_database(env.load("production"), allow_empty=False)
    assert decision is None and check is not None
    assert (check.name, check.ok) == ("database store", False)
    assert "holds no database generation cattle can read, but it is not empty" in check.detail


def test_by_default_a_protected_env_without_a_database_backup_is_refused(secrets_repo: Path, no_kind: None) -> None:
    """Fail closed: only --allow-empty-database (Options.allow_empty_database) may start production's database empty;
    the defaults of a run never do."""
    planned = bootstrap.plan("production", bootstrap.Options(dry_run=True, allow_empty_vault=True))
    assert planned.database is None and planned.blocked is not None
    assert "database store" in planned.blocked.message and "--allow-empty-database" in planned.blocked.message
    chosen = bootstrap.plan("production", bootstrap.Options(dry_run=True, allow_empty_vault=True,
                                                            allow_empty_database=True))
    assert chosen.database is not None and chosen.database.variables["DB_BOOTSTRAP"] == "initdb"


def test_without_a_database_store_an_unprotected_env_starts_a_first_generation(
        secrets_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bootstrap.DB_STORE_VARIABLE, raising=False)
    testing = env.load("testing")
    testing = replace(testing, backups=replace(testing.backups, database_store=None))
    decision, check = bootstrap.plan_database(testing, allow_empty=False)
    assert check is None and decision is not None
    assert decision.variables == {"DB_BOOTSTRAP": "initdb", "DB_GENERATION": "g1", "DB_RECOVERY_GENERATION": "none"}


FAILING_KIND = """#!/bin/sh
case "$*" in
  "version") echo "kind v0.33.0 go1.25 linux/amd64" ;;
  "get clusters") ;;
  "create cluster"*) echo "ERROR: failed to create cluster: no space left on device" >&2; exit 1 ;;
esac
"""
DOCKER = """#!/bin/sh
echo "27.5.1"
"""


def test_a_throwaway_env_without_its_key_gets_a_new_one_and_fresh_secrets_first(
        secrets_repo: Path, stand_ins: StandIns) -> None:
    """The key phase comes before the cluster, and the run's timeline says what it regenerated even when the cluster
    then cannot be made."""
    stand_ins.put("kind", FAILING_KIND)
    stand_ins.put("docker", DOCKER)
    keys.key_file("testing").unlink()
    with pytest.raises(CattleError, match="no space left on device"):
        bootstrap.run("testing", bootstrap.Options(git_url="https://git.example/c"))
    [run] = (secrets_repo / ".cattle/runs").glob("testing-*.json")
    events = {e["phase"]: e for e in json.loads(run.read_text())["events"]}
    assert list(events) == ["preflight", "secrets: age key", "cluster"]
    assert re.fullmatch(r".+; regenerated [1-9]\d* secrets", events["secrets: age key"]["detail"])
    assert events["cluster"]["status"] == "failed"
    assert keys.find_identity("testing") is not None


def test_a_run_that_fails_at_its_first_step_after_preflight_still_writes_its_timeline(
        secrets_repo: Path, stand_ins: StandIns, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The key phase is the first step after preflight: its failure (here the key store turning unreadable after
    preflight read it) is on record like any later one."""
    stand_ins.put("kind", FAILING_KIND)
    stand_ins.put("docker", DOCKER)

    def unreadable(*args: object, **kwargs: object) -> None:
        raise CattleError("cannot read the age key of testing: permission denied", "check the key file's owner")

    monkeypatch.setattr(bootstrap.secrets, "ensure_key", unreadable)
    with pytest.raises(CattleError, match="permission denied"):
        bootstrap.run("testing", bootstrap.Options(git_url="https://git.example/c"))
    [run] = (secrets_repo / ".cattle/runs").glob("testing-*.json")
    written = json.loads(run.read_text())
    assert [(e["phase"], e["status"]) for e in written["events"]] == [("preflight", "ok"),
                                                                      ("secrets: age key", "failed")]
    assert f"timeline written to {run}" in capsys.readouterr().err


@pytest.mark.parametrize("given, per_env, everywhere, used", [
    ("http://flag:8200", "http://testing:8200", "http://all:8200", "http://flag:8200"),
    (None, "http://testing:8200", "http://all:8200", "http://testing:8200"),
    (None, None, "http://all:8200", "http://all:8200"),
    (None, None, None, "http://127.0.0.1:18200 (port-forward)"),
])
def test_openbao_is_reached_at_the_flag_then_the_envs_then_the_common_address_else_through_the_cluster(
        monkeypatch: pytest.MonkeyPatch, given: str | None, per_env: str | None, everywhere: str | None,
        used: str) -> None:
    for name, value in (("CATTLE_VAULT_ADDR_TESTING", per_env), (bootstrap.VAULT_ADDR_VARIABLE, everywhere)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    waited: list[tuple[str, float]] = []
    monkeypatch.setattr(openbao, "wait_ready", lambda addr, timeout: waited.append((addr, timeout)))
    monkeypatch.setattr(baoendpoint, "reach",
                        lambda _stack, _forward: ("http://127.0.0.1:18200 (port-forward)", 200))
    monkeypatch.setattr(vaultrestore, "bring_up",
                        lambda _env, addr, decision, ca, restart, nodes:
                        f"{decision} at {addr}, {ca}, {restart}, {nodes}")
    detail = bootstrap.restore_state(env.load("testing"), (None, None), given, "restored", "CA")  # type: ignore[arg-type]
    assert detail == f"restored at {used}, CA, None, None"  # one OpenBao node: nothing to restart after a restore
    assert waited == ([] if used.endswith("(port-forward)") else [(used, 300)])  # reach waits on its own


@pytest.mark.parametrize("given", [None, "http://flag:8200"])
def test_several_openbao_nodes_in_the_cluster_get_the_active_pod_restarted_after_a_restore(
        monkeypatch: pytest.MonkeyPatch, given: str | None) -> None:
    monkeypatch.delenv("CATTLE_VAULT_ADDR_STAGING", raising=False)
    monkeypatch.delenv(bootstrap.VAULT_ADDR_VARIABLE, raising=False)
    monkeypatch.setattr(openbao, "wait_ready", lambda addr, timeout: None)
    monkeypatch.setattr(baoendpoint, "reach", lambda _stack, _forward: ("http://127.0.0.1:18200", 200))
    closed: list[bool] = []

    class FakeKube:
        def close(self) -> None:
            closed.append(True)

    monkeypatch.setattr(Kube, "from_kubeconfig", classmethod(lambda cls, path, context: FakeKube()))
    handed: list[object] = []
    monkeypatch.setattr(vaultrestore, "bring_up",
                        lambda _env, addr, decision, ca, restart, nodes: handed.extend([restart, nodes]))
    staging = env.load("staging")
    assert bootstrap._rendered_facts(staging, None)[2] == 3  # server.ha.replicas of staging's OpenBao release
    bootstrap.restore_state(staging, (None, None), given, "restored", "CA", 3)  # type: ignore[arg-type]
    if given:  # an address given by hand: cattle cannot restart that node (the restore says how, if needed)
        assert handed == [None, None]
    else:  # the active pod, then the followers still behind (cattle.vault.openbao._every_node)
        [restart, nodes] = handed
        assert restart.func is baoendpoint.restart_active and closed == [True]  # type: ignore[attr-defined]
        assert nodes.func is baoendpoint.restart_pods  # type: ignore[attr-defined]


KUBECONFIG_TWO_CONTEXTS = """apiVersion: v1
kind: Config
current-context: old
clusters:
- {name: old, cluster: {server: "https://old.example:6443"}}
- {name: new, cluster: {server: "https://new.example:6443"}}
users:
- {name: u, user: {token: t}}
contexts:
- {name: old, context: {cluster: old, user: u}}
- {name: new, context: {cluster: new, user: u}}
"""


@pytest.mark.parametrize("context, server", [(None, "https://old.example:6443"), ("new", "https://new.example:6443")])
def test_status_and_the_shell_reach_the_context_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          context: str | None, server: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG_TWO_CONTEXTS)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    environment, kube = bootstrap.connect("testing", "kubeconfig", context)
    try:
        assert environment.kube_context == context
        assert kube.api.configuration.host == server
    finally:
        kube.close()


def test_a_dry_run_writes_no_run_record(secrets_repo: Path, no_kind: None) -> None:
    """(killed a mutant of the tier's sample: the record written for any run but one with exactly one event)"""
    with pytest.raises(PreflightError):
        bootstrap.run("testing", bootstrap.Options(dry_run=True))
    assert not list((secrets_repo / ".cattle/runs").glob("*.json"))


def test_the_backup_endpoint_of_this_run_reaches_both_layers_that_use_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """$CATTLE_BACKUP_S3_ENDPOINT goes into cattle-bootstrap, which Flux reads after cluster-vars (a later
    reference's keys win): the ObjectStore (apps) and the OpenBao backup CronJob (platform-configs) both use it."""
    from cattle.manifests.render import render

    monkeypatch.setenv(bootstrap.BACKUP_ENDPOINT_VARIABLE, "http://172.19.0.1:9000")
    rendering = render(env.load("testing"), {"DB_RECOVERY": "initdb", **bootstrap.bootstrap_overrides()})
    store = rendering.find("ObjectStore", "feeds", "feeds-backups")
    cronjob = rendering.find("CronJob", "openbao", "openbao-backup")
    assert store is not None and cronjob is not None
    assert store.obj["spec"]["configuration"]["endpointURL"] == "http://172.19.0.1:9000"
    assert "http://172.19.0.1:9000" in [e.get("value") for c in cronjob.obj["spec"]["jobTemplate"]["spec"]["template"]
                                        ["spec"]["containers"] for e in c.get("env") or []]
    monkeypatch.delenv(bootstrap.BACKUP_ENDPOINT_VARIABLE)
    assert bootstrap.bootstrap_overrides() == {}  # without it, cluster-vars' value stands
