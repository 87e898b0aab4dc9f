"""dr.runner's verdict at its edges: a runner exactly at 90 % of the declared memory and one byte under, CPUs alone
or memory alone too small, kind checked only for kind environments, and how the facts and failures are printed
(issue 32, mutation survivors of cattle/dr/runnerfacts.py)."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import pytest

from cattle import env, tools
from cattle.dr import runnerfacts
from cattle.dr.runnerfacts import Machine
from cattle.errors import ToolError
from cattle.manifests import capacity


@pytest.fixture(scope="module")
def testing() -> env.Environment:
    return env.load("testing")


@pytest.fixture(autouse=True)
def kind_v033(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runnerfacts, "installed_kind", lambda: "v0.33.0")


def _memory_floor(environment: env.Environment) -> int:
    assert environment.capacity is not None
    return math.ceil(environment.capacity.memory_bytes * 0.9)


def test_a_runner_with_exactly_90_percent_of_the_declared_memory_is_enough_and_a_byte_less_is_not(
        testing: env.Environment) -> None:
    assert testing.capacity is not None and testing.capacity.cpu_millis == 2000
    floor = _memory_floor(testing)
    assert runnerfacts.gather(testing, Machine(2, floor)).failures == []
    [failure] = runnerfacts.gather(testing, Machine(2, floor - 1)).failures
    assert failure.startswith("this machine (2 CPU, 5.87Gi) is smaller than the declared capacity (2 CPU, ")


def test_too_few_cpus_alone_or_too_little_memory_alone_stops_the_job(testing: env.Environment) -> None:
    plenty = 64 * 2 ** 30
    assert runnerfacts.gather(testing, Machine(1, plenty)).failures == [
        "this machine (1 CPU, 64.00Gi) is smaller than the declared capacity (2 CPU, 6.52Gi)"]
    assert runnerfacts.gather(testing, Machine(64, 2 ** 30)).failures == [
        "this machine (64 CPU, 1.00Gi) is smaller than the declared capacity (2 CPU, 6.52Gi)"]
    assert runnerfacts.gather(testing, Machine(2, plenty)).failures == []
    assert runnerfacts.gather(testing, Machine(64, plenty)).failures == []


def test_kind_is_checked_only_for_a_kind_environment_and_a_missing_one_is_named(
        testing: env.Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str, path: object = None) -> str:
        raise ToolError("kind: not found")

    monkeypatch.undo()
    with monkeypatch.context() as patch:
        patch.setattr(tools, "installed_version", lambda name, path=None: "0.33.0")
        assert runnerfacts.installed_kind() == "v0.33.0"
        patch.setattr(tools, "installed_version", missing)
        assert runnerfacts.installed_kind() is None
    monkeypatch.setattr(runnerfacts, "installed_kind", lambda: None)
    assert runnerfacts.gather(testing, Machine(2, 2 ** 40)).failures == [
        "kind (none) is not the pinned v0.33.0: run ./scripts/setup where a Docker engine runs"]
    monkeypatch.setattr(runnerfacts, "installed_kind", lambda: "v0.27.0")  # installed, but never asked for
    for provider in ("k3d", "kubeconfig"):  # sorting before "kind" and after it
        other = dataclasses.replace(testing, provider="".join(provider))  # an equal string, not the literal
        facts = runnerfacts.gather(other, Machine(2, 2 ** 40))
        assert facts.failures == [] and facts.kind_installed is None
        assert dict(facts.rows())["kind"] == "not installed (pinned v0.33.0, clusters/kind.yaml)"


def test_workloads_without_requests_stop_the_job(testing: env.Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    real = capacity.account

    def with_gaps(environment: env.Environment, rendering: object) -> capacity.Account | None:
        account = real(environment, rendering)  # type: ignore[arg-type]
        assert account is not None
        return dataclasses.replace(account, gaps=[object(), object()])  # type: ignore[list-item]

    monkeypatch.setattr(capacity, "account", with_gaps)
    assert runnerfacts.gather(testing, Machine(2, 2 ** 40)).failures == [
        "2 workload(s) without explicit requests: run ./scripts/cattle validate"]


def test_without_declared_capacity_nothing_is_measured_against_the_runner(testing: env.Environment,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capacity, "account", lambda environment, rendering: None)
    facts = runnerfacts.gather(dataclasses.replace(testing, capacity=None), Machine(1, 1))
    assert facts.ok and dict(facts.rows())["capacity check"] == "no capacity declared (not checked)"


def test_the_facts_print_aligned_and_every_failure_after_them(testing: env.Environment) -> None:
    facts = runnerfacts.gather(testing, Machine(1, 2 ** 30))
    facts.failures.append("second reason")
    lines = facts.render().splitlines()
    width = max(len(name) for name, _ in facts.rows())
    assert lines[0] == f"{'environment':<{width}}  testing (provider kind)"
    assert lines[-2:] == [f"FAILED: {facts.failures[0]}", "FAILED: second reason"]
    markdown = facts.markdown()
    assert markdown.startswith("### Runner and cluster facts (testing), before anything is created\n\n| | |\n")
    assert markdown.endswith(f"**FAILED**: {facts.failures[0]}\n**FAILED**: second reason\n")
    assert runnerfacts.gather(testing, Machine(2, 2 ** 40)).markdown().endswith("\nok: nothing here stops the run\n")


def test_memory_is_memtotal_in_bytes_and_none_without_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemFree:  1 kB\nMemTotal:  2 kB\nMemAvailable: 3 kB\n")
    assert runnerfacts.machine(meminfo).memory_bytes == 2048
    assert runnerfacts.machine(tmp_path / "absent").memory_bytes == 0
    assert runnerfacts.machine(tmp_path / "absent").cpus >= 1


def test_the_cpus_are_the_ones_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    if hasattr(os, "sched_getaffinity"):
        allowed = os.sched_getaffinity(0)
        try:
            os.sched_setaffinity(0, {min(allowed)})
            assert runnerfacts.machine().cpus == 1
        finally:
            os.sched_setaffinity(0, allowed)
        monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert runnerfacts.machine().cpus == 1  # cpu_count() may not know: one CPU, never zero
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert runnerfacts.machine().cpus == 3
