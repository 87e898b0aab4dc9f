"""dr.rehearse's decisions on their own, without OpenBao or sops: the snapshot age at its limit, the verdict, the
run record of a machine that could not rehearse, and the order of the checks (issue 32, mutation survivors)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from cattle import console, env
from cattle.dr import history, rehearse
from cattle.errors import CattleError, SecretsError, VaultError
from cattle.secrets import files as secrets
from cattle.secrets import keys, sopsfile
from cattle.vault import restore as vaultdrill
from cattle.vault import snapshots


@dataclass
class _Manifest:
    id: str
    age_seconds: float


def _age_detail(monkeypatch: pytest.MonkeyPatch, seconds: float) -> tuple[bool, str]:
    monkeypatch.setattr(snapshots, "find", lambda store, name: _Manifest("20261201T000000-ab", seconds))
    monkeypatch.setattr(vaultdrill, "store_for", lambda environment: None)
    result = rehearse.Rehearsal("testing")
    rehearse._check(result, "recent Vault snapshot",
                    lambda: rehearse._snapshot_age(env.load("testing", Path(__file__).parent.parent)))
    [finding] = result.findings
    return finding.ok, finding.detail


def test_a_snapshot_exactly_at_the_limit_is_recent_and_one_second_past_it_is_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ok, detail = _age_detail(monkeypatch, 26 * 3600)
    assert ok and detail.startswith("latest snapshot 20261201T000000-ab is 26.0h old ("), detail
    ok, detail = _age_detail(monkeypatch, 26 * 3600 + 1)
    assert not ok
    assert detail == ("the latest Vault snapshot 20261201T000000-ab is 26.0h old (limit 26h) — check the "
                      "openbao-backup CronJob; take one now: ./scripts/cattle vault.backup --env testing")
    ok, detail = _age_detail(monkeypatch, 90 * 60)  # 1.5 h: hours, not minutes or days
    assert ok and " is 1.5h old (" in detail, detail


def test_a_check_records_its_detail_with_its_duration_and_an_error_with_its_hint(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = itertools.count(1.0, 2.5)  # every reading 2.5 s after the one before, soon after boot
    monkeypatch.setattr(time, "monotonic", lambda: next(ticks))
    result = rehearse.Rehearsal("testing")
    rehearse._check(result, "tools", lambda: "kubectl 1.31")
    assert result.findings == [rehearse.Finding("tools", True, "kubectl 1.31 (2.5s)")]

    def fails(hint: str | None) -> Callable[[], str]:
        def action() -> str:
            raise VaultError("first line\nsecond line", hint)
        return action

    rehearse._check(result, "with hint", fails("do this"))
    rehearse._check(result, "without hint", fails(None))
    assert result.findings[1:] == [rehearse.Finding("with hint", False, "first line — do this"),
                                   rehearse.Finding("without hint", False, "first line")]


def _rehearsal(*outcomes: tuple[str, bool]) -> rehearse.Rehearsal:
    return rehearse.Rehearsal("testing", [rehearse.Finding(name, ok, f"{name} detail") for name, ok in outcomes],
                              started=1000.0)


def test_ready_only_when_every_check_passed_and_the_verdict_names_every_failed_one() -> None:
    ready = _rehearsal(("tools", True), ("manifests validate", True))
    assert ready.ready
    assert ready.render() == "✓ tools: tools detail\n✓ manifests validate: manifests validate detail\n\ntesting: READY"
    one_failed = _rehearsal(("tools", True), ("manifests validate", False), ("recent Vault snapshot", False))
    assert not one_failed.ready
    assert one_failed.render().splitlines() == [
        "✓ tools: tools detail", "✗ manifests validate: manifests validate detail",
        "✗ recent Vault snapshot: recent Vault snapshot detail", "",
        "testing: NOT READY (manifests validate, recent Vault snapshot: see ✗ above)"]
    assert not _rehearsal(("recent Vault snapshot", False), ("tools", True)).ready


def test_the_run_record_is_ready_not_ready_or_not_run_by_which_checks_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 1060.0)
    ready = _rehearsal(("tools", True)).as_record()
    assert ready == {"kind": "rehearsal", "env": "testing", "started": 1000.0, "finished": 1060.0, "result": "ready",
                     "detail": "every check passed",
                     "checks": [{"check": "tools", "ok": True, "detail": "tools detail"}]}
    not_ready = _rehearsal(("tools", True), ("manifests validate", False), ("Vault snapshot restores", False))
    record = not_ready.as_record()
    assert (record["result"], record["detail"]) == ("not ready",
                                                    "failed: manifests validate, Vault snapshot restores")
    assert record["checks"][1] == {"check": "manifests validate", "ok": False, "detail": "manifests validate detail"}
    for prerequisite in rehearse.PREREQUISITES:  # either one alone: this machine could not rehearse
        record = _rehearsal(("manifests validate", False), (prerequisite, False)).as_record()
        assert record["result"] == history.NOT_RUN
        assert record["detail"] == history.stopped_at_preflight(
            f"this machine is not set up to rehearse ({prerequisite} failed), so no backup was restored")


def test_every_check_runs_in_order_even_after_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing() -> str:
        raise CattleError("no tools")

    monkeypatch.setattr(rehearse, "_tools", failing)
    for name in ("_secrets", "_manifests", "_snapshot_age", "_restore"):
        monkeypatch.setattr(rehearse, name, lambda environment, name=name: f"{name} ok")
    said: list[str] = []
    monkeypatch.setattr(console, "say", said.append)
    result = rehearse.rehearse(env.load("testing", Path(__file__).parent.parent))
    assert [(f.check, f.ok) for f in result.findings] == [
        ("tools", False), ("secrets decrypt", True), ("manifests validate", True), ("recent Vault snapshot", True),
        ("Vault snapshot restores", True)]
    assert said == [f"checking: {f.check}" for f in result.findings]
    assert result.findings[3].detail.startswith("_snapshot_age ok (")


def test_one_secret_file_that_does_not_decrypt_fails_the_secrets_check(monkeypatch: pytest.MonkeyPatch) -> None:
    identity = keys.Identity("AGE-SECRET-KEY-1X", "age1x", "the key file")
    files = [Path("secrets/testing/a.secret.yaml"), Path("secrets/testing/b.secret.yaml")]
    pending = keys.Identity("AGE-SECRET-KEY-1Y", "age1y", "the pending rotation's key file")
    monkeypatch.setattr(keys, "candidate_identities", lambda env: [identity, pending])  # named by the first
    monkeypatch.setattr(secrets, "secret_files", lambda root, env: files)
    answers: dict[Path, bytes | SecretsError] = {files[0]: b"plain", files[1]: b"plain"}
    monkeypatch.setattr(sopsfile, "decrypt_all", lambda root, relpaths, identities: answers)
    testing = env.load("testing", Path(__file__).parent.parent)
    assert rehearse._secrets(testing) == "2 secret files decrypt with the key file"
    answers[files[1]] = SecretsError("b.secret.yaml: MAC mismatch", "restore it from git")
    result = rehearse.Rehearsal("testing")
    rehearse._check(result, "secrets decrypt", lambda: rehearse._secrets(testing))
    assert result.findings == [rehearse.Finding("secrets decrypt", False,
                                                "b.secret.yaml: MAC mismatch — restore it from git")]
    monkeypatch.setattr(keys, "candidate_identities", lambda env: [])
    with pytest.raises(SecretsError, match="no age key for environment 'testing'"):
        rehearse._secrets(testing)
