"""bootstrap against a mock Kubernetes API over real HTTP (kmock), exercising the real `kubernetes` client:
order, idempotent re-run, resume after failure, timeout, failure messages, secrets kept out of output.
A real OpenBao server on 127.0.0.1 plays the in-cluster one (CATTLE_VAULT_ADDR)."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cattle import env
from cattle.bootstrap import fluxinstall, reconcile
from cattle.bootstrap import rebuild as bootstrap
from cattle.bootstrap.timeline import Timeline
from cattle.errors import CattleError, PreflightError, ReconcileFailed, WaitTimeout
from cattle.manifests.render import render
from cattle.secrets import keys
from cattle.vault import openbao as vault
from cattle.vault import restore as vaultdrill
from cattle.vault import setup as vaultinit
from cattle.vault.server import BaoServer
from tests.conftest import StandIns
from tests.kubemock import FakeCluster, Scenario, children_of


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _children(root: Path) -> list[tuple[str, dict[str, object]]]:
    return children_of(render(env.load("testing", root)))


@pytest.fixture
def openbao(secrets_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BaoServer]:
    """A fresh, uninitialised OpenBao with the testing seal key, where bootstrap finds "the in-cluster" one."""
    seal = vault.seal_material(secrets_repo, "testing")
    with BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "openbao") as server:
        monkeypatch.setenv(bootstrap.VAULT_ADDR_VARIABLE, server.addr)
        yield server


@pytest.fixture
def cluster(secrets_repo: Path, openbao: BaoServer, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCluster]:
    crds = [o for o in fluxinstall.manifests(secrets_repo) if o["kind"] == "CustomResourceDefinition"]
    fake = FakeCluster(tmp_path, crds, Scenario(children=_children(secrets_repo), repo=secrets_repo))
    monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig))
    monkeypatch.setenv("CATTLE_VAULT_STORE", f"file://{tmp_path / 'vault-backups'}")
    yield fake
    fake.close()


def _options(**extra: object) -> bootstrap.Options:
    values: dict[str, object] = {"provider": "kubeconfig", "git_url": "https://git.example.com/cattle.git",
                                 "timeout": 540.0}  # generous: a busy machine must not fail a rebuild that works
    values.update(extra)
    return bootstrap.Options(**values)  # type: ignore[arg-type]


def _client_requests(fake: FakeCluster) -> list[object]:
    return [r for r in list(fake.km) if str(r.headers.get("User-Agent", "")).startswith("OpenAPI-Generator")]


def test_bootstrap_reconciles_in_dependency_order_and_reports(cluster: FakeCluster, secrets_repo: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    waiters: list[reconcile.Waiter] = []
    # a caller's timeline (the drill's) started 10 minutes ago: the reconcile's RTO budget counts that time as spent
    begun = time.time() - 600
    timeline = bootstrap.run("testing", _options(), timeline=Timeline("testing", started=begun),
                             on_waiter=waiters.append)
    assert timeline is not None and timeline.result == "ok"
    order = cluster.ready_order
    assert order.index("secrets") < order.index("platform-controllers")
    assert order.index("platform-controllers") < order.index("platform-configs")
    assert order.index("platform-controllers") < order.index("apps")
    phases = [e.phase for e in timeline.events if not e.phase.startswith("reconcile ")]
    assert phases == ["preflight", "secrets: age key", "cluster", "flux", "secrets", "database", "sync",
                      "reconcile", "restore", "verify"]
    assert {e.phase for e in timeline.events} >= {"reconcile platform-controllers", "reconcile apps"}
    assert {e.status for e in timeline.events if not e.phase.startswith("reconcile ")} == {"ok"}
    # one bar per Kustomization in the Gantt chart, from first seen to Ready
    [waiter] = waiters
    assert 600 <= waiter.spent < time.time() - begun and waiter.budget == env.load("testing").rto_budget
    assert {e.phase: (e.start, e.end) for e in timeline.events if e.phase.startswith("reconcile ")} == {
        f"reconcile {t.name}": (t.first_seen, t.ready_at) for t in waiter.tracked.values() if t.kind == "Kustomization"}
    # the report's toolchain overhead is the time outside these: cattle waits on the cluster in them
    assert {e.phase for e in timeline.events if e.waiting and not e.phase.startswith("reconcile ")} == {
        "cluster", "flux", "reconcile", "restore"}
    assert timeline.critical_path[:2] == ["secrets", "platform-controllers"]
    assert timeline.critical_path[-1] in ("apps", "platform-configs") and len(timeline.critical_path) == 3
    # server-side apply with field manager cattle, CRDs before the controllers that need them
    patches = [r for r in _client_requests(cluster) if str(r.method) in ("PATCH", "method.PATCH")
               or getattr(r.method, "value", "") == "PATCH"]
    applies = [r for r in patches if r.headers.get("Content-Type") == "application/apply-patch+yaml"]
    assert applies and all(r.params.get("fieldManager") == "cattle" for r in applies)
    # the other patches are the nudges: reconcile.fluxcd.io/requestedAt on objects whose dependencies turned Ready
    nudges = [r for r in patches if r not in applies]
    assert all(r.headers.get("Content-Type") == "application/merge-patch+json" for r in nudges)
    assert all("/kustomizations/" in r.url.path or "/helmreleases/" in r.url.path for r in nudges)
    assert all(r.params.get("force") == "true" for r in applies)  # cattle's objects win conflicts on a re-run
    paths = [r.url.path for r in applies]
    first_deployment = next(i for i, p in enumerate(paths) if "/deployments/" in p)
    assert all(i < first_deployment for i, p in enumerate(paths) if "customresourcedefinitions" in p)
    # secret zero went in before the sync objects
    sops_index = next(i for i, p in enumerate(paths) if p.endswith("/secrets/sops-age"))
    sync_index = next(i for i, p in enumerate(paths) if p.endswith("/gitrepositories/flux-system"))
    assert sops_index < sync_index
    stored = next(o for (res, ns, name), o in cluster.km.objects.items() if name == "sops-age")
    identity = keys.require_identity("testing")
    assert list(stored["data"].values()) == [_b64(identity.secret + "\n")]
    # the report: table printed, run file written, and no key material anywhere in either
    out = capsys.readouterr()
    assert "RTO (testing):" in out.out and "critical path: secrets → platform-controllers → " in out.out
    runs = sorted((secrets_repo / ".cattle/runs").glob("testing-*.json"))
    report = json.loads(runs[-1].read_text())
    assert report["result"] == "ok" and report["rto_seconds"] > 0 and report["toolchain_overhead_seconds"] >= 0
    record = vaultinit.find(vaultdrill.store_for(env.load("testing", secrets_repo)), "testing", [identity])
    assert record is not None and record.root_token.startswith("s.")
    for text in (out.out, out.err, runs[-1].read_text()):
        assert identity.secret not in text and "AGE-SECRET-KEY" not in text
        assert record.root_token not in text and record.recovery_keys[0] not in text


def test_rerun_is_idempotent(cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    first = bootstrap.run("testing", _options())
    calls: dict[str, int] = {"env.load": 0, "render": 0, "flux manifests": 0}

    def counted(name: str, real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(env, "load", counted("env.load", env.load))
    monkeypatch.setattr(bootstrap, "render", counted("render", bootstrap.render))
    monkeypatch.setattr(fluxinstall, "manifests", counted("flux manifests", fluxinstall.manifests))
    second = bootstrap.run("testing", _options())
    # one way: the environment is read once, rendered once, the Flux install built once, for the whole run
    assert calls == {"env.load": 1, "render": 1, "flux manifests": 1}
    assert first is not None and second is not None and second.result == "ok"
    kustomizations = cluster.objects("/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations")
    assert sorted(k["metadata"]["name"] for k in kustomizations) == [
        "apps", "flux-system", "platform-configs", "platform-controllers", "secrets"]


def test_terminal_failure_is_surfaced_fast_and_a_rerun_resumes(cluster: FakeCluster, secrets_repo: Path) -> None:
    message = ("kustomize build failed: accumulating resources: accumulation err='accumulating resources from "
               "'missing.yaml': open /tmp/kustomization-1/platform/configs/missing.yaml: no such file or directory'")
    cluster.scenario.fail["platform-configs"] = message
    with pytest.raises(ReconcileFailed) as caught:
        bootstrap.run("testing", _options())
    assert "Kustomization flux-system/platform-configs failed" in caught.value.message
    assert "accumulating resources from 'missing.yaml'" in caught.value.message
    runs = sorted((secrets_repo / ".cattle/runs").glob("testing-*.json"))
    record = json.loads(runs[-1].read_text())
    assert record["result"] == "failed"
    [bar] = [e for e in record["events"] if e["phase"] == "reconcile platform-configs"]
    assert (bar["status"], bar["detail"]) == ("failed", message[:80])  # the Gantt chart's label: the reason's start
    cluster.scenario.fail.clear()  # the fix was pushed
    resumed = bootstrap.run("testing", _options())
    assert resumed is not None and resumed.result == "ok"
    assert "apps" in cluster.ready_order


class LeapOnceOnlyAppsIsLeft(reconcile.Clock):
    """The reconcile wait's clock: real time until every Kustomization but `apps` is Ready, then past any deadline.
    The timeout is then an event of the test, not a race with how busy the machine is."""

    def __init__(self) -> None:
        self.waiter: reconcile.Waiter | None = None
        self.leapt = False

    def monotonic(self) -> float:
        pending = {t.name for t in self.waiter.pending() if t.kind == "Kustomization"} if self.waiter else set()
        self.leapt = self.leapt or pending == {"apps"}
        return super().monotonic() + (1e6 if self.leapt else 0.0)


def test_timeout_names_what_is_pending(cluster: FakeCluster) -> None:
    cluster.scenario.never.add("apps")
    clock = LeapOnceOnlyAppsIsLeft()

    def on_waiter(waiter: reconcile.Waiter) -> None:
        clock.waiter, waiter.clock = waiter, clock

    with pytest.raises(WaitTimeout) as caught:
        bootstrap.run("testing", _options(), on_waiter=on_waiter)
    assert clock.leapt
    assert "not Ready within 540s" in caught.value.message
    assert "Kustomization flux-system/apps" in caught.value.message
    assert "Kustomization flux-system/platform-configs" not in caught.value.message  # Ready: not listed


def test_dry_run_prints_every_step_and_object_and_touches_nothing(cluster: FakeCluster,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert bootstrap.run("testing", _options(dry_run=True)) is None
    out = capsys.readouterr().out
    for step in ("cluster", "flux", "secrets", "sync", "reconcile", "restore", "verify"):
        assert f". {step}" in out
    assert "CustomResourceDefinition kustomizations.kustomize.toolkit.fluxcd.io" in out
    assert "Deployment flux-system/kustomize-controller" in out
    assert "GitRepository flux-system/flux-system" in out
    assert "Kustomization flux-system/apps" in out and "HelmRelease monitoring/kube-prometheus-stack" in out
    # preflight's one read (the server's Kubernetes version, checked against the compatibility table), nothing else
    assert [(r.method, r.url.path) for r in _client_requests(cluster)] == [("GET", "/version")]


def test_staging_without_its_key_stops_before_touching_the_cluster(cluster: FakeCluster, secrets_repo: Path) -> None:
    keys.key_file("staging").unlink()
    with pytest.raises(PreflightError) as caught:
        bootstrap.run("staging", _options())
    assert "age key: no age key for environment 'staging'" in caught.value.message
    assert "custodian" in caught.value.message
    assert not [r for r in _client_requests(cluster) if "secrets" in r.url.path]


@pytest.mark.usefixtures("tool_lookup")
def test_preflight_names_the_missing_provider_tools(secrets_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cattle import tools

    monkeypatch.setitem(tools.TOOLS, "kind", tools.Tool("kind", ("version",), r"kind v(\d+\.\d+\.\d+)", "0.20.0",
                                                         False, "install kind"))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PreflightError) as caught:
        bootstrap.run("testing", bootstrap.Options(provider="kind"))
    assert "kind: kind is not installed" in caught.value.message
    assert "nothing was changed" in caught.value.message
    assert "./scripts/cattle validate" in (caught.value.hint or "")


@pytest.mark.usefixtures("tool_lookup")
def test_dry_run_without_the_provider_tools_still_plans_then_fails(secrets_repo: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PreflightError) as caught:
        bootstrap.run("testing", bootstrap.Options(provider="kind", dry_run=True))
    out = capsys.readouterr().out
    assert "1. preflight: FAILED, a real run stops here and changes nothing: " in out
    assert "kind: kind is not installed" in out
    assert "2. cluster: create a kind cluster, or reuse it if it exists (kind could not be asked here)" in out
    assert "Deployment flux-system/kustomize-controller" in out and "Kustomization flux-system/apps" in out
    assert "kind: kind is not installed" in caught.value.message
    assert not (secrets_repo / ".cattle/runs").exists()  # a dry run writes no timeline


@pytest.mark.slow
def test_restore_phase_brings_back_vault_state(cluster: FakeCluster, secrets_repo: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Generation 1 backs up a real OpenBao; generation 2's bootstrap restores it into a fresh one."""
    from cattle.vault import openbao as vault
    from cattle.vault import restore as vaultdrill
    from cattle.vault.server import BaoServer
    from tests.vaultkit import everything, populate

    testing = env.load("testing", secrets_repo)
    seal = vault.seal_material(secrets_repo, "testing")
    credentials = vault.backup_login(secrets_repo, "testing")
    store = f"file://{tmp_path / 'offsite'}"
    monkeypatch.setenv("CATTLE_VAULT_STORE", store)
    with BaoServer(seal.key_hex, seal.key_id) as first:
        token = vault.client(first.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(first.addr)
        populate(vault.client(first.addr, token), credentials, secrets_per_mount=4)
        before = everything(vault.client(first.addr, token))
        manifest = vaultdrill.backup(testing, first.addr, store)
    with BaoServer(seal.key_hex, seal.key_id) as second:  # plays the fresh in-cluster OpenBao
        timeline = bootstrap.run("testing", _options(vault_addr=second.addr))
        assert timeline is not None
        restore = next(e for e in timeline.events if e.phase == "restore")
        assert f"Vault snapshot {manifest.id} restored" in restore.detail
        assert everything(vault.client(second.addr, token)) == before


@pytest.mark.slow
def test_fresh_openbao_is_set_up_during_the_reconcile_and_a_rebuild_restores_it(
        cluster: FakeCluster, openbao: BaoServer, secrets_repo: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """No snapshot: bootstrap initialises OpenBao as soon as its HelmRelease is Ready, keeps the init record in the
    store, configures external-secrets' Kubernetes auth (which platform-configs waits for here, as the
    ClusterSecretStore makes it in a real cluster) and snapshots it; generation 2 restores that snapshot."""
    testing = env.load("testing", secrets_repo)
    store = vaultdrill.store_for(testing)
    identities = keys.candidate_identities("testing")

    def external_secrets_can_log_in() -> bool:
        record = vaultinit.find(store, "testing", identities)
        if record is None:
            return False
        try:
            vault.client(openbao.addr, record.root_token).auth.kubernetes.read_role(vaultinit.ESO_ROLE)
        except Exception:
            return False
        return True

    cluster.scenario.ready_when["platform-configs"] = external_secrets_can_log_in
    first = bootstrap.run("testing", _options())
    assert first is not None and first.result == "ok"
    [vault_event] = [e for e in first.events if e.phase == "restore"]
    [reconcile_event] = [e for e in first.events if e.phase == "reconcile"]
    assert reconcile_event.start < vault_event.start and vault_event.end is not None
    assert vault_event.end < (reconcile_event.end or 0)  # inside the reconcile, not after it
    assert "initialised a fresh OpenBao" in vault_event.detail
    record = vaultinit.find(store, "testing", identities)
    assert record is not None
    root = vault.client(openbao.addr, record.root_token)
    assert root.sys.list_mounted_secrets_engines()["data"]["secret/"]["options"]["version"] == "2"
    role = root.auth.kubernetes.read_role(vaultinit.ESO_ROLE)
    assert role["bound_service_account_names"] == ["external-secrets"] and role["policies"] == ["external-secrets"]
    ca = cluster.objects("/api/v1/namespaces/openbao/configmaps")[0]["data"]["ca.crt"]
    assert root.auth.kubernetes.read_config()["kubernetes_ca_cert"] == ca
    root.secrets.kv.v2.create_or_update_secret(path="feeds/api", mount_point="secret", secret={"token": "t-1"})
    manifest = vaultdrill.backup(testing, openbao.addr)  # what the in-cluster CronJob does after a while

    seal = vault.seal_material(secrets_repo, "testing")
    with BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "generation-2") as second:
        rebuilt = bootstrap.run("testing", _options(vault_addr=second.addr))
        assert rebuilt is not None
        [restored] = [e for e in rebuilt.events if e.phase == "restore"]
        assert f"Vault snapshot {manifest.id} restored" in restored.detail
        assert "platform configuration ensured" in restored.detail
        again = vault.client(second.addr, record.root_token)  # the original root token, from the init record
        read = again.secrets.kv.v2.read_secret_version(path="feeds/api", mount_point="secret",
                                                       raise_on_deleted_version=True)
        assert read["data"]["data"] == {"token": "t-1"}
        assert again.auth.kubernetes.read_role(vaultinit.ESO_ROLE)["policies"] == ["external-secrets"]
    out = capsys.readouterr()
    for text in (out.out, out.err, *(p.read_text() for p in (secrets_repo / ".cattle/runs").glob("*.json"))):
        assert record.root_token not in text and record.recovery_keys[0] not in text


def test_protected_env_without_a_vault_snapshot_stops_before_touching_anything(
        secrets_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATTLE_VAULT_STORE", f"file://{tmp_path / 'empty-store'}")
    with pytest.raises(PreflightError) as caught:
        bootstrap.run("production", bootstrap.Options(provider="kubeconfig", dry_run=True))
    assert "vault store: no Vault snapshot of production in file://" in caught.value.message
    assert "--allow-empty-vault" in caught.value.message
    with pytest.raises(PreflightError) as allowed:
        bootstrap.run("production", bootstrap.Options(provider="kubeconfig", dry_run=True, allow_empty_vault=True))
    assert "vault store" not in allowed.value.message  # only the missing kubeconfig context is left


@pytest.mark.slow
def test_rerun_on_a_serving_openbao_leaves_its_data_alone(cluster: FakeCluster, openbao: BaoServer,
                                                           secrets_repo: Path, tmp_path: Path) -> None:
    """The store's newest snapshot is not what the live OpenBao holds (data changed since): bootstrap re-run on a
    serving environment must not fail, and must not replace the live data."""
    from tests.vaultkit import everything, populate

    testing = env.load("testing", secrets_repo)
    seal = vault.seal_material(secrets_repo, "testing")
    credentials = vault.backup_login(secrets_repo, "testing")
    with BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "elsewhere") as other:
        token = vault.client(other.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(other.addr)
        populate(vault.client(other.addr, token), credentials, secrets_per_mount=2)
        elsewhere = vaultdrill.backup(testing, other.addr)
    live_token = vault.client(openbao.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
    vault.wait_active(openbao.addr)
    populate(vault.client(openbao.addr, live_token), credentials, secrets_per_mount=3)
    before = everything(vault.client(openbao.addr, live_token))

    timeline = bootstrap.run("testing", _options())
    assert timeline is not None and timeline.result == "ok"
    [restore] = [e for e in timeline.events if e.phase == "restore"]
    assert f"holds other data than snapshot {elsewhere.id}: left as it is" in restore.detail
    assert everything(vault.client(openbao.addr, live_token)) == before


FAKE_KIND = """#!/bin/sh
case "$*" in
  "version") echo "kind v0.33.0 go1.25 linux/amd64" ;;
  "get clusters") cat "{state}" 2>/dev/null || true ;;
  "create cluster"*) echo cattle-testing > "{state}"; echo "$*" > "{state}.argv" ;;
  "get kubeconfig --name cattle-testing") cat "{kubeconfig}" ;;
esac
"""
FAKE_DOCKER = """#!/bin/sh
case "$*" in
  "version --format {{{{.Server.Version}}}}") echo "27.5.1" ;;
  "network inspect kind") if [ -s "{state}" ]; then echo '{inspect}'; else
    echo "Error response from daemon: network kind not found" >&2; exit 1; fi ;;
esac
"""
# kind >= v0.27's dual-stack network as Docker prints it: the gateway-less IPv6 entry first (the host is 127.0.0.1
# here so that the test's git clone reaches the served checkout)
KIND_NETWORK = json.dumps([{"Name": "kind", "Driver": "bridge", "EnableIPv6": True, "IPAM": {"Driver": "default",
                            "Config": [{"Subnet": "fc00:f853:ccd:e793::/64"},
                                       {"Subnet": "127.0.0.0/8", "Gateway": "127.0.0.1"}]}}])


def _kind_on_path(cluster: FakeCluster, tmp_path: Path, stand_ins: StandIns) -> Path:
    """Stand-in kind and docker whose cluster is the fake one; returns where kind keeps its cluster list."""
    state, kubeconfig = tmp_path / "kind-clusters", tmp_path / "kind-kubeconfig"
    kubeconfig.write_text(cluster.kubeconfig.read_text().replace("kmock", "kind-cattle-testing"))
    for name, text in (("kind", FAKE_KIND), ("docker", FAKE_DOCKER)):
        stand_ins.put(name, text.format(state=state, kubeconfig=kubeconfig, inspect=KIND_NETWORK))
    return state


def test_a_new_cluster_outside_the_supported_range_stops_before_flux(
        cluster: FakeCluster, tmp_path: Path, stand_ins: StandIns) -> None:
    """Preflight cannot ask a cluster that does not exist yet: the one just created is asked before Flux goes in."""
    _kind_on_path(cluster, tmp_path, stand_ins)
    cluster.server_version = "v1.32.2"
    with pytest.raises(PreflightError) as caught:
        bootstrap.run("testing", bootstrap.Options(provider="kind", git_url="https://git.example.com/cattle.git",
                                                   timeout=540.0))
    assert caught.value.message.startswith("the kind cluster of testing: the server runs Kubernetes v1.32.2")
    assert [(r.method, r.url.path) for r in _client_requests(cluster)] == [("GET", "/version")]


def test_first_kind_run_serves_the_checkout_once_the_cluster_network_exists(
        cluster: FakeCluster, secrets_repo: Path, tmp_path: Path, stand_ins: StandIns,
        capsys: pytest.CaptureFixture[str]) -> None:
    """On a fresh Docker host the `kind` network only exists once kind created its first cluster: the served
    checkout's address is looked up after that. Flux (played here by a git clone while platform-controllers
    reconciles) fetches the working tree, uncommitted changes included."""
    import subprocess


    state = _kind_on_path(cluster, tmp_path, stand_ins)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=secrets_repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=secrets_repo, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=secrets_repo, check=True)
    (secrets_repo / "clusters/testing/uncommitted.txt").write_text("served too\n")
    fetched: list[Path] = []

    def source_controller_fetches() -> bool:
        if not fetched:
            [repository] = cluster.objects("/apis/source.toolkit.fluxcd.io/v1/gitrepositories")
            clone = tmp_path / "fetched"
            subprocess.run(["git", "clone", "-q", "--branch", "main", repository["spec"]["url"], str(clone)],
                           check=True, timeout=60)
            fetched.append(clone)
        return True

    cluster.scenario.ready_when["platform-controllers"] = source_controller_fetches
    timeline = bootstrap.run("testing", bootstrap.Options(provider="kind", timeout=540.0))
    assert timeline is not None and timeline.result == "ok"
    assert [e.detail for e in timeline.events if e.phase == "cluster"] == ["created"]
    [repository] = cluster.objects("/apis/source.toolkit.fluxcd.io/v1/gitrepositories")
    assert repository["spec"]["url"].startswith("http://127.0.0.1:") and repository["spec"]["ref"] == {
        "branch": "main"}
    assert (fetched[0] / "clusters/testing/uncommitted.txt").read_text() == "served too\n"
    # the served commit holds the working tree as it is (uncommitted changes included), named by a short sha
    assert re.search(r"serving this checkout \(commit [0-9a-f]{10}\) at http://127\.0\.0\.1:\d+/",
                     capsys.readouterr().err)
    assert "--image kindest/node:v1.36.4@sha256:" in Path(f"{state}.argv").read_text()  # the pinned node image


def test_a_server_outside_a_components_range_stops_preflight(cluster: FakeCluster, secrets_repo: Path) -> None:
    """kind v0.27's Kubernetes 1.32.2 behind a kubeconfig: refused before anything is applied."""
    cluster.server_version = "v1.32.2"
    with pytest.raises(PreflightError) as caught:
        bootstrap.run("testing", _options())
    assert ("kubernetes version: the server runs Kubernetes v1.32.2, outside the supported range of: Flux v2.9.4 "
            "supports >= 1.33") in caught.value.message
    assert "nothing was changed" in caught.value.message
    assert [r.method for r in _client_requests(cluster)] == ["GET"]  # GET /version, nothing else


def test_serving_to_a_kubeconfig_cluster_needs_an_address(cluster: FakeCluster,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bootstrap.SERVE_HOST_VARIABLE, raising=False)
    with pytest.raises(CattleError, match=r"serving this checkout to a kubeconfig cluster needs "
                                          r"\$CATTLE_SERVE_HOST"):
        bootstrap.run("testing", _options(serve=True, git_url=None))


@pytest.mark.slow
def test_rerun_after_an_interrupted_first_setup_finishes_it(cluster: FakeCluster, openbao: BaoServer,
                                                             secrets_repo: Path) -> None:
    """A first run initialised OpenBao (init record kept) and stopped before its first snapshot: the re-run
    configures it with the record's root token and takes that snapshot."""
    from cattle.secrets import sopsconfig
    from cattle.vault import snapshots
    from tests.kubemock import self_signed_ca_pem

    testing = env.load("testing", secrets_repo)
    store = vaultdrill.store_for(testing)
    answer = vault.client(openbao.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)
    record = vaultinit.InitRecord("20260101T000000.000000Z-aaaaaa", "testing", "2026-01-01T00:00:00Z",
                                  answer["root_token"], answer["recovery_keys"])
    vaultinit.save(store, record, sopsconfig.required_recipients(secrets_repo, "testing"))
    vault.wait_active(openbao.addr)
    vaultinit.configure_platform(vault.client(openbao.addr, record.root_token), self_signed_ca_pem())

    timeline = bootstrap.run("testing", _options())
    assert timeline is not None and timeline.result == "ok"
    [restore] = [e for e in timeline.events if e.phase == "restore"]
    first = snapshots.find(store, "testing")
    assert f"holds no snapshot of it yet; first snapshot {first.id}; platform configuration ensured" in restore.detail
    assert vault.login(openbao.addr, vault.backup_login(secrets_repo, "testing")).is_authenticated()


def _applied(cluster: FakeCluster, path: str) -> dict[str, object]:
    [found] = cluster.objects(path)
    return found


def test_what_flux_is_handed_is_what_the_fake_flux_needs(cluster: FakeCluster, secrets_repo: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Git credentials applied and never printed, the env's own branch, a pruning root, and the database decision
    in place before the root Kustomization exists (the fake builds the root from what exists at its creation);
    cattle's values replace what another field manager applied before."""
    token = "ghp_" + "x7" * 18
    monkeypatch.setenv("CATTLE_GIT_TOKEN", token)
    path = secrets_repo / "clusters/testing/environment.yaml"
    path.write_text(path.read_text().replace("  branch: main", "  branch: release-7"))
    # what someone applied by hand before (an old token, an old key, another database decision): a real API server
    # refuses cattle's apply over another manager's fields unless it forces
    cluster.add_namespace("flux-system")
    secrets = "/api/v1/namespaces/flux-system/secrets"
    # (the API server stores a Secret's stringData as data, owned by whoever wrote it: seen on the control plane tier)
    old_credentials = {"username": _b64("git"), "password": _b64("ghp_old")}
    for kind, name, fields in (("Secret", "flux-system", {"data": old_credentials}),
                               ("Secret", "sops-age", {"data": {"testing.agekey": _b64("AGE-SECRET-KEY-1OLD")}}),
                               ("ConfigMap", "cattle-bootstrap", {"data": {"DB_BOOTSTRAP": "recovery",
                                                                           "DB_GENERATION": "g7"}})):
        obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "flux-system"}, **fields}
        assert cluster.apply_as("kubectl", f"/api/v1/namespaces/flux-system/{kind.lower()}s/{name}", obj) == 201
    timeline = bootstrap.run("testing", _options())
    assert timeline is not None and timeline.result == "ok"
    assert cluster._get(f"{secrets}/flux-system")["data"]["password"] == _b64(token)  # type: ignore[index]
    assert cluster._get(f"{secrets}/sops-age")["data"] == {  # type: ignore[index]
        "testing.agekey": _b64(keys.require_identity("testing").secret + "\n")}
    repository = _applied(cluster, "/apis/source.toolkit.fluxcd.io/v1/gitrepositories")
    assert repository["spec"] == {"interval": "1m", "url": "https://git.example.com/cattle.git",  # type: ignore[index]
                                  "ref": {"branch": "release-7"}, "secretRef": {"name": "flux-system"}}
    [root] = [k for k in cluster.objects("/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations")
              if k["metadata"]["name"] == "flux-system"]
    assert root["spec"]["prune"] is True
    [credentials] = [r for r in _client_requests(cluster) if r.url.path.endswith("/secrets/flux-system")]
    assert credentials.params.get("force") == "true"  # cattle's, whoever wrote them before
    assert [e.detail for e in timeline.events if e.phase == "secrets"] == ["sops-age + git credentials"]
    assert cluster.first_build_vars == {"DB_BOOTSTRAP": "initdb", "DB_GENERATION": "g1",
                                        "DB_RECOVERY_GENERATION": "none"}
    out = capsys.readouterr()
    for text in (out.out, out.err, *(p.read_text() for p in (secrets_repo / ".cattle/runs").glob("*.json"))):
        assert token not in text


def test_a_helmrelease_whose_retries_are_exhausted_fails_the_rebuild(cluster: FakeCluster) -> None:
    cluster.scenario.helm_fail["loki"] = "context deadline exceeded"
    with pytest.raises(ReconcileFailed, match="HelmRelease logging/loki failed: install retries exhausted: "
                                              "context deadline exceeded"):
        bootstrap.run("testing", _options())


def test_a_decryption_key_flux_cannot_use_stops_the_secrets_layer(cluster: FakeCluster, secrets_repo: Path) -> None:
    """The fake kustomize-controller decrypts with the sops-age Secret of the Kustomization's namespace: a key for
    other recipients (here: production's) is a terminal DecryptionFailed, as on a real cluster."""
    identity = keys.require_identity("production")
    original = keys.flux_secret

    def wrong_key(_identity: keys.Identity, env_name: str) -> dict[str, object]:
        return original(identity, env_name)

    import unittest.mock

    with unittest.mock.patch.object(keys, "flux_secret", wrong_key), \
            pytest.raises(ReconcileFailed, match=r"Kustomization flux-system/secrets failed: failed to decrypt and "
                                                 r"format '.*': sops: no key could decrypt"):
        bootstrap.run("testing", _options())


def test_nothing_custom_is_applied_before_its_crd_is_established(cluster: FakeCluster) -> None:
    """The fake API server serves a new kind only once its CRD is Established (here: seconds after it is applied,
    while the Flux Deployments are Available at once); applying a GitRepository earlier would be a 404."""
    cluster.scenario.establish_after = 3.0
    timeline = bootstrap.run("testing", _options())
    assert timeline is not None and timeline.result == "ok"
    assert ("gitrepositories", "flux-system", "flux-system") in cluster.km.created


def test_context_flag_points_at_the_new_cluster_without_editing_git(cluster: FakeCluster) -> None:
    without = bootstrap.plan("staging", _options(dry_run=True))
    assert without.blocked is not None and "context 'cattle-staging' not in kubeconfig" in without.blocked.message
    planned = bootstrap.plan("staging", _options(dry_run=True, context="kmock"))
    assert planned.blocked is None, planned.blocked
    assert planned.environment.kube_context == "kmock"
