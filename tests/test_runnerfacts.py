"""dr.runner: the facts a CI job prints before it creates anything, and the reasons that stop it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cattle import env, tools
from cattle.dr import runnerfacts
from cattle.dr.runnerfacts import Machine

GITHUB_SMALL = Machine(2, 7_700_000_000)  # ubuntu-24.04 for private repositories


@pytest.fixture
def kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kind stand-in answering `kind version` with the pinned release (rewrite it for another)."""
    script = tmp_path / "kind"
    script.write_text("#!/bin/sh\necho 'kind v0.33.0 go1.25 linux/amd64'\n")
    script.chmod(0o755)
    real = tools.locate
    monkeypatch.setattr(tools, "locate", lambda name: script if name == "kind" else real(name))
    return script


def test_the_facts_of_testing_on_the_smallest_runner(kind: Path) -> None:
    facts = runnerfacts.gather(env.load("testing"), GITHUB_SMALL)
    assert facts.ok, facts.render()
    text = facts.render()
    assert "kind            v0.33.0 (pinned v0.33.0, clusters/kind.yaml)" in text
    assert ("node image      kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3"
            "cbfaed") in text
    assert "Kubernetes      1.36.4" in text and "runner          2 CPU, 7.17Gi memory" in text
    assert "capacity check  requests 1785m CPU / 3.24Gi of capacity 2 CPU / 6.52Gi: fits" in text
    assert text.endswith("ok: nothing here stops the run")
    assert "| capacity check | requests 1785m CPU" in facts.markdown()


def test_another_kind_release_stops_the_job(kind: Path) -> None:
    kind.write_text("#!/bin/sh\necho 'kind v0.27.0 go1.24 linux/amd64'\n")
    facts = runnerfacts.gather(env.load("testing"), GITHUB_SMALL)
    assert facts.failures == ["kind v0.27.0 is not the pinned v0.33.0: run ./scripts/setup where a Docker engine runs"]


def test_a_runner_smaller_than_the_declared_capacity_stops_the_job(kind: Path) -> None:
    facts = runnerfacts.gather(env.load("testing"), Machine(1, 3 * 2 ** 30))
    assert facts.failures == ["this machine (1 CPU, 3.00Gi) is smaller than the declared capacity (2 CPU, 6.52Gi)"]


def test_requests_over_capacity_stop_the_job(kind: Path, repo_copy: Path) -> None:
    path = repo_copy / "apps/base/miniflux/deployment.yaml"
    path.write_text(path.read_text().replace("requests: {cpu: 20m, memory: 64Mi}", "requests: {cpu: 1, memory: 64Mi}"))
    facts = runnerfacts.gather(env.load("testing"), GITHUB_SMALL)
    assert facts.failures == ["the requests do not fit the declared capacity: requests 2765m CPU / 3.24Gi of "
                              "capacity 2 CPU / 6.52Gi: DOES NOT FIT"]


def test_machine_reads_proc_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        8138604 kB\nMemFree:          412312 kB\n")
    assert runnerfacts.machine(meminfo).memory_bytes == 8138604 * 1024


def test_the_image_volume_stands_beside_the_rto_budget(kind: Path) -> None:
    """A rebuilt node has no image: the volume every generation pulls again, next to the budget it is pulled in
    (issue 27, item 8). Named an estimate while no registry manifest was read."""
    facts = runnerfacts.gather(env.load("testing"), GITHUB_SMALL)
    rows = dict(facts.rows())
    assert rows["RTO budget"] == "15m (dr.drill fails over it; its job summary times every image pull)"
    assert rows["image volume"] == ("about 1.6 GB compressed in 32 images, pulled again by every rebuild (dr.drill: "
                                    "twice); estimates, no registry manifest read (platform/image-volume.yaml)")
    names = [name for name, _ in facts.rows()]
    assert names.index("image volume") == names.index("RTO budget") + 1
