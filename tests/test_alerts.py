"""Every PrometheusRule in the repository passes `promtool check rules`, and every alert has `promtool test rules`
unit tests whose input series are shaped exactly like the exporters' real output, with the labels the scrape adds.

Where the series come from (upstream sources, read at the pinned versions):
- Barman Cloud plugin metrics (`barman_cloud_cloudnative_pg_io_*`): defined and collected with no labels, value 0
  until a backup exists: cloudnative-pg/plugin-barman-cloud `internal/cnpgi/instance/metrics.go` (v0.13.0); the
  instance manager exports them unchanged (`prometheus.NewConstMetric` with the plugin's FqName, no const labels:
  cloudnative-pg `pkg/management/postgres/metrics/collector.go`, v1.30.0), on every instance.
- `cnpg_pg_stat_archiver_*`: CloudNativePG's default query `pg_stat_archiver` (cloudnative-pg
  `config/manager/default-monitoring.yaml`, v1.30.0): no label columns, -1 until the first archived/failed WAL, run
  only where `NOT pg_is_in_recovery()` (the primary).
- `cnpg_collector_up{cluster=...}`: cloudnative-pg `pkg/management/postgres/webserver/metricserver/pg_collector.go`
  (the one exporter metric with a `cluster` label).
- Target labels: prometheus-operator v0.93.0 `pkg/prometheus/promcfg.go` adds namespace, container, pod,
  job (`<namespace>/<PodMonitor name>`, a ServiceMonitor's: the Service name), endpoint (the port name) and one label
  per `podTargetLabels` entry (sanitized: `cnpg.io/cluster` -> `cnpg_io_cluster`). A Cluster with the deprecated
  `spec.monitoring.enablePodMonitor` gets the operator's PodMonitor instead: named after the Cluster, port
  `metrics`, no relabelling (cloudnative-pg `pkg/specs/podmonitor.go`).
- CNPG instance pods carry `cnpg.io/cluster`, `cnpg.io/instanceName`, `cnpg.io/podRole: instance` and
  `cnpg.io/instanceRole` (cloudnative-pg `pkg/utils/labels_annotations.go`); the container is `postgres`, the
  metrics port `metrics` = 9187 (`pkg/specs/pods.go`, `pkg/management/url/url.go`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from cattle import env
from cattle.database.backups import validation_variables
from cattle.manifests.render import Rendering, render
from tests.conftest import REPO

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian's prometheus package: ./scripts/setup --test)")
OLD_STATE = REPO / "tests/data/old-state"
NAMESPACE, CLUSTER, APP = "feeds", "feeds-db", "miniflux"
CNPG_PODS = {"feeds-db-1": "primary", "feeds-db-2": "replica"}
PLUGIN = "barman_cloud_cloudnative_pg_io_"


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _objects(rendering: Rendering, kind: str) -> list[dict[str, Any]]:
    return [i.obj for i in rendering.objects if i.obj.get("kind") == kind]


def _pod_labels(pod: str, role: str) -> dict[str, str]:
    return {"cnpg.io/cluster": CLUSTER, "cnpg.io/instanceName": pod, "cnpg.io/podRole": "instance",
            "cnpg.io/instanceRole": role, "role": role}


def cnpg_targets(rendering: Rendering, pod: str, role: str) -> list[dict[str, str]]:
    """The target labels of every scrape of one CNPG instance pod (one per PodMonitor that selects it)."""
    labels = _pod_labels(pod, role)
    monitors: list[tuple[str, list[str], str]] = []
    for monitor in _objects(rendering, "PodMonitor"):
        meta, spec = monitor["metadata"], monitor["spec"]
        selected = (spec.get("selector") or {}).get("matchLabels") or {}
        if meta.get("namespace") == NAMESPACE and all(labels.get(k) == v for k, v in selected.items()):
            for endpoint in spec.get("podMetricsEndpoints") or []:
                if endpoint.get("port") == "metrics":
                    monitors.append((meta["name"], list(spec.get("podTargetLabels") or []), "metrics"))
    for cluster in _objects(rendering, "Cluster"):
        if cluster["metadata"]["name"] == CLUSTER and ((cluster["spec"].get("monitoring") or {})
                                                       .get("enablePodMonitor")):
            monitors.append((CLUSTER, [], "metrics"))  # the operator's PodMonitor (pkg/specs/podmonitor.go)
    return [{"namespace": NAMESPACE, "pod": pod, "container": "postgres", "endpoint": port,
             "instance": f"10.244.0.{11 + list(CNPG_PODS).index(pod)}:9187", "job": f"{NAMESPACE}/{name}",
             **{_sanitize(label): labels[label] for label in target_labels if label in labels}}
            for name, target_labels, port in monitors]


def app_targets(rendering: Rendering) -> list[dict[str, str]]:
    """The target labels of miniflux's scrape through its ServiceMonitor (job = the Service's name)."""
    found = []
    for monitor in _objects(rendering, "ServiceMonitor"):
        if monitor["metadata"].get("namespace") == NAMESPACE and monitor["metadata"]["name"] == APP:
            for endpoint in monitor["spec"].get("endpoints") or []:
                found.append({"namespace": NAMESPACE, "service": APP, "pod": f"{APP}-7d9c5b6f4-x2k8p",
                              "container": APP, "endpoint": str(endpoint.get("port")), "job": APP,
                              "instance": "10.244.0.21:8080"})
    return found


def _series(name: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


@dataclass
class Case:
    """One situation and whether an alert fires in it: exporter metrics per pod, evaluated at `at`."""

    alert: str
    why: str
    fires: bool
    at: str
    plugin: dict[str, str] = field(default_factory=dict)  # plugin metric suffix -> promtool values, every instance
    archiver: dict[str, str] = field(default_factory=dict)  # pg_stat_archiver metric -> values, primary only
    collector_up: str | None = None  # cnpg_collector_up values, every instance
    app_up: str | None = None  # up of the miniflux target (None: never scraped)
    labels: dict[str, str] = field(default_factory=dict)  # the alert's labels beside the rule's own

    def input_series(self, rendering: Rendering) -> list[dict[str, str]]:
        series = []
        for pod, role in CNPG_PODS.items():
            for target in cnpg_targets(rendering, pod, role):
                series += [{"series": _series(PLUGIN + metric, target), "values": values}
                           for metric, values in self.plugin.items()]
                if role == "primary":
                    series += [{"series": _series(f"cnpg_pg_stat_archiver_{metric}", target), "values": values}
                               for metric, values in self.archiver.items()]
                if self.collector_up is not None:
                    series.append({"series": _series("cnpg_collector_up", {**target, "cluster": CLUSTER}),
                                   "values": self.collector_up})
        if self.app_up is not None:
            series += [{"series": _series("up", target), "values": self.app_up} for target in app_targets(rendering)]
        return series


HOURS = 60  # samples per hour at a 1m interval
CASES = [
    Case("FeedsDatabaseBackupTooOld", "the newest backup is 30 hours old", True, "30h",
         plugin={"last_available_backup_timestamp": f"1000x{31 * HOURS}",
                 "last_failed_backup_timestamp": f"0x{31 * HOURS}"}),
    Case("FeedsDatabaseBackupTooOld", "a backup 2 hours ago", False, "30h",
         plugin={"last_available_backup_timestamp": f"100000x{31 * HOURS}"}),
    Case("FeedsDatabaseBackupTooOld", "no backup yet is the NeverTaken alert's case", False, "30h",
         plugin={"last_available_backup_timestamp": f"0x{31 * HOURS}"}),
    Case("FeedsDatabaseBackupNeverTaken", "no backup in 7 hours", True, "7h",
         plugin={"last_available_backup_timestamp": f"0x{8 * HOURS}"}),
    Case("FeedsDatabaseBackupNeverTaken", "a backup exists", False, "7h",
         plugin={"last_available_backup_timestamp": f"1000x{8 * HOURS}"}),
    Case("FeedsDatabaseBackupFailed", "the last attempt failed after the last success", True, "1h",
         plugin={"last_available_backup_timestamp": f"1000x{2 * HOURS}",
                 "last_failed_backup_timestamp": f"5000x{2 * HOURS}"}),
    Case("FeedsDatabaseBackupFailed", "never failed", False, "1h",
         plugin={"last_available_backup_timestamp": f"1000x{2 * HOURS}",
                 "last_failed_backup_timestamp": f"0x{2 * HOURS}"}),
    Case("FeedsDatabaseBackupFailed", "a success after the failure", False, "1h",
         plugin={"last_available_backup_timestamp": f"5000x{2 * HOURS}",
                 "last_failed_backup_timestamp": f"1000x{2 * HOURS}"}),
    Case("FeedsDatabaseWALArchivingFailing", "the primary's last archive attempt failed", True, "1h",
         archiver={"last_archived_time": f"1000x{2 * HOURS}", "last_failed_time": f"5000x{2 * HOURS}"},
         labels={"pod": "feeds-db-1"}),
    Case("FeedsDatabaseWALArchivingFailing", "archiving works, never failed", False, "1h",
         archiver={"last_archived_time": f"3000+60x{2 * HOURS}", "last_failed_time": f"-1x{2 * HOURS}"}),
    Case("FeedsDatabaseWALArchivingFailing", "archived again after a failure", False, "1h",
         archiver={"last_archived_time": f"5000x{2 * HOURS}", "last_failed_time": f"1000x{2 * HOURS}"}),
    # absent(x == 1) keeps no labels: the argument is a comparison, not a selector
    Case("MinifluxDown", "the target is down", True, "10m", app_up=f"0x{HOURS}"),
    Case("MinifluxDown", "no target at all", True, "10m"),
    Case("MinifluxDown", "the target is up", False, "10m", app_up=f"1x{HOURS}"),
    Case("FeedsDatabaseDown", "the exporter says PostgreSQL is down", True, "10m", collector_up=f"0x{HOURS}"),
    Case("FeedsDatabaseDown", "no instance is scraped", True, "10m"),
    Case("FeedsDatabaseDown", "PostgreSQL is up", False, "10m", collector_up=f"1x{HOURS}"),
]


def rendered(root: Path, name: str = "testing") -> Rendering:
    environment = env.load(name, root)
    return render(environment, validation_variables(environment.protected))


def prometheus_rules(rendering: Rendering) -> dict[str, dict[str, Any]]:
    """Every PrometheusRule of an environment: 'namespace/name' -> the rules file promtool reads (its spec)."""
    return {f"{r['metadata'].get('namespace')}/{r['metadata']['name']}": {"groups": r["spec"]["groups"]}
            for r in _objects(rendering, "PrometheusRule")}


def _alerts(rules: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for doc in rules.values() for group in doc["groups"] for rule in group["rules"]
            if "alert" in rule}


def _expected(rule: dict[str, Any], case: Case) -> list[dict[str, Any]]:
    if not case.fires:
        return []
    labels = {**(rule.get("labels") or {}), **case.labels}
    annotations = {k: re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), v)
                   for k, v in (rule.get("annotations") or {}).items()}
    return [{"exp_labels": labels, "exp_annotations": annotations}]


def promtool_test(rendering: Rendering, alert: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` of every case of one alert against the environment's rule files that can bear on it: the
    one declaring it and any declaring a recording rule its expression reads (promtool evaluates every loaded rule at
    every step, and kube-prometheus-stack's hundreds of rules cost far more than the alert under test)."""
    rules = prometheus_rules(rendering)
    rule = _alerts(rules).get(alert, {"labels": {}, "annotations": {}})
    expression = str(rule.get("expr", ""))
    tmp.mkdir(parents=True, exist_ok=True)
    files = []
    for index, doc in enumerate(rules.values()):
        declared = {str(r.get("alert") or r.get("record")) for group in doc["groups"] for r in group["rules"]}
        if alert not in declared and not any(re.search(rf"\b{re.escape(name)}\b", expression) for name in declared):
            continue
        path = tmp / f"rules-{index}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        files.append(path.name)
    tests = [{"name": f"{alert}: {case.why}", "interval": "1m", "input_series": case.input_series(rendering),
              "alert_rule_test": [{"eval_time": case.at, "alertname": alert, "exp_alerts": _expected(rule, case)}]}
             for case in CASES if case.alert == alert]
    (tmp / "tests.yaml").write_text(yaml.safe_dump({"rule_files": files, "evaluation_interval": "1m",
                                                    "tests": tests}, sort_keys=False))
    return subprocess.run([str(PROMTOOL), "test", "rules", "tests.yaml"], cwd=tmp, capture_output=True, text=True,
                          check=False, timeout=120)


