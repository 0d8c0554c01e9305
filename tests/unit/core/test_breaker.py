"""Circuit breaker: closed -> open -> half-open -> closed/open, on failures, latency and backlog."""

from __future__ import annotations

import logging

import numpy as np

from livedub.core.breaker import BreakerState, CircuitBreaker
from livedub.core.clock import FakeClock
from livedub.core.config import BreakerConfig
from livedub.core.messages import FallbackReason, FragmentStatus
from livedub.core.mock_sts import ToneSts
from livedub.core.processor import StsError
from tests.unit.core.helpers import MS, SECOND, make_rig, noise

CONFIG = BreakerConfig(failure_threshold=3, latency_p95_ns=1000 * MS, latency_window=10, latency_min_samples=5,
                       max_backlog=4, cooldown_ns=10 * SECOND)


def breaker() -> tuple[CircuitBreaker, FakeClock, list[tuple[BreakerState, BreakerState]]]:
    clock = FakeClock(0)
    seen: list[tuple[BreakerState, BreakerState]] = []
    return CircuitBreaker(CONFIG, clock, on_transition=lambda old, new, why: seen.append((old, new))), clock, seen


def test_consecutive_failures_open_it_and_a_success_resets_the_count() -> None:
    b, _, seen = breaker()
    b.record_failure("x")
    b.record_failure("x")
    b.record_success(100 * MS)
    b.record_failure("x")
    b.record_failure("x")
    assert b.state is BreakerState.closed and b.allow()
    b.record_failure("x")
    assert b.state is BreakerState.open
    assert not b.allow()
    assert seen == [(BreakerState.closed, BreakerState.open)]


def test_it_half_opens_after_the_cooldown_and_lets_one_probe_through() -> None:
    b, clock, _ = breaker()
    for _ in range(3):
        b.record_failure("x")
    clock.advance(10 * SECOND - 1)
    assert b.state is BreakerState.open
    clock.advance(1)
    assert b.state is BreakerState.half_open
    assert b.allow() is True
    assert b.allow() is False  # one probe at a time


def test_a_good_probe_closes_it() -> None:
    b, clock, seen = breaker()
    for _ in range(3):
        b.record_failure("x")
    clock.advance(10 * SECOND)
    assert b.allow()
    b.record_success(100 * MS)
    assert b.state is BreakerState.closed
    assert seen == [(BreakerState.closed, BreakerState.open), (BreakerState.open, BreakerState.half_open),
                    (BreakerState.half_open, BreakerState.closed)]


def test_a_bad_probe_reopens_it_and_restarts_the_cooldown() -> None:
    b, clock, seen = breaker()
    for _ in range(3):
        b.record_failure("x")
    clock.advance(10 * SECOND)
    assert b.allow()
    clock.advance(2 * SECOND)
    b.record_failure("timeout")
    assert b.state is BreakerState.open
    clock.advance(9 * SECOND)
    assert b.state is BreakerState.open
    clock.advance(1 * SECOND)
    assert b.state is BreakerState.half_open
    assert seen[-3:] == [(BreakerState.open, BreakerState.half_open), (BreakerState.half_open, BreakerState.open),
                         (BreakerState.open, BreakerState.half_open)]


def test_latency_p95_over_threshold_opens_it_only_with_enough_samples() -> None:
    b, _, _ = breaker()
    for _ in range(4):
        b.record_success(1500 * MS)
    assert b.state is BreakerState.closed  # 4 < latency_min_samples
    b.record_success(1500 * MS)
    assert b.state is BreakerState.open


def test_latency_below_threshold_keeps_it_closed() -> None:
    b, _, _ = breaker()
    for rtt in [100, 200, 900, 300, 950, 400, 100, 200, 300, 990]:
        b.record_success(rtt * MS)
    assert b.state is BreakerState.closed
    assert b.latency_p95_ns() < 1000 * MS


def test_late_results_count_towards_latency() -> None:
    b, _, _ = breaker()
    for _ in range(5):
        b.record_latency(3000 * MS)
    assert b.state is BreakerState.open


def test_backlog_over_the_hard_limit_opens_it() -> None:
    b, _, _ = breaker()
    b.check_backlog(4)
    assert b.state is BreakerState.closed
    b.check_backlog(5)
    assert b.state is BreakerState.open


