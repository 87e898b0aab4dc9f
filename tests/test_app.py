"""miniflux as it really behaves (miniflux/v2 at v2.2.13, the pinned image): probes on the right endpoints, /metrics
kept inside the cluster, migrations run once. Each test also plants the state before issue 15 and sees it fail.

Upstream facts used (miniflux/v2 v2.2.13):
- internal/http/server/httpd.go: /liveness and /healthz answer "OK" without touching the database; /readiness,
  /readyz and /healthcheck ping it (503 on a database error). /metrics is refused unless the TCP peer address
  (`request.FindRemoteIP`, not X-Forwarded-For) is inside METRICS_ALLOWED_NETWORKS.
- internal/cli/cli.go: `-migrate` runs the migrations and exits; the daemon runs them at start only with
  RUN_MIGRATIONS=1, without any lock, then exits if the schema is not current (IsSchemaUpToDate).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from cattle import env
from cattle.database.backups import validation_variables
from cattle.manifests import validate
from cattle.manifests.exposure import serving_rule
from cattle.manifests.render import Rendering, render
from tests.conftest import REPO

DATABASE_PINGING = {"/healthcheck", "/readiness", "/readyz"}
PROCESS_ONLY = {"/liveness", "/healthz"}


def _render(name: str, root: Path = REPO) -> Rendering:
    environment = env.load(name, root)
    return render(environment, validation_variables(environment.protected))


def _find(rendering: Rendering, kind: str, name: str) -> dict[str, Any]:
    [obj] = [i.obj for i in rendering.objects if i.obj.get("kind") == kind and i.obj["metadata"]["name"] == name]
    return obj


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    return containers[0]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: str(e.get("value")) for e in container.get("env") or [] if "value" in e}


@pytest.fixture(scope="module")
def renderings() -> dict[str, Rendering]:
    return {name: _render(name) for name in ("testing", "staging", "production")}


def liveness_problems(rendering: Rendering) -> list[str]:
    container = _container(_find(rendering, "Deployment", "miniflux"))
    found = []
    for probe in ("livenessProbe", "startupProbe"):
        path = container[probe]["httpGet"]["path"]
        if path not in PROCESS_ONLY:
            found.append(f"{probe} {path} pings the database: an outage becomes a restart loop")
    if container["readinessProbe"]["httpGet"]["path"] not in DATABASE_PINGING | PROCESS_ONLY:
        found.append("readinessProbe is not a miniflux health endpoint")
    return found


def test_liveness_does_not_depend_on_the_database(renderings: dict[str, Rendering]) -> None:
    for rendering in renderings.values():
        assert liveness_problems(rendering) == []


def metrics_problems(rendering: Rendering) -> list[str]:
    container = _container(_find(rendering, "Deployment", "miniflux"))
    found = []
    for cidr in _env(container).get("METRICS_ALLOWED_NETWORKS", "127.0.0.1/8").split(","):
        network = ipaddress.ip_network(cidr.strip(), strict=False)
        if network.prefixlen == 0 or network.is_global:
            found.append(f"METRICS_ALLOWED_NETWORKS {cidr} lets any address read /metrics")
    route = _find(rendering, "HTTPRoute", "miniflux")
    for path in ("/metrics", "/metrics/"):
        rule = serving_rule(route, path)
        if rule and rule.get("backendRefs"):
            found.append(f"the public route forwards {path} to the app")
    return found


def test_metrics_stay_inside_the_cluster(renderings: dict[str, Rendering]) -> None:
    for rendering in renderings.values():
        assert metrics_problems(rendering) == []
        route = _find(rendering, "HTTPRoute", "miniflux")
        assert serving_rule(route, "/")["backendRefs"][0]["name"] == "miniflux"  # the app itself is still served
        assert serving_rule(route, "/metricsfoo")["backendRefs"][0]["name"] == "miniflux"  # element-wise prefix


def migration_problems(rendering: Rendering) -> list[str]:
    deployment = _find(rendering, "Deployment", "miniflux")
    container = _container(deployment)
    found = []
    if _env(container).get("RUN_MIGRATIONS") in ("1", "true"):
        found.append(f"{deployment['spec'].get('replicas', 1)} replica(s) run migrations at start, without a lock")
    jobs = [i.obj for i in rendering.objects if i.obj.get("kind") == "Job"
            and "-migrate" in _container(i.obj).get("command", []) + _container(i.obj).get("args", [])]
    if len(jobs) != 1:
        return [*found, "no Job runs `miniflux -migrate`"]
    [job] = jobs
    if _container(job)["image"] != container["image"]:
        found.append("the migration Job runs another image than the Deployment")
    spec = job["spec"]
    if spec.get("parallelism", 1) != 1 or spec.get("podReplacementPolicy") != "Failed":
        found.append("the migration Job could run two pods at once")
    if (job["metadata"].get("annotations") or {}).get("kustomize.toolkit.fluxcd.io/force") != "enabled":
        found.append("Flux cannot replace the (immutable) Job when the image changes")
    return found


def test_migrations_run_once(renderings: dict[str, Rendering]) -> None:
    for rendering in renderings.values():
        assert migration_problems(rendering) == []
    assert _find(renderings["production"], "Deployment", "miniflux")["spec"]["replicas"] == 2


def _plant_old_app(root: Path) -> None:
    """The Deployment and route before issue 15 (commit a6fc5ef)."""
    for name in ("deployment.yaml", "route.yaml"):
        (root / "apps/base/miniflux" / name).write_text((REPO / "tests/data/old-state" / f"miniflux-{name}")
                                                        .read_text())
    kustomization = root / "apps/base/miniflux/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("  - migrate.yaml\n", ""))


def test_the_old_app_fails_each_check(repo_copy: Path) -> None:
    _plant_old_app(repo_copy)
    production = _render("production", repo_copy)
    assert liveness_problems(production) == [
        "livenessProbe /healthcheck pings the database: an outage becomes a restart loop",
        "startupProbe /healthcheck pings the database: an outage becomes a restart loop"]
    assert metrics_problems(production) == ["METRICS_ALLOWED_NETWORKS 0.0.0.0/0 lets any address read /metrics",
                                            "the public route forwards /metrics to the app",
                                            "the public route forwards /metrics/ to the app"]
    assert migration_problems(production) == ["2 replica(s) run migrations at start, without a lock",
                                              "no Job runs `miniflux -migrate`"]


def test_validate_fails_a_route_that_forwards_metrics(repo_copy: Path) -> None:
    """The generic rule (exposure): any HTTPRoute forwarding a ServiceMonitor's path to its Service."""
    _plant_old_app(repo_copy)
    [report] = validate.validate(["testing"], repo_copy)
    assert [f"{p.rule}|{p.file}|{p.object}" for p in report.problems] == [
        "exposure|apps/base/miniflux/route.yaml|HTTPRoute feeds/miniflux"]
    assert "forwards /metrics to Service feeds/miniflux, which ServiceMonitor miniflux scrapes" in \
        report.problems[0].message
