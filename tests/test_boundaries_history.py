"""Run records at their edges, in throwaway git repositories: each thing a record can lack named on its own, a
start time equal to two decimals as one run, a drill replacing its bootstrap timeline and never the other way,
the history branch written once and again without a new commit, and what a block's error makes of its record
(issue 32, mutation survivors of cattle/dr/history.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cattle import console
from cattle.dr import history
from cattle.errors import CattleError, PreflightError, VaultError

STARTED = 1764800000.0  # 2025-12-03T22:13:20Z


def _record(kind: str = "rehearsal", env: Any = "testing", started: Any = STARTED, **more: Any) -> dict[str, Any]:
    return {"kind": kind, "env": env, "started": started, "result": "ready", **more}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    return root


@pytest.mark.parametrize(("record", "problem"), [
    (_record(kind="drills"), "kind 'drills' is not one of drill, bootstrap, rehearsal, db-verify, audit, coldstart"),
    ({"env": "testing", "started": STARTED, "result": "ok"}, "kind '(none)' is not one of"),
    (_record(env="Testing"), "no environment name (env)"),
    (_record(env="1st"), "no environment name (env)"),
    (_record(env=7), "no environment name (env)"),
    (_record(started="yesterday"), "no start time (started, seconds since the epoch)"),
    (_record(started=True), "no start time (started, seconds since the epoch)"),
    (_record(kind="drill"), "no events (a timeline record)"),
    (_record(kind="coldstart"), "no events (a timeline record)"),
    (_record(result=None), "no result"),
])
def test_each_thing_a_record_lacks_is_named(record: dict[str, Any], problem: str) -> None:
    with pytest.raises(history.HistoryError) as raised:
        history.checked(record, "where")
    assert raised.value.message.startswith(f"where: not a run record: {problem}")
    assert "; " not in raised.value.message.removeprefix("where: not a run record: ")


def test_a_good_record_is_checked_and_an_old_timeline_is_a_bootstrap() -> None:
    assert history.checked(_record(started=7), "x")["kind"] == "rehearsal"
    old = {"env": "testing", "started": STARTED, "result": "ok", "events": []}
    assert history.checked(old, "x")["kind"] == "bootstrap"
    with pytest.raises(history.HistoryError, match=r"^x: not a run record \(a JSON object\)"):
        history.checked([old], "x")
    several = {"kind": "drill", "env": "", "started": None, "result": 1}
    with pytest.raises(history.HistoryError) as raised:
        history.checked(several, "x")
    assert raised.value.message.count("; ") == 3


def test_names_of_a_record_on_the_branch_and_here() -> None:
    assert history.stamp(STARTED) == "20251203T221320Z"
    assert history.branch_path(_record()) == "testing/rehearsal-20251203T221320Z.json"
    assert history.local_name(_record()) == "testing-rehearsal-20251203T221320Z.json"
    assert history.local_name(_record(kind="drill")) == "testing-20251203T221320Z.json"
    assert history.local_name(_record(kind="bootstrap")) == "testing-20251203T221320Z.json"


def test_a_record_outside_a_git_repository_is_kept_here_and_says_why(tmp_path: Path) -> None:
    saved = history.save(tmp_path, _record())
    assert saved.local == tmp_path / ".cattle" / "runs" / "testing-rehearsal-20251203T221320Z.json"
    assert json.loads(saved.local.read_text())["kind"] == "rehearsal"
    assert saved.commit is None
    assert saved.describe() == (f"run record: {saved.local}; not on branch cattle-runs: {tmp_path} is not the top of "
                                "a git repository")
    inner = tmp_path / "inner"
    inner.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert history.save(inner, _record()).commit is None  # never written into an enclosing repository


def test_the_branch_is_written_once_and_a_record_already_there_makes_no_commit(repo: Path) -> None:
    first = history.save(repo, _record())
    assert first.commit is not None
    assert first.describe() == (f"run record: {first.local}; committed to branch cattle-runs ({first.commit[:10]}; "
                                "share it: git push origin cattle-runs)")
    assert history.save(repo, _record()).commit == first.commit
    second = history.save(repo, _record(started=STARTED + 60))
    assert second.commit != first.commit
    parents = subprocess.run(["git", "rev-list", "--parents", "-n", "1", "cattle-runs"], cwd=repo,
                             capture_output=True, text=True, check=True).stdout.split()
    assert parents == [second.commit, first.commit]
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout == "?? .cattle/\n"  # the index and HEAD untouched


def test_a_run_equal_to_two_decimals_is_one_run_and_a_drill_replaces_its_bootstrap(repo: Path, tmp_path: Path) -> None:
    history.save(repo, _record(kind="bootstrap", events=[], result="ok"))
    runs = tmp_path / "runs"
    runs.mkdir()
    for n, record in enumerate([_record(kind="drill", started=STARTED + 0.004, events=[], result="ok"),
                                _record(kind="bootstrap", started=STARTED + 0.001, events=[], result="failed"),
                                _record(kind="rehearsal", started=STARTED + 0.001),
                                _record(kind="rehearsal", started=STARTED + 0.004),
                                _record(kind="rehearsal", started=STARTED + 0.01)]):
        (runs / f"{n}.json").write_text(json.dumps(record))
    loaded = history.load(repo, (runs,))
    assert [(r["kind"], r["started"]) for r in loaded.records] == [
        ("rehearsal", STARTED + 0.001), ("drill", STARTED + 0.004), ("rehearsal", STARTED + 0.01)]
    assert loaded.records[1]["source"] == str(runs / "0.json")
    assert loaded.problems == ()
    commit = history.resolve(repo, history.REFS[0])
    assert commit is not None
    assert loaded.sources[0] == f"branch cattle-runs (commit {commit[:10]}): 1 records"


def test_what_cannot_be_read_is_a_problem_not_a_record(repo: Path, tmp_path: Path) -> None:
    extra = tmp_path / "downloaded"
    extra.mkdir()
    (extra / "broken.json").write_text("{")
    (extra / "not-a-record.json").write_text("[]")
    (extra / "good.json").write_text(json.dumps(_record()))
    loaded = history.load(repo, (extra, tmp_path / "absent"))
    assert [r["kind"] for r in loaded.records] == ["rehearsal"]
    assert loaded.problems[0].startswith(f"{extra / 'broken.json'}: not JSON (")
    assert loaded.problems[1] == f"{extra / 'not-a-record.json'}: not a run record (a JSON object)"
    assert loaded.sources[0].startswith(f"no history branch cattle-runs in {repo}")
    assert loaded.sources[-2:] == (f"{extra}: 3 records", f"{tmp_path / 'absent'}: not there")
    assert history.load(tmp_path / "absent").sources[0].endswith("is not a git repository: no history branch read")


def test_importing_names_at_most_five_bad_files_and_refuses_an_empty_directory(repo: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for n in range(6):
        (bad / f"{n}.json").write_text("{}" if n % 2 else "not json")
    with pytest.raises(history.HistoryError) as raised:
        history.import_directory(repo, bad)
    assert raised.value.message.startswith(f"6 file(s) under {bad} are not run records: ")
    assert raised.value.message.count(str(bad)) == 1 + 5
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(history.HistoryError, match="no run record under"):
        history.import_directory(repo, empty)
    good = tmp_path / "good"
    good.mkdir()
    (good / "a.json").write_text(json.dumps({**_record(), "source": "somewhere"}))
    commit, paths = history.import_directory(repo, good)
    assert paths == ["testing/rehearsal-20251203T221320Z.json"]
    shown = subprocess.run(["git", "show", f"{commit}:{paths[0]}"], cwd=repo, capture_output=True, text=True,
                           check=True).stdout
    assert "source" not in json.loads(shown)
    with pytest.raises(history.HistoryError, match="is not the top of a git repository"):
        history.import_directory(tmp_path / "good", good)


def test_a_blocks_error_makes_its_record_failed_or_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    monkeypatch.setattr(console, "say", said.append)

    def run(error: BaseException | None, stage: str | None = None) -> dict[str, Any]:
        kept: dict[str, Any] = {}
        try:
            with history.recording(tmp_path, "db-verify", "testing", store="s3://b") as record:
                kept = record
                if stage:
                    record["stage"] = stage
                if error:
                    raise error
        except (CattleError, KeyboardInterrupt):
            pass
        return kept

    ok = run(None)
    assert (ok["result"], ok["store"]) == ("ok", "s3://b") and ok["finished"] >= ok["started"]
    failed = run(VaultError("first line " + "x" * 400 + "\nsecond"))
    assert failed["result"] == "failed" and failed["detail"] == ("first line " + "x" * 400)[:300]
    refused = run(PreflightError("no key"))
    assert (refused["result"], refused["detail"]) == (history.NOT_RUN, history.stopped_at_preflight("no key"))
    early = run(VaultError("store unreachable"), stage=history.PREFLIGHT)
    assert early["result"] == history.NOT_RUN and "stage" not in early
    later = run(VaultError("restore failed"), stage="restore")
    assert later["result"] == "failed"
    cut = run(KeyboardInterrupt())
    assert (cut["result"], cut["detail"]) == ("failed", "interrupted")
    assert len(said) == 6 and all(line.startswith("run record: ") for line in said)
    assert history.stopped_at_preflight("a\nb") == "stopped at preflight, nothing was changed: a"
    assert len(history.stopped_at_preflight("y" * 400)) == len("stopped at preflight, nothing was changed: ") + 250
