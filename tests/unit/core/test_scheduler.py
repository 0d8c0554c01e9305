"""The core's ordering, window bound, stall buffer and deadlines, on a fake clock."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livedub.core.audio import to_int16
from livedub.core.messages import DubbedAudio, FallbackReason, FragmentStatus, samples_to_ns
from livedub.core.mock_sts import PassThroughSts, ToneSts
from livedub.core.processor import StsError
from livedub.core.scheduler import CoreClosed
from tests.unit.core.helpers import MS, SECOND, make_rig, noise

TONE = ToneSts()


def tone_block(sequence: int, samples: int = 48_000) -> np.ndarray:
    fragment_like = type("F", (), {"num_samples": samples, "sequence": sequence, "id": "x", "channels": 2})()
    return to_int16(TONE.process(fragment_like).samples)


def assert_contiguous(blocks) -> None:
    for before, after in itertools.pairwise(blocks):
        assert after.sequence == before.sequence + 1
        assert after.input_pts == before.input_pts + before.duration


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(range(6)))
def test_output_is_in_order_whatever_order_results_complete(order: list[int]) -> None:
    rig = make_rig(TONE, noise(6.0), delay_s=10.0, max_inflight=6)
    rig.feed_until(6.0)
    assert rig.submitted() == [0, 1, 2, 3, 4, 5]
    for sequence in order:
        rig.job(sequence).run()
        assert rig.core.pull() == []  # nothing is due before its deadline, ready or not
    blocks = rig.advance_to(16.0)
    assert [b.sequence for b in blocks] == [0, 1, 2, 3, 4, 5]
    assert all(b.result.status is FragmentStatus.dubbed for b in blocks)
    for block in blocks:
        np.testing.assert_array_equal(block.samples, tone_block(block.sequence))
    assert_contiguous(blocks)
    assert blocks[0].input_pts == 0


def test_a_slow_head_holds_back_finished_successors_until_it_is_due() -> None:
    rig = make_rig(TONE, noise(3.0), delay_s=5.0, max_inflight=3)
    rig.feed_until(3.0)
    rig.job(2).run()
    rig.job(1).run()
    assert rig.advance_to(4.9) == []
    rig.job(0).run()
    first = rig.advance_to(5.0)
    assert [b.sequence for b in first] == [0]
    assert [b.sequence for b in rig.advance_to(7.0)] == [1, 2]


def test_blocks_are_handed_out_output_lead_before_they_play() -> None:
    rig = make_rig(PassThroughSts(), noise(1.0), delay_s=3.0, lead_s=0.25)
    rig.feed_until(1.0)
    rig.job(0).run()
    assert rig.advance_to(2.74) == []
    [block] = rig.advance_to(2.75)
    assert block.input_pts == 0  # plays at input PTS + the 3 s delay; handed out 250 ms earlier
    assert rig.core.next_due_ns() is None


def test_window_bounds_calls_in_flight_and_stalls_the_rest_counted_and_logged(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="livedub.core")
    rig = make_rig(TONE, noise(5.0), delay_s=10.0, max_inflight=2, stall_buffer=4)
    rig.feed_until(5.0)
    assert rig.submitted() == [0, 1]
    assert rig.metrics.value("worker_inflight_fragments") == 2
    assert rig.metrics.value("worker_stalled_fragments") == 3
    assert rig.metrics.value("worker_fragment_stalls_total") == 3
    assert any("window full" in r.getMessage() for r in caplog.records)

    rig.job(0).run()
    rig.core.pull()
    assert rig.submitted() == [0, 1, 2]  # a freed slot goes to the oldest waiting fragment
    assert rig.metrics.value("worker_stalled_fragments") == 2
    for sequence in (1, 2):
        rig.job(sequence).run()
        rig.core.pull()
    for sequence in (3, 4):
        rig.job(sequence).run()
        rig.core.pull()
    blocks = rig.advance_to(20.0)
    assert [b.sequence for b in blocks] == [0, 1, 2, 3, 4]
    assert all(b.result.status is FragmentStatus.dubbed for b in blocks)  # nothing dropped
    assert rig.metrics.value("worker_fragment_stalls_total") == 3


def test_full_stall_buffer_makes_the_oldest_waiting_fragment_fall_back_loudly(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="livedub.core")
    audio = noise(4.0)
    rig = make_rig(TONE, audio, delay_s=10.0, max_inflight=1, stall_buffer=2)
    rig.feed_until(4.0)  # 0 runs, 1 and 2 wait, 3 arrives: 1 gives way
    assert any("stall buffer full" in r.getMessage() for r in caplog.records)
    for sequence in (0, 2, 3):
        rig.job(sequence).run()
        rig.core.pull()
    blocks = rig.advance_to(20.0)
    assert [b.sequence for b in blocks] == [0, 1, 2, 3]
    assert blocks[1].result.reason is FallbackReason.stall_overflow
    np.testing.assert_array_equal(blocks[1].samples, audio[48_000:96_000])  # pass-through: the original
    assert rig.metrics.value("worker_fallback_total", reason="stall-overflow") == 1
    assert rig.submitted() == [0, 2, 3]


def test_soft_timeout_warns_and_counts_and_the_result_is_still_used(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="livedub.core")
    rig = make_rig(TONE, noise(3.0), delay_s=3.0, soft_margin_s=0.5)
    rig.feed_until(2.4)
    assert rig.metrics.value("worker_sts_soft_timeouts_total") == 0
    rig.feed_until(2.5)  # fragment 0: deadline 3.0 s, soft deadline 2.5 s
    assert rig.metrics.value("worker_sts_soft_timeouts_total") == 1
    assert any("still in STS" in r.getMessage() and getattr(r, "fragmentId", "") == "test-000000"
               for r in caplog.records)
    rig.job(0).run()
    [block] = rig.feed_until(3.0)
    assert block.result.status is FragmentStatus.dubbed
    assert rig.metrics.value("worker_sts_soft_timeouts_total") == 1  # counted once per fragment


def test_hard_timeout_falls_back_on_time_and_a_late_result_is_discarded() -> None:
    audio = noise(4.0)
    rig = make_rig(TONE, audio, delay_s=3.0)
    rig.feed_until(2.99)
    assert rig.out == []
    [block] = rig.feed_until(3.0)  # fragment 0's deadline: the output does not wait for STS
    assert block.result.status is FragmentStatus.fallback
    assert block.result.reason is FallbackReason.timeout
    np.testing.assert_array_equal(block.samples, audio[:48_000])
    assert rig.metrics.value("worker_fallback_total", reason="timeout") == 1
    assert rig.metrics.value("worker_inflight_fragments") == 3  # the late call still holds its slot

    rig.clock.advance(100 * MS)
    rig.job(0).run()  # the result arrives after its fallback went out
    rig.job(1).run()
    assert rig.core.pull() == []
    assert rig.metrics.value("worker_sts_late_results_total") == 1
    assert rig.metrics.value("worker_inflight_fragments") == 1
    assert rig.core.stats().late_results == 1
    blocks = rig.feed_until(4.0)
    assert [b.sequence for b in blocks] == [1]  # fragment 0 is never emitted twice
    assert blocks[0].result.status is FragmentStatus.dubbed
    assert rig.metrics.value("worker_sts_rtt_ms_count") == 2


def test_a_fragment_cut_after_its_deadline_falls_back_without_sts() -> None:
    audio = noise(2.0)
    rig = make_rig(TONE, audio, delay_s=2.0)
    rig.feed_until(0.02)
    rig.clock.advance(5 * SECOND)  # the input stalls upstream; the clock goes on
    blocks = rig.feed_until(2.0)
    assert [b.result.reason for b in blocks] == [FallbackReason.no_time, FallbackReason.no_time]
    assert rig.submitted() == []


def test_sts_error_falls_back_and_is_counted() -> None:
    class Broken:
        def process(self, fragment):
            raise RuntimeError("model exploded at rtmp://example.com/live2/SECRETKEY")

    rig = make_rig(Broken(), noise(1.0), delay_s=3.0)
    rig.feed_until(1.0)
    rig.job(0).run()
    [block] = rig.advance_to(3.0)
    assert block.result.reason is FallbackReason.sts_error
    assert "model exploded" in block.result.detail
    assert "SECRETKEY" not in block.result.detail
    assert rig.metrics.value("worker_audio_fragments_total", status="fallback") == 1
    assert rig.metrics.value("worker_sts_bugs_total") == 1  # not an StsError: a bug in a stage


def test_an_sts_error_is_a_decision_not_a_bug() -> None:
    class Refusing:
        def process(self, fragment):
            raise StsError("the translator timed out")

    rig = make_rig(Refusing(), noise(1.0), delay_s=3.0)
    rig.feed_until(1.0)
    rig.job(0).run()
    [block] = rig.advance_to(3.0)
    assert block.result.reason is FallbackReason.sts_error
    assert rig.metrics.value("worker_sts_bugs_total") == 0


def test_repairable_output_is_sanitised_and_the_repair_counted() -> None:
    class MonoHalfRate:
        def process(self, fragment):
            mono = np.full(fragment.num_samples // 2, 0.5, dtype=np.float32)
            return DubbedAudio(fragment.id, fragment.sequence, mono, sample_rate=24_000)

    rig = make_rig(MonoHalfRate(), noise(1.0), delay_s=3.0)
    rig.feed_until(1.0)
    rig.job(0).run()
    [block] = rig.advance_to(3.0)
    assert block.result.status is FragmentStatus.dubbed
    assert set(block.result.fixes) == {"channels", "resampled"}
    assert block.samples.shape == (48_000, 2)
    assert np.all(np.abs(block.samples[100:-100].astype(int) - 16384) <= 1)
    assert rig.metrics.value("worker_sts_output_fixes_total", case="resampled") == 1


@pytest.mark.parametrize(
    "bad",
    [
        lambda f: DubbedAudio(f.id, f.sequence, np.zeros((0, 2), np.float32)),
        lambda f: DubbedAudio(f.id, f.sequence, np.full((f.num_samples, 2), np.nan, np.float32)),
        lambda f: DubbedAudio(f.id, f.sequence + 7, np.zeros((f.num_samples, 2), np.float32)),
    ],
    ids=["empty", "all-nan", "wrong-fragment"],
)
def test_unrepairable_output_falls_back(bad) -> None:
    class Bad:
        def process(self, fragment):
            return bad(fragment)

    rig = make_rig(Bad(), noise(1.0), delay_s=3.0)
    rig.feed_until(1.0)
    rig.job(0).run()
    [block] = rig.advance_to(3.0)
    assert block.result.reason is FallbackReason.invalid_output
    assert rig.metrics.value("worker_fallback_total", reason="invalid-output") == 1


def test_flush_emits_the_remainder_and_the_core_finishes() -> None:
    audio = noise(2.5)
    rig = make_rig(PassThroughSts(), audio, delay_s=3.0)
    rig.feed_until(2.5)
    rig.core.flush()
    for job in rig.executor.pending():
        job.run()
    while not rig.core.finished:
        due = rig.core.next_due_ns()
        assert due is not None
        rig.clock.advance_to(due)
        rig.out += rig.core.pull()
    assert [b.num_samples for b in rig.out] == [48_000, 48_000, 24_000]
    np.testing.assert_array_equal(np.concatenate([b.samples for b in rig.out]), audio)
    assert_contiguous(rig.out)
    with pytest.raises(CoreClosed):
        rig.core.push(audio[:10], samples_to_ns(len(audio)))


def test_end_to_end_latency_is_the_delay_minus_the_lead() -> None:
    rig = make_rig(PassThroughSts(), noise(1.0), delay_s=3.0, lead_s=0.2)
    rig.feed_until(1.0)
    rig.job(0).run()
    rig.advance_to(2.8)
    assert rig.metrics.value("worker_chunk_end_to_end_latency_ms_sum") == pytest.approx(2800.0)


def test_non_retryable_error_opens_the_breaker_at_once() -> None:
    class Unloadable:
        def process(self, fragment):
            raise StsError("weights missing", retryable=False)

    rig = make_rig(Unloadable(), noise(2.0), delay_s=3.0, max_inflight=1)
    rig.feed_until(1.0)
    rig.job(0).run()
    rig.core.pull()
    assert rig.metrics.value("worker_sts_breaker_state") == 1
    rig.feed_until(2.0)
    assert rig.submitted() == [0]  # fragment 1 never reaches the STS


def test_drain_hands_out_everything_at_once_in_order() -> None:
    audio = noise(3.5)
    rig = make_rig(TONE, audio, delay_s=3.0, max_inflight=2, stall_buffer=4)
    rig.feed_until(3.5)  # 0 went out as a timeout at 3.0 s (its call still holds a slot), 1 in STS, 2 waits
    assert [b.sequence for b in rig.out] == [0]
    rig.job(1).run()  # 1 is dubbed; its slot goes to 2; 3 (cut by the flush) finds no slot
    blocks = rig.core.drain(wait=False)
    assert [b.sequence for b in blocks] == [1, 2, 3]
    assert [b.result.reason for b in blocks] == [None, FallbackReason.timeout, FallbackReason.no_time]
    assert [b.input_pts for b in blocks] == [SECOND, 2 * SECOND, 3 * SECOND]
    assert rig.core.finished
    np.testing.assert_array_equal(blocks[2].samples, audio[3 * 48_000 :])


def test_drain_waits_for_results_that_can_still_make_their_deadline() -> None:
    rig = make_rig(TONE, noise(2.0), delay_s=3.0)
    rig.feed_until(2.0)
    for job in rig.executor.jobs:
        job.run()  # already complete: drain's wait returns at once
    blocks = rig.core.drain()
    assert [b.result.status for b in blocks] == [FragmentStatus.dubbed, FragmentStatus.dubbed]
