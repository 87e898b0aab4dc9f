"""The run report's arithmetic: the RTO, and cattle's own overhead when waiting phases overlap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cattle.bootstrap.timeline import Timeline


def test_overhead_counts_overlapping_waits_once() -> None:
    timeline = Timeline("testing", started=1000.0)
    timeline.record("preflight work", 1000.0, 1010.0, "ok")
    timeline.events[-1].waiting = False  # cattle's own work: 10 s
    timeline.record("reconcile", 1010.0, 1110.0, "ok")  # waiting on Flux: 100 s
    timeline.record("reconcile apps", 1020.0, 1100.0, "ok")  # inside the reconcile
    timeline.record("restore", 1050.0, 1080.0, "ok")  # the Vault phase, run while Flux reconciles
    timeline.record("verify work", 1110.0, 1115.0, "ok")
    timeline.events[-1].waiting = False  # 5 s more of cattle's own work
    assert timeline.total == 115.0
    assert timeline.waiting_seconds == 100.0
    report = json.loads(json.dumps(timeline.as_dict()))
    assert report["rto_seconds"] == 115.0 and report["toolchain_overhead_seconds"] == 15.0
    assert "toolchain overhead (time not spent waiting on the cluster): 15.0s" in timeline.render()


def _fixed() -> Timeline:
    timeline = Timeline("staging", started=1000.0)
    timeline.record("preflight", 1000.0, 1002.5, "ok", "3 steps will act")
    timeline.record("cluster: create", 1002.5, 1002.9, "ok", "x" * 80)  # shorter than a second; long detail
    timeline.record("reconcile", 1002.9, 1100.0, "failed", "apps: Stalled")
    timeline.critical_path = ["secrets", "platform-controllers", "apps"]
    timeline.result = "failed"
    timeline.pulls = [{"image": f"img{i}", "seconds": float(i), "with_waiting": float(10 - i), "cached": False}
                      for i in range(1, 7)] + [{"image": "cached", "seconds": 99.0, "with_waiting": 99.0,
                                                "cached": True}]
    return timeline


def test_the_report_an_operator_reads_is_exact() -> None:
    assert _fixed().render().splitlines() == [
        "phase            start     took      status  detail",
        "---------------  --------  --------  ------  " + "-" * 70,
        "preflight            0.0s      2.5s  ok      3 steps will act",
        "cluster: create      2.5s      0.4s  ok      " + "x" * 70,
        "reconcile            2.9s     97.1s  failed  apps: Stalled",
        "",
        "RTO (staging): 100.0s  [failed]",
        "critical path: secrets → platform-controllers → apps",
        "slowest image pulls: img1 1.0s, img2 2.0s, img3 3.0s, img4 4.0s, img5 5.0s",  # by time incl. waiting
        "toolchain overhead (time not spent waiting on the cluster): 0.0s",
    ]


def test_the_report_leaves_out_what_it_does_not_have() -> None:
    timeline = Timeline("testing", started=0.0)
    timeline.record("sync", 0.0, 1.0, "ok")
    timeline.pulls = [{"image": "x", "seconds": 1.0, "with_waiting": 1.0, "cached": True}]
    text = timeline.render()
    assert "critical path" not in text and "slowest image pulls" not in text
    assert "toolchain overhead (time not spent waiting on the cluster): 0.0s" in text


def test_the_gantt_chart_is_exact() -> None:
    assert _fixed().mermaid().splitlines() == [
        "gantt", "  title cattle bootstrap of staging", "  dateFormat X", "  axisFormat %M:%S",
        "  preflight : 0, 2",
        "  cluster  create : 2, 3",  # a colon would end mermaid's task name; under a second still gets one
        "  reconcile : crit, 2, 100",  # a failed phase is marked critical
    ]


def test_a_phase_is_timed_and_marked_by_how_its_block_ends(capsys: pytest.CaptureFixture[str]) -> None:
    timeline = Timeline("testing")
    with timeline.phase("flux", waiting=True) as event:
        event.detail = "32 objects"
    with timeline.phase("database") as event:
        event.status = "skipped"
    with pytest.raises(RuntimeError), timeline.phase("sync"):
        raise RuntimeError("first line of the reason\nsecond line")
    flux, database, sync = timeline.events
    assert (flux.status, flux.waiting, flux.end is not None) == ("ok", True, True)
    assert database.status == "skipped" and not database.waiting
    assert (sync.status, sync.detail) == ("failed", "first line of the reason")
    err = capsys.readouterr().err
    assert "▶ flux" in err and "✓ flux (" in err and "s): 32 objects" in err
    assert "- database (" in err and "✗ sync failed after " in err


def test_a_failed_phase_keeps_a_detail_it_already_had() -> None:
    timeline = Timeline("testing")
    with pytest.raises(ValueError), timeline.phase("restore") as event:
        event.detail = "snapshot S1"
        raise ValueError("other")
    assert timeline.events[0].detail == "snapshot S1"


def test_the_run_file_is_named_by_env_and_start(tmp_path: Path) -> None:
    timeline = _fixed()
    path = timeline.write(tmp_path / "runs")
    assert path == tmp_path / "runs" / "staging-19700101T001640Z.json"
    written = json.loads(path.read_text())
    assert written["rto_seconds"] == 100.0 and written["result"] == "failed"
    assert [e["phase"] for e in written["events"]] == ["preflight", "cluster: create", "reconcile"]
    assert written["events"][1]["seconds"] == 0.4


def test_numbers_keep_two_decimals_and_order_follows_the_slowest_pull(tmp_path: Path) -> None:
    timeline = Timeline("testing", started=1000.0)
    timeline.record("cluster", 1000.0, 1007.333333, "ok")
    timeline.events[-1].waiting = False  # cattle's own work, longer than the wait (overhead is not total % wait)
    timeline.record("reconcile", 1007.333333, 1010.126, "ok")
    timeline.pulls = [{"image": "fast", "seconds": 1.0, "with_waiting": 2.0, "cached": False},
                      {"image": "slow", "seconds": 3.0, "with_waiting": 9.0, "cached": False}]
    data = timeline.as_dict()
    assert (data["rto_seconds"], data["toolchain_overhead_seconds"]) == (10.13, 7.33)
    assert [e["seconds"] for e in data["events"]] == [7.33, 2.79]
    text = timeline.render()
    assert "slowest image pulls: slow 3.0s, fast 1.0s" in text  # by the time including waiting, slowest first
    assert "toolchain overhead (time not spent waiting on the cluster): 7.3s" in text
    nested = tmp_path / "a" / "b"
    first, second = timeline.write(nested), timeline.write(nested)  # parents made; writing again is fine
    assert first == second and json.loads(first.read_text())["rto_seconds"] == 10.13


def test_the_gantt_chart_counts_from_the_run_start_not_modulo() -> None:
    timeline = Timeline("testing", started=1000.0)
    timeline.record("late", 3503.2, 3510.0, "ok")  # 2503 s in: odd start, far from the origin
    assert timeline.mermaid().splitlines()[-1] == "  late : 2503, 2510"
    timeline.record("blink", 3503.0, 3503.2, "ok")
    assert timeline.mermaid().splitlines()[-1] == "  blink : 2503, 2504"  # never zero-length


def test_a_failed_phase_keeps_the_first_200_characters_of_its_reason() -> None:
    timeline = Timeline("testing")
    with pytest.raises(RuntimeError), timeline.phase("sync"):
        raise RuntimeError("x" * 300)
    assert timeline.events[0].detail == "x" * 200
