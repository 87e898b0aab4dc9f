"""Fixture run records for the report tests, made with the real classes that write them (Timeline + drill.record,
rehearse.Rehearsal.as_record, the db.verify record of history.recording).

`python -m tests.reportdata` rewrites tests/data/report/; tests/test_report.py checks the files there are exactly
what this module makes, so the fixtures cannot drift from what cattle writes.

The story they tell (now = NOW, a Tuesday): testing is drilled every Monday (five drills: within budget, within,
over budget, failed, within; generation 1's bootstrap of the last drill is there too), staging and production are
never drilled but their real backups were rehearsed on the last Monday (production's Vault snapshot was too old);
testing's last audit found a hand-made CronJob and a hand-scaled Deployment, staging's found nothing.
"""

from __future__ import annotations

import calendar
import json
import time
from pathlib import Path
from typing import Any

from cattle.audit import findings
from cattle.audit import run as audit_run
from cattle.audit.findings import Finding as Finding_
from cattle.bootstrap.imagepulls import Pull
from cattle.bootstrap.timeline import Timeline
from cattle.dr import drill, history
from cattle.dr.rehearse import Finding, Rehearsal

DATA = Path(__file__).parent / "data" / "report"
BUDGET = 900.0


def at(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


NOW = at("2026-11-24T06:00:00Z")

# (phase, start, end, status, detail, waiting) in seconds after the start; the shape of a real generation 2
PHASES: list[tuple[str, float, float, str, str, bool]] = [
    ("preflight", 0, 4, "ok", "31 steps will act", False),
    ("secrets: age key", 4, 5, "ok", "$CATTLE_AGE_KEY_TESTING", False),
    ("cluster", 5, 48, "ok", "created", True),
    ("flux", 48, 95, "ok", "32 objects", True),
    ("secrets", 95, 96, "ok", "sops-age", False),
    ("database", 96, 98, "ok", "recovery from g4", False),
    ("sync", 98, 99, "ok", "http://172.18.0.1:8480/cattle.git @ main", False),
    ("reconcile", 99, 540, "ok", "24 objects Ready", True),
    ("restore", 300, 350, "ok", "snapshot 20261123T041700.000000Z-a1b2c3 restored", True),
    ("reconcile secrets", 100, 130, "ok", "", True),
    ("reconcile platform-controllers", 130, 400, "ok", "", True),
    ("reconcile platform-configs", 400, 470, "ok", "", True),
    ("reconcile apps", 400, 540, "ok", "", True),
    ("image pulls", 110, 360, "ok", "8 images pulled (1.31Gi) in 231s", True),
    ("verify", 540, 552, "ok", "24 Flux objects Ready", False),
    ("smoke: app through the ingress", 552, 560, "ok", "https://feeds.testing.cattle.localhost/healthz 200", False),
    ("smoke: canary row", 560, 561, "ok", "category restored", False),
    ("smoke: Vault canary", 561, 563, "ok", "drill/canary restored", False),
    ("smoke: Prometheus scrapes the app", 563, 600, "ok", 'up{job="miniflux"} == 1', True),
    ("smoke: Loki has the app's logs", 600, 640, "ok", '{namespace="feeds"} has lines', True),
]
IMAGES = [("ghcr.io/fluxcd/helm-controller:v1.4.4", 9.1, 180_000_000), ("quay.io/prometheus/prometheus:v3.7.3", 31.5,
          310_000_000), ("docker.io/grafana/loki:3.5.7", 28.2, 270_000_000), ("quay.io/openbao/openbao:2.6.2", 12.4,
          150_000_000), ("ghcr.io/cloudnative-pg/postgresql:17.6", 40.3, 260_000_000),
          ("docker.io/envoyproxy/envoy:distroless-v1.36.2", 14.8, 90_000_000),
          ("ghcr.io/miniflux/miniflux:2.2.13", 6.0, 40_000_000), ("docker.io/grafana/alloy:v1.11.3", 18.9, 130_000_000)]


def timeline(env: str, started: float, scale: float = 1.0, failed_at: float | None = None,
             pulls: bool = False) -> Timeline:
    """A generation-2 timeline with every phase stretched by `scale`; `failed_at` cuts it off there."""
    line = Timeline(env, started=started)
    for name, start, end, status, detail, waiting in PHASES:
        start, end = start * scale, end * scale
        if failed_at is not None and start >= failed_at:
            continue
        if failed_at is not None and end > failed_at:
            end, status = failed_at, "failed"
            detail = "Kustomization flux-system/apps: HelmRelease feeds/miniflux install failed" \
                if name.startswith("reconcile") else detail
        line.record(name, started + start, started + end, status, detail)
        line.events[-1].waiting = waiting
    line.result = "failed" if failed_at is not None else "ok"
    line.critical_path = ["secrets", "platform-controllers", "apps"]
    if pulls:
        clock = started + 110
        for image, seconds, size in IMAGES:
            line.pulls.append(Pull(image, seconds, round(seconds + (clock - started - 110) / 4, 1), size, clock,
                                   clock + seconds).as_dict())
            clock += seconds
        line.pulls.append(Pull("registry.k8s.io/pause:3.10", 0.0, 0.0, None, None, started + 112,
                               cached=True).as_dict())
    return line


def drill_record(started: str, rto: float, failed_at: float | None = None, pulls: bool = False) -> dict[str, Any]:
    scale = (failed_at or rto) / 552.0 if failed_at is None else 1.0
    line = timeline("testing", at(started), scale=scale, failed_at=failed_at, pulls=pulls)
    return drill.record(line, rto if failed_at is None else failed_at, BUDGET)


def rehearsal(env: str, started: str, snapshot_hours: float) -> dict[str, Any]:
    ok = snapshot_hours <= 26
    findings = [Finding("tools", True, "kubectl 1.37.1, sops 3.11.0, bao 2.6.2, git 2.39.5 (0.4s)"),
                Finding("secrets decrypt", True, f"7 secret files decrypt with $CATTLE_AGE_KEY_{env.upper()} (2.1s)"),
                Finding("manifests validate", True, "412 objects valid (38.0s)")]
    if ok:
        findings.append(Finding("recent Vault snapshot", True, f"latest snapshot is {snapshot_hours:.1f}h old (0.3s)"))
    else:
        findings.append(Finding("recent Vault snapshot", False, f"the latest Vault snapshot 20261122T021700.000000Z-"
                                f"9f8e7d is {snapshot_hours:.1f}h old (limit 26h) — check the openbao-backup CronJob"))
    findings.append(Finding("Vault snapshot restores", True, "snapshot restored and unsealed, canary present (14.2s)"))
    record = Rehearsal(env, findings, started=at(started)).as_record()
    return {**record, "finished": at(started) + 57}


def db_verify(env: str, started: str, backup: str, wal_files: int) -> dict[str, Any]:
    """What `db.verify` records (tasks.py: history.recording + the report's facts)."""
    return {"kind": "db-verify", "env": env, "started": at(started), "result": "ok",
            "store": f"s3://cattle-backups/{env}/postgres", "generation": 3, "backup_id": backup,
            "wal_files": wal_files, "seconds": 48.3, "finished": at(started) + 48.3,
            "detail": f"g3 base backup {backup} restored and replayed {wal_files} WAL files in 48s"}


def audit_record(env: str, started: str, lost: bool) -> dict[str, Any]:
    """What `cattle audit` records (cattle.audit.run.record of an Audit)."""
    found = [Finding_("CronJob", findings.NOT_IN_GIT, "feeds", "for-now",
                      "not in git and owned by nothing git declares (written by kubectl-create)", findings.ADD_TO_GIT),
             Finding_("Deployment", findings.HAND_EDIT, "logging", "loki", "set to 2 by kubectl (Update scale); "
                      "HelmRelease logging/loki restores the chart's value", findings.REVERT, "spec.replicas")]
    result = findings.Audit(env, f"cattle-{env}", "main@sha1:1d2c3b4a", found if lost else [], objects_read=412)
    return {**audit_run.record(result, at(started)), "finished": at(started) + 4.2}


def records() -> dict[str, dict[str, Any]]:
    """The branch records (file name → record); the bootstrap of generation 1 lives in .cattle/runs only."""
    found = [drill_record("2026-10-26T04:23:00Z", 520), drill_record("2026-11-02T04:23:00Z", 595),
             drill_record("2026-11-09T04:23:00Z", 980), drill_record("2026-11-16T04:23:00Z", 0, failed_at=362),
             drill_record("2026-11-23T04:23:00Z", 552, pulls=True),
             rehearsal("staging", "2026-11-23T04:40:00Z", 5.5), db_verify("staging", "2026-11-23T04:45:00Z",
                                                                          "20261123T031500", 96),
             rehearsal("production", "2026-11-23T04:41:00Z", 30.2), db_verify("production", "2026-11-23T04:46:00Z",
                                                                              "20261123T031502", 212),
             audit_record("testing", "2026-11-23T05:00:00Z", lost=True),
             audit_record("staging", "2026-11-23T05:01:00Z", lost=False)]
    return {history.local_name(history.checked(r, "fixture")): r for r in found}


def generation_one() -> dict[str, Any]:
    """The bootstrap timeline generation 1 of the last drill left in .cattle/runs (kind bootstrap, no kind key)."""
    return timeline("testing", at("2026-11-23T04:05:00Z"), scale=1.1).as_dict()


def write(directory: Path = DATA) -> None:
    (directory / "branch").mkdir(parents=True, exist_ok=True)
    for name, record in records().items():
        (directory / "branch" / name).write_text(json.dumps(record, indent=2) + "\n")
    (directory / "local").mkdir(exist_ok=True)
    (directory / "local" / "testing-20261123T040500Z.json").write_text(json.dumps(generation_one(), indent=2) + "\n")


if __name__ == "__main__":
    write()
