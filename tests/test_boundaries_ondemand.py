"""db.backup's on-demand Backup, against a recording fake Kube on fake time (no cluster): the Backup cattle asks
CloudNativePG for, each phase said once, completed or failed as CNPG reports, and the deadline to the second
(issue 32, mutation survivors of cattle/database/ondemand.py, which no test reached before)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from cattle import console
from cattle.database import ondemand
from cattle.errors import DatabaseError
from cattle.kube import Kube
from tests.conftest import REPO
from tests.waiting import FakeClock


class _Kube:
    """Answers each get with the next of `phases` (the last one for ever) and records what was applied."""

    def __init__(self, clock: FakeClock, phases: list[dict[str, Any] | None]) -> None:
        self.clock, self.phases = clock, phases
        self.applied: list[dict[str, Any]] = []
        self.learned: list[str] = []
        self.gets: list[tuple[str, str, str, str | None, float]] = []

    def learn_flux(self, crds: list[dict[str, Any]]) -> None:
        self.learned += [crd["spec"]["names"]["kind"] for crd in crds]

    def apply(self, obj: dict[str, Any]) -> None:
        self.applied.append(obj)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        self.gets.append((api_version, kind, name, namespace, self.clock.now))
        answer = self.phases.pop(0) if len(self.phases) > 1 else self.phases[0]
        parsed: dict[str, Any] | None = json.loads(json.dumps(answer))  # as the API answers: no interned strings
        return parsed


def _status(phase: str | None, **more: str) -> dict[str, Any]:
    return {"status": {"phase": phase, **more}} if phase is not None else {}


def test_the_backup_asked_for_is_the_plugins_and_each_phase_is_said_once(clock: FakeClock,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    monkeypatch.setattr(console, "say", said.append)
    kube = _Kube(clock, [None, _status("running"), _status("running"), _status("completed")])
    found = ondemand.request_backup(cast(Kube, kube), REPO)
    assert found == _status("completed")
    [backup] = kube.applied
    name = backup["metadata"]["name"]
    assert name.startswith("feeds-db-ondemand-") and len(name) == len("feeds-db-ondemand-") + 14
    assert backup == {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
                      "metadata": {"name": name, "namespace": "feeds"},
                      "spec": {"cluster": {"name": "feeds-db"}, "method": "plugin",
                               "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}}}
    assert kube.learned == ["Backup"]
    assert [g[:4] for g in kube.gets] == [("postgresql.cnpg.io/v1", "Backup", name, "feeds")] * 4
    assert [g[4] for g in kube.gets] == [1000.0, 1002.0, 1004.0, 1006.0]  # every 2 s
    assert said == [f"requested Backup feeds/{name}; waiting for CloudNativePG", f"  Backup {name}: pending",
                    f"  Backup {name}: running", f"  Backup {name}: completed"]


def test_a_failed_backup_is_an_error_with_cnpgs_message(clock: FakeClock) -> None:
    kube = _Kube(clock, [_status("running"), _status("failed", error="no space left")])
    with pytest.raises(DatabaseError) as raised:
        ondemand.request_backup(cast(Kube, kube), REPO)
    assert raised.value.message.endswith(" failed: no space left")
    assert raised.value.hint is not None and raised.value.hint.startswith("kubectl -n feeds describe backup ")
    with pytest.raises(DatabaseError) as raised:
        ondemand.request_backup(cast(Kube, _Kube(clock, [_status("failed")])), REPO)
    assert raised.value.message.endswith(" failed: no message")


def test_a_backup_that_never_completes_fails_at_its_deadline(clock: FakeClock) -> None:
    kube = _Kube(clock, [_status("running")])
    with pytest.raises(DatabaseError, match=r"did not complete within 10s \(phase running\)"):
        ondemand.request_backup(cast(Kube, kube), REPO, timeout=10)
    assert [g[4] for g in kube.gets] == [1000.0, 1002.0, 1004.0, 1006.0, 1008.0]  # none at or past the deadline
    pending = _Kube(clock, [None])
    with pytest.raises(DatabaseError, match=r"\(phase pending\)"):
        ondemand.request_backup(cast(Kube, pending), Path(REPO), timeout=1)


def test_by_default_a_backup_is_waited_for_30_minutes(clock: FakeClock) -> None:
    kube = _Kube(clock, [_status("running")])
    with pytest.raises(DatabaseError, match=r"did not complete within 1800s \(phase running\)"):
        ondemand.request_backup(cast(Kube, kube), REPO)
    assert kube.gets[-1][4] == 1000.0 + 1798