def test_transitions_are_logged(caplog) -> None:
    caplog.set_level(logging.INFO, logger="livedub.core.breaker")
    b, clock, _ = breaker()
    b.record_failure("boom", permanent=True)
    clock.advance(10 * SECOND)
    assert b.state is BreakerState.half_open
    messages = [r.getMessage() for r in caplog.records]
    assert any("closed -> open" in m and "boom" in m for m in messages)
    assert any("open -> half_open" in m for m in messages)


class Flaky:
    """Fails while ``failing`` is set."""

    def __init__(self) -> None:
        self.failing = True
        self.tone = ToneSts()

    def process(self, fragment):
        if self.failing:
            raise StsError("down")
        return self.tone.process(fragment)


def test_breaker_through_the_core_open_falls_back_for_all_then_recovers() -> None:
    sts = Flaky()
    config = BreakerConfig(failure_threshold=2, cooldown_ns=3 * SECOND, max_backlog=100)
    rig = make_rig(sts, noise(12.0), delay_s=3.0, max_inflight=1, breaker=config)

    def gauge() -> float:
        return rig.metrics.value("worker_sts_breaker_state")


    for second in (1, 2):  # fragments 0 and 1 fail: the breaker opens
        rig.feed_until(second)
        rig.job(second - 1).run()
        rig.core.pull()
    assert gauge() == BreakerState.open  # opened at 2 s
    rig.feed_until(4.0)  # fragments 2 and 3 are cut while open: no STS call at all
    assert rig.submitted() == [0, 1]
    rig.feed_until(5.0)  # cooldown over at 5 s: half-open, fragment 4 is the probe
    assert gauge() == BreakerState.half_open
    assert rig.submitted() == [0, 1, 4]
    rig.job(4).run()  # the probe fails: open again, cooldown restarts
    rig.core.pull()
    assert gauge() == BreakerState.open
    sts.failing = False
    rig.feed_until(7.0)
    assert rig.submitted() == [0, 1, 4]
    rig.feed_until(8.0)  # half-open again; fragment 7 probes and succeeds
    assert rig.submitted() == [0, 1, 4, 7]
    rig.job(7).run()
    rig.core.pull()
    assert gauge() == BreakerState.closed
    rig.feed_until(9.0)
    assert rig.submitted() == [0, 1, 4, 7, 8]
    rig.job(8).run()
    rig.feed_until(12.0)

    reasons = {b.sequence: b.result.reason for b in rig.out}
    assert [reasons[s] for s in (2, 3, 5, 6)] == [FallbackReason.breaker_open] * 4
    assert reasons[4] is FallbackReason.sts_error
    statuses = {b.sequence: b.result.status for b in rig.out}
    assert statuses[7] is FragmentStatus.dubbed and statuses[8] is FragmentStatus.dubbed
    assert rig.metrics.value("worker_sts_breaker_transitions_total", to="open") == 2
    assert rig.metrics.value("worker_sts_breaker_transitions_total", to="closed") == 1
    assert rig.metrics.value("worker_fallback_total", reason="breaker-open") == 4
    # the fallback is the original audio (pass-through) for every fragment the breaker kept from STS
    kept_from_sts = next(b for b in rig.out if b.sequence == 3)
    np.testing.assert_array_equal(kept_from_sts.samples, rig.audio[3 * 48_000 : 4 * 48_000])


def test_backlog_limit_through_the_core() -> None:
    config = BreakerConfig(max_backlog=3, cooldown_ns=60 * SECOND)
    rig = make_rig(ToneSts(), noise(5.0), delay_s=10.0, max_inflight=1, stall_buffer=10, breaker=config)
    rig.feed_until(4.0)  # 1 running + 3 waiting = 4 > 3
    assert rig.metrics.value("worker_sts_breaker_state") == BreakerState.open
    assert rig.core.stats().waiting == 0  # the waiting ones fell back at once
    assert rig.core.stats().fallbacks == {}  # (counted when emitted)
    blocks = rig.advance_to(14.0)
    assert [b.result.reason for b in blocks[1:]] == [FallbackReason.breaker_open] * 3
