"""Preflight reads the real versions before anything changes: the live API server's Kubernetes (kubeconfig
provider) against every component's range, and the installed kind against the pinned release."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from cattle import env, tools
from cattle.bootstrap import preflight
from tests.kubemock import FakeCluster, Scenario


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCluster]:
    fake = FakeCluster(tmp_path, [], Scenario())
    monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig))
    yield fake
    fake.close()


def _staging() -> env.Environment:
    return dataclasses.replace(env.load("staging"), kube_context="kmock")


def test_a_server_in_every_range_passes(server: FakeCluster) -> None:
    check = preflight.check_server_version(_staging())
    assert check.ok and check.detail.startswith("v1.36.4")


def test_a_server_outside_the_ranges_is_refused_naming_each_component(server: FakeCluster) -> None:
    server.server_version = "v1.32.2"
    check = preflight.check_server_version(_staging())
    assert not check.ok
    assert check.detail.startswith("the server runs Kubernetes v1.32.2, outside the supported range of: Flux v2.9.4 "
                                   "supports >= 1.33 (https://github.com/fluxcd/flux2/blob/v2.9.4/cmd/flux/check.go)")
    for name in ("CloudNativePG 0.29.0 supports 1.34-1.36", "Envoy Gateway v1.9.0 supports 1.33-1.36",
                 "cert-manager v1.21.1 supports 1.33-1.36", "external-secrets 2.9.0 supports 1.36"):
        assert name in check.detail
    assert "OpenBao" not in check.detail  # >= 1.30: in range


def test_a_managed_provider_version_string_is_understood(server: FakeCluster) -> None:
    server.server_version = "v1.35.9-eks-4f4795d"
    check = preflight.check_server_version(_staging())
    assert not check.ok and "external-secrets 2.9.0 supports 1.36" in check.detail and "Flux" not in check.detail


def test_the_server_must_run_the_declared_version(server: FakeCluster) -> None:
    declared = dataclasses.replace(_staging(), kubernetes=env.KubernetesSpec("1.35"))
    check = preflight.check_server_version(declared)
    assert not check.ok
    assert check.detail.endswith("the server runs Kubernetes v1.36.4, but clusters/staging/environment.yaml "
                                 "declares 1.35")


def test_an_unreachable_server_is_a_failed_check_not_a_traceback(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    check = preflight.check_server_version(_staging())
    assert not check.ok and check.detail.startswith("cannot read the server's version")


@pytest.mark.parametrize(("installed", "ok"), [("v0.27.0", False), ("v0.33.0", True)])
def test_kind_must_be_the_pinned_release(installed: str, ok: bool, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    kind = tmp_path / "kind"
    kind.write_text(f"#!/bin/sh\necho 'kind {installed} go1.25 linux/amd64'\n")
    kind.chmod(0o755)
    monkeypatch.setattr(tools, "locate", lambda name: kind)
    check = preflight.check_kind_release(env.load("testing"))
    assert check.ok is ok
    if not ok:
        assert check.detail == ("kind v0.27.0 is installed; clusters/kind.yaml pins v0.33.0, whose node images the "
                                "environment uses")


def _kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(f"apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: '{server}', "
                    "insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: abc}\ncontexts:\n"
                    "- name: real-ctx\n  context: {cluster: c, user: u}\ncurrent-context: real-ctx\n")
    return path


def test_an_unreachable_server_is_named_with_its_address_not_the_clients_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 31, item 6: no raw MaxRetryError: the address, the context and the reason."""
    from cattle.vault.server import free_port

    port = free_port()  # nothing listens there
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path, f"https://127.0.0.1:{port}")))
    check = preflight.check_server_version(dataclasses.replace(_staging(), kube_context="real-ctx"))
    assert not check.ok and "MaxRetryError" not in check.detail and "HTTPSConnectionPool" not in check.detail
    assert check.detail == (f"cannot read the server's version: the Kubernetes API at https://127.0.0.1:{port} "
                            "(context real-ctx) cannot be reached: Connection refused")
    assert check.hint is not None and "pass --context" in check.hint


def test_a_context_typo_says_pass_context_with_the_contexts_that_exist(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 31, item 6: not "set cluster.context in the environment file" for a --context typo."""
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path, "https://127.0.0.1:1")))
    check = preflight.check_context("rael-ctx", "staging")
    assert not check.ok and check.hint is not None
    assert check.hint.startswith("did you mean real-ctx? pass --context with one of: real-ctx")
