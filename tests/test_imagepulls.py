"""Image pulls from the kubelet's pod events: per image, as a timeline line, in the drill's job summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from cattle.bootstrap import imagepulls
from cattle.bootstrap.timeline import Timeline
from cattle.dr import drill
from cattle.kube import Kube
from tests.kubemock import FakeCluster, Scenario

EVENTS = json.loads((Path(__file__).parent / "data/events/rebuild.json").read_text())["items"]
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC).timestamp()  # the rebuild in the events started


def test_each_image_with_its_pull_time_size_and_wait() -> None:
    pulls = {p.image: p for p in imagepulls.parse(EVENTS)}
    assert sorted(pulls) == ["docker.io/miniflux/miniflux:2.2.13", "quay.io/openbao/openbao:2.7.2",
                             "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1",
                             "quay.io/prometheus/prometheus:v3.9.1"]  # the CNPG Cluster's event is not a pull
    prometheus = pulls["quay.io/prometheus/prometheus:v3.9.1"]
    assert (prometheus.seconds, prometheus.with_waiting, prometheus.size) == (62.345, 62.345, 137363456)
    assert prometheus.finished is not None and prometheus.started is not None
    assert prometheus.finished - prometheus.started == 62.0
    miniflux = pulls["docker.io/miniflux/miniflux:2.2.13"]
    assert (miniflux.seconds, miniflux.with_waiting) == (6.512, 41.027)  # waited behind other pulls
    openbao = pulls["quay.io/openbao/openbao:2.7.2"]  # an older kubelet message: no size, no Pulling event seen
    assert (openbao.seconds, openbao.size, openbao.started) == (0.512, None, None)
    assert pulls["quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1"].cached


def test_the_timeline_line_spans_the_pulls_and_the_summary_lists_them() -> None:
    pulls = imagepulls.parse(EVENTS)
    assert imagepulls.summary(pulls) == ("3 images pulled (152Mi) in 69s (longest: quay.io/prometheus/prometheus:"
                                         "v3.9.1), 1 already present")
    assert imagepulls.span(pulls) == (T0 + 2 * 60 + 3, T0 + 4 * 60 + 51)  # 10:02:03 (Pulling) -> 10:04:51 (Pulled)
    table = imagepulls.markdown(pulls)
    assert table.splitlines()[2] == "| `quay.io/prometheus/prometheus:v3.9.1` | 62.3s | 62.3s | 131Mi |"
    assert "| `quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1` | present |  |  |" in table


def test_recorded_from_the_cluster_into_the_timeline_and_the_drill_summary(tmp_path: Path) -> None:
    fake = FakeCluster(tmp_path, [], Scenario())
    try:
        for event in EVENTS:
            namespace = event["metadata"]["namespace"]
            fake.add_namespace(namespace)  # events, like every namespaced object, need their namespace
            fake._http("POST", f"/api/v1/namespaces/{namespace}/events", event)
        kube = Kube.from_kubeconfig(fake.kubeconfig, "kmock")
        timeline = Timeline("testing", started=T0)
        pulls = imagepulls.record(kube, timeline)
        kube.close()
    finally:
        fake.close()
    assert len(pulls) == 4
    [line] = [e for e in timeline.events if e.phase == "image pulls"]
    assert line.status == "ok" and line.detail.startswith("3 images pulled (152Mi) in 69s")
    assert "slowest image pulls: quay.io/prometheus/prometheus:v3.9.1 62.3s, docker.io/miniflux/miniflux:2.2.13 " \
           "6.5s" in timeline.render()
    assert timeline.as_dict()["image_pulls"][0]["image"] == "quay.io/prometheus/prometheus:v3.9.1"
    summary = drill.summary_markdown(timeline, 600.0, 900.0)
    assert "### Image pulls (generation 2, from pod events; included in the RTO)" in summary
    assert "| `docker.io/miniflux/miniflux:2.2.13` | 6.5s | 41.0s | 21Mi |" in summary
    assert "image pulls :" in timeline.mermaid()


def test_no_events_no_line() -> None:
    timeline = Timeline("testing")
    assert imagepulls.span([]) is None and imagepulls.summary([]) == "no image pulled"
    assert "No image pull events were seen." in drill.summary_markdown(timeline, 1.0, 900.0)
