"""The run report's arithmetic: the RTO, and cattle's own overhead when waiting phases overlap."""

from __future__ import annotations

import json

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
