"""The fake clock's bound (issue 32, item 3): a wait driven on fake time that never ends fails its test within
seconds, with a message saying so, instead of at pytest-timeout's 600 s."""

from __future__ import annotations

import pytest

from cattle.errors import WaitTimeout
from tests.test_reconcile import APPS, KS, flux, waiter
from tests.waiting import FakeClock, WaitNeverEnded


def test_a_wait_that_moves_fake_time_on_for_ever_is_stopped_at_the_fake_seconds_bound() -> None:
    clock = FakeClock(max_polls=1_000_000, max_seconds=100)
    with pytest.raises(WaitNeverEnded, match=r"^wait never ended: 101 polls / 101 fake seconds \(bounds: 1000000 "
                                             r"polls, 100 fake seconds\)$"):
        while True:
            clock.sleep(1)
    with pytest.raises(WaitNeverEnded):  # once tripped, for good: swallowing the error does not let a wait spin on
        clock.monotonic()


def test_a_wait_that_never_moves_fake_time_is_stopped_at_the_polls_bound() -> None:
    clock = FakeClock(max_polls=500)
    with pytest.raises(WaitNeverEnded, match=r"^wait never ended: 501 polls / 0 fake seconds"):
        while True:
            clock.monotonic()


def test_the_default_bounds_stop_a_real_wait_whose_deadline_lies_beyond_them() -> None:
    """reconcile's Waiter on the tests' FakeClock, for an object that never appears, with a deadline (ten fake years)
    the bound comes long before: the test fails at the bound, not at its deadline nor at pytest-timeout's."""
    w, clock = waiter([(0, flux(KS, "apps", "True"))], [APPS, (KS, "flux-system", "platform-configs")])
    with pytest.raises(WaitNeverEnded, match=r"^wait never ended: \d+ polls / \d+ fake seconds"):
        w.wait(timeout=10 * 365 * 86400)
    assert clock.polls > FakeClock.MAX_POLLS or clock.now > FakeClock.MAX_SECONDS


def test_every_wait_the_tests_drive_ends_inside_the_default_bounds() -> None:
    """The same wait with the longest timeout the tests give reconcile (600 s) ends with its own WaitTimeout."""
    w, clock = waiter([(0, flux(KS, "apps", "True"))], [APPS, (KS, "flux-system", "platform-configs")])
    with pytest.raises(WaitTimeout, match="not Ready within 600s"):
        w.wait(timeout=600)
    assert clock.polls < FakeClock.MAX_POLLS and clock.now <= FakeClock.MAX_SECONDS
