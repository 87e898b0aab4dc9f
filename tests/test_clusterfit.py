"""validate knows the real cluster an environment declares: Kubernetes version against every component's range,
requests against capacity, timeouts nested within the RTO budget. Each broken state is planted in a repo copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from cattle import env
from cattle.manifests import capacity, compatibility, timeouts, validate
from cattle.manifests.render import render

KIND_V0_27_DEFAULT = "kindest/node:v1.32.2@sha256:f226345927d7e348497136874b6d207e0b32cc52154ad8323129352923a3142f"
TESTING_IMAGE = "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _problems(root: Path, name: str = "testing", rule: str | None = None) -> list[str]:
    [report] = validate.validate([name], root)
    return [f"{p.object}|{p.message}" for p in report.problems if rule is None or p.rule == rule]


def test_the_repository_fits_the_clusters_it_declares() -> None:
    for report in validate.validate():
        assert report.problems == [], validate.format_text([report])


def test_kind_v0_27s_kubernetes_1_32_in_testing_fails_naming_each_component(repo_copy: Path) -> None:
    """What the first real drill would have met: kind v0.27.0's default node, Kubernetes 1.32.2."""
    path = repo_copy / "clusters/testing/environment.yaml"
    _edit(path, "version: 1.36.4", "version: 1.32.2")
    _edit(path, TESTING_IMAGE, KIND_V0_27_DEFAULT)
    found = _problems(repo_copy, rule="compatibility")
    out_of_range = sorted(p.split(" ")[4] for p in found if p.startswith("kubernetes.version|"))
    assert out_of_range == ["CloudNativePG", "Envoy", "Flux", "cert-manager", "external-secrets"]
    assert ("kubernetes.version|Kubernetes 1.32.2 is outside Flux v2.9.4's supported range >= 1.33 "
            "(https://github.com/fluxcd/flux2/blob/v2.9.4/cmd/flux/check.go)") in found
    assert any(p.startswith("kubernetes.version|Kubernetes 1.32.2 is outside CloudNativePG 0.29.0's supported "
                            "range 1.34-1.36") for p in found)
    assert f"kubernetes.nodeImage|{KIND_V0_27_DEFAULT} is not an image built for kind v0.33.0 " \
           "(clusters/kind.yaml)" in found


def test_a_managed_cluster_version_outside_a_range_fails_too(repo_copy: Path) -> None:
    _edit(repo_copy / "clusters/staging/environment.yaml", 'version: "1.36"', 'version: "1.37"')
    found = _problems(repo_copy, "staging", "compatibility")
    assert sorted(p.split(" ")[4] for p in found) == ["CloudNativePG", "Envoy", "cert-manager", "external-secrets"]


def test_a_table_row_must_describe_the_pinned_version(repo_copy: Path) -> None:
    _edit(repo_copy / "platform/controllers/base/cloudnative-pg/release.yaml", "version: 0.29.0", "version: 0.30.0")
    assert ("CloudNativePG|the table describes CloudNativePG 0.29.0, but the repository pins 0.30.0"
            in _problems(repo_copy, rule="compatibility"))


def test_every_row_names_its_upstream_source() -> None:
    table = compatibility.load_table(env.repo_root())
    assert {row.name for row in table} >= {"Flux", "CloudNativePG", "Envoy Gateway", "cert-manager",
                                           "external-secrets", "OpenBao (chart)", "kube-prometheus-stack"}
    for row in table:
        assert row.source.startswith("https://github.com/") and row.says, row.name


def test_a_request_that_overflows_the_runner_fails(repo_copy: Path) -> None:
    _edit(repo_copy / "apps/base/miniflux/deployment.yaml", "requests: {cpu: 20m, memory: 64Mi}",
          "requests: {cpu: 500m, memory: 64Mi}")
    [found] = _problems(repo_copy, rule="capacity")
    assert found.startswith("capacity|requests 2265m CPU / 3.24Gi of capacity 2 CPU / 6.52Gi: DOES NOT FIT; "
                            "pods would stay Pending. Largest: control plane and kube-system (declared: "
                            "capacity.overhead) 950m/290Mi, Deployment feeds/miniflux x1 500m/64Mi")


def test_memory_counts_too_and_replicas_multiply(repo_copy: Path) -> None:
    _edit(repo_copy / "apps/base/miniflux/deployment.yaml", "  replicas: 1", "  replicas: 4")
    _edit(repo_copy / "apps/base/miniflux/deployment.yaml", "requests: {cpu: 20m, memory: 64Mi}",
          "requests: {cpu: 20m, memory: 1Gi}")
    [found] = _problems(repo_copy, rule="capacity")
    assert "requests 1845m CPU / 7.17Gi of capacity 2 CPU / 6.52Gi: DOES NOT FIT" in found


def test_a_chart_value_that_overflows_counts_as_well(repo_copy: Path) -> None:
    _edit(repo_copy / "platform/controllers/base/kube-prometheus-stack/release.yaml",
          "requests: {cpu: 50m, memory: 384Mi}", "requests: {cpu: 300m, memory: 384Mi}")
    [found] = _problems(repo_copy, rule="capacity")
    assert "HelmRelease monitoring/kube-prometheus-stack: prometheus x1 300m/384Mi" in found