@pytest.fixture(scope="module")
def renderings() -> dict[str, Rendering]:
    return {name: rendered(REPO, name) for name in env.environment_names(REPO)}


def test_every_alert_has_a_firing_and_a_silent_case(renderings: dict[str, Rendering]) -> None:
    for rendering in renderings.values():
        alerts = set(_alerts(prometheus_rules(rendering)))
        assert alerts, "no PrometheusRule rendered"
        for alert in alerts:
            outcomes = {case.fires for case in CASES if case.alert == alert}
            assert outcomes == {True, False}, f"{alert} needs a case where it fires and one where it stays silent"
        assert {case.alert for case in CASES} <= alerts, "a case tests an alert that no longer exists"


def test_every_prometheus_rule_file_in_git_is_rendered(renderings: dict[str, Rendering]) -> None:
    """The rules tested here are all of them: every PrometheusRule in apps/ and platform/ is rendered somewhere."""
    declared = set()
    for path in [*REPO.glob("apps/**/*.yaml"), *REPO.glob("platform/**/*.yaml")]:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "PrometheusRule":
                declared.add(doc["metadata"]["name"])
    rendered_names = {key.split("/")[1] for r in renderings.values() for key in prometheus_rules(r)}
    assert declared and declared <= rendered_names


@needs_promtool
def test_promtool_check_rules(renderings: dict[str, Rendering], tmp_path: Path) -> None:
    for name, rendering in renderings.items():
        for key, doc in prometheus_rules(rendering).items():
            path = tmp_path / f"{name}-{key.replace('/', '-')}.yaml"
            path.write_text(yaml.safe_dump(doc, sort_keys=False))
            proc = subprocess.run([str(PROMTOOL), "check", "rules", str(path)], capture_output=True, text=True,
                                  check=False, timeout=60)
            assert proc.returncode == 0, f"{name} {key}: {proc.stdout}{proc.stderr}"


def _alert_names() -> Iterator[str]:
    yield from dict.fromkeys(case.alert for case in CASES)


@needs_promtool
@pytest.mark.parametrize("alert", list(_alert_names()))
def test_promtool_unit_tests(renderings: dict[str, Rendering], alert: str, tmp_path: Path) -> None:
    tested: dict[str, str] = {}  # the rules' content -> the first environment that rendered them
    for name, rendering in renderings.items():
        series = [case.input_series(rendering) for case in CASES if case.alert == alert]
        content = yaml.safe_dump([prometheus_rules(rendering), series], sort_keys=True)
        if content in tested:  # the same rules and the same series: promtool would answer the same
            continue
        tested[content] = name
        proc = promtool_test(rendering, alert, tmp_path / name)
        assert proc.returncode == 0, f"{name}: {proc.stdout}{proc.stderr}"
    assert tested


def plant_old_monitoring(root: Path) -> None:
    """The state before issue 15: the backup alerts on labels no series carries, the operator's PodMonitor."""
    shutil.copy(OLD_STATE / "backup-alerts.yaml", root / "apps/base/miniflux/backup-alerts.yaml")
    database = root / "apps/base/miniflux/database.yaml"
    database.write_text(database.read_text().replace("  storage:\n", "  monitoring:\n    enablePodMonitor: true\n"
                                                     "  storage:\n", 1))
    kustomization = root / "apps/base/miniflux/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("  - podmonitor.yaml\n", ""))


@needs_promtool
def test_the_old_backup_alerts_never_fire(repo_copy: Path, tmp_path: Path) -> None:
    """Planted, the old rules pass `promtool check rules` but the unit tests show the four that can never fire."""
    plant_old_monitoring(repo_copy)
    rendering = rendered(repo_copy)
    assert "cnpg_io_cluster" not in str(cnpg_targets(rendering, "feeds-db-1", "primary"))
    failing = {alert for alert in _alert_names() if promtool_test(rendering, alert, tmp_path / alert).returncode}
    assert failing == {"FeedsDatabaseBackupTooOld", "FeedsDatabaseBackupNeverTaken", "FeedsDatabaseBackupFailed",
                       "FeedsDatabaseWALArchivingFailing"}