def test_a_workload_without_explicit_requests_is_named(repo_copy: Path) -> None:
    _edit(repo_copy / "platform/controllers/base/loki/release.yaml",
          "    lokiCanary:\n      resources:\n        requests: {cpu: 5m, memory: 16Mi}\n",
          "    lokiCanary:\n      resources:\n")
    _edit(repo_copy / "platform/configs/base/gateway/gatewayclass.yaml", "  parametersRef:\n    group: "
          "gateway.envoyproxy.io\n    kind: EnvoyProxy\n    name: proxy\n    namespace: envoy-gateway-system\n", "")
    found = _problems(repo_copy, rule="capacity")
    assert ("HelmRelease logging/loki|chart workload canary (DaemonSet) has no explicit requests in the values"
            in found)
    assert any(p.startswith("Gateway envoy-gateway-system/public|the Envoy proxy of this Gateway has no explicit "
                            "requests (upstream default 100m/512Mi)") for p in found)


def test_an_unknown_chart_cannot_be_counted(repo_copy: Path) -> None:
    _edit(repo_copy / "platform/controllers/base/alloy/release.yaml", "chart: alloy", "chart: alloy-operator")
    assert ("HelmRelease logging/alloy|chart alloy-operator is not in platform/chart-workloads.yaml: its workloads "
            "cannot be counted") in _problems(repo_copy, rule="capacity")


def test_envs_without_capacity_are_not_counted() -> None:
    staging = env.load("staging")
    assert staging.capacity is None and capacity.account(staging, render(staging)) is None


def test_pod_requests_follow_the_scheduler() -> None:
    pod = {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                          {"name": "b", "resources": {"requests": {"cpu": "0.05", "memory": "32Mi"}}}],
           "initContainers": [{"name": "init", "resources": {"requests": {"cpu": "1", "memory": "16Mi"}}},
                              {"name": "sidecar", "restartPolicy": "Always"}]}
    assert capacity.pod_requests(pod) == (1000, 96 * 2 ** 20, ["sidecar"])


def test_an_inner_timeout_longer_than_the_outer_fails(repo_copy: Path) -> None:
    """kube-prometheus-stack had 15m inside platform-controllers' 10m."""
    _edit(repo_copy / "platform/controllers/base/kube-prometheus-stack/release.yaml", "  timeout: 8m",
          "  timeout: 15m")
    assert _problems(repo_copy, rule="timeouts") == [
        "HelmRelease monitoring/kube-prometheus-stack|timeout 15m is longer than Kustomization "
        "platform-controllers's 9m, which waits for it"]


def test_a_release_without_a_timeout_gets_helm_controllers_5m(repo_copy: Path) -> None:
    _edit(repo_copy / "clusters/base/platform-controllers.yaml", "  timeout: 9m", "  timeout: 4m")
    _edit(repo_copy / "clusters/base/apps.yaml", "  timeout: 5m", "  timeout: 10m")
    for name in ("alloy", "barman-cloud", "cert-manager", "cloudnative-pg", "envoy-gateway", "external-secrets",
                 "kube-prometheus-stack", "loki", "openbao"):
        _edit(repo_copy / f"platform/controllers/base/{name}/release.yaml", "  timeout: 8m\n", "")
    found = _problems(repo_copy, rule="timeouts")
    assert len(found) == 9 and all("timeout 5m is longer than Kustomization platform-controllers's 4m" in p
                                   for p in found)


def test_the_chain_of_timeouts_must_fit_the_rto_budget(repo_copy: Path) -> None:
    """The old timeouts: secrets 2m -> platform-controllers 10m -> apps 10m = 22m against 15m."""
    _edit(repo_copy / "clusters/base/secrets.yaml", "  timeout: 1m", "  timeout: 2m")
    _edit(repo_copy / "clusters/base/platform-controllers.yaml", "  timeout: 9m", "  timeout: 10m")
    _edit(repo_copy / "clusters/base/apps.yaml", "  timeout: 5m", "  timeout: 10m")
    assert _problems(repo_copy, rule="timeouts") == [
        "rto.budget|the Kustomization timeouts the rebuild waits on add up to 22m (secrets 2m -> "
        "platform-controllers 10m -> apps 10m), over rto.budget 15m: a rebuild can overrun the budget while every "
        "layer is still within its timeout"]


@pytest.mark.parametrize(("text", "seconds"), [("10m", 600.0), ("1h30m", 5400.0), ("5m0s", 300.0), ("90s", 90.0),
                                               ("1.5h", 5400.0), ("250ms", 0.25)])
def test_go_durations(text: str, seconds: float) -> None:
    assert timeouts.go_duration(text) == seconds


@pytest.mark.parametrize("text", ["10", "10 m", "m10", "1d"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        timeouts.go_duration(text)


@pytest.mark.parametrize(("version", "expected"), [("1.36", (1, 36)), ("1.36.4", (1, 36)), ("v1.36.4+k3s1", (1, 36)),
                                                   ("v1.35.2-eks-1a2b3c", (1, 35))])
def test_kubernetes_minor_versions(version: str, expected: tuple[int, int]) -> None:
    assert compatibility.minor(version) == expected


def test_docs_versions_lists_the_compatibility_table_and_the_kind_pin() -> None:
    text = (env.repo_root() / "docs/versions.md").read_text()
    for row in compatibility.load_table(env.repo_root()):
        shown = "any" if row.low is None and row.high is None else row.range
        assert f"| {row.name} | {row.version} | {shown} | [" in text, row.name
        assert f"]({row.source})" in text, row.source
    pin = compatibility.load_kind_pin(env.repo_root())
    assert f"| kind | {pin.version} |" in text and pin.source in text
    assert env.load("testing").kubernetes.node_image.split("@")[0] in text
