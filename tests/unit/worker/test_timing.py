"""The timestamp contract: output = input running time - anchor + one constant delay, for both tracks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livedub.worker.timing import (
    MIN_DELAY_NS,
    MS,
    NS,
    AvSyncTracker,
    DelayMeter,
    Timeline,
    effective_delay_ns,
)


@pytest.mark.parametrize(("target_s", "expected_ns"), [(3.0, 3 * NS), (0.5, 500 * MS), (0.0, MIN_DELAY_NS),
                                                       (0.1, MIN_DELAY_NS), (0.2, 200 * MS)])
def test_effective_delay_is_the_buffer_target_with_a_floor(target_s: float, expected_ns: int) -> None:
    assert effective_delay_ns(target_s) == expected_ns


def test_nothing_maps_before_the_timeline_is_frozen() -> None:
    timeline = Timeline(500 * MS)
    assert timeline.to_output(10 * NS) is None
    timeline.observe(10 * NS, 0)
    assert timeline.to_output(10 * NS) is None  # observed, not frozen yet
    with pytest.raises(RuntimeError):
        Timeline(500 * MS).freeze()


def test_first_buffer_maps_to_the_delay_and_the_anchor_never_moves_once_frozen() -> None:
    timeline = Timeline(500 * MS)
    assert timeline.observe(in_ts=10 * NS, clock_now=777) is True
    anchor = timeline.freeze()
    assert (anchor.in_pts, anchor.clock) == (10 * NS, 777)
    assert timeline.observe(in_ts=11 * NS, clock_now=0) is False  # ignored after freeze
    assert timeline.freeze() == anchor
    assert timeline.to_output(10 * NS) == 500 * MS
    assert timeline.to_output(12 * NS) == 2 * NS + 500 * MS
    assert timeline.to_output(None) is None


def test_anchor_takes_the_earliest_arrival_not_the_late_first_buffer() -> None:
    # the first buffer arrives 100 ms late (branch linking), the backlog follows in a burst
    timeline = Timeline(500 * MS)
    start = 1_000 * NS
    arrivals = [(0, start + 100 * MS), (40 * MS, start + 101 * MS), (80 * MS, start + 102 * MS),
                (120 * MS, start + 121 * MS)]
    assert [timeline.observe(ts, clock) for ts, clock in arrivals] == [True, False, False, False]
    assert timeline.first_arrival == start + 100 * MS
    anchor = timeline.freeze()
    assert anchor.in_pts == 0
    assert anchor.clock == start + 1 * MS  # the buffer at 120 ms arrived only 1 ms after its slot


def test_buffers_slightly_before_the_anchor_fit_in_the_delay_and_earlier_ones_do_not() -> None:
    timeline = Timeline(500 * MS)
    timeline.observe(10 * NS, 0)
    timeline.freeze()
    assert timeline.to_output(10 * NS - 80 * MS) == 420 * MS  # e.g. audio a bit earlier than the video
    assert timeline.to_output(10 * NS - 500 * MS) == 0
    assert timeline.to_output(10 * NS - 501 * MS) is None


@given(st.integers(0, 10**13), st.integers(-(10**9), 10**12), st.integers(-(10**9), 10**12),
       st.integers(MIN_DELAY_NS, 10 * NS))
def test_audio_video_offset_is_preserved_exactly(anchor: int, audio_rel: int, video_rel: int, delay: int) -> None:
    timeline = Timeline(delay)
    timeline.observe(anchor, 0)
    timeline.freeze()
    audio_in, video_in = anchor + audio_rel, anchor + video_rel
    audio_out, video_out = timeline.to_output(audio_in), timeline.to_output(video_in)
    if audio_out is None or video_out is None:
        assert min(audio_rel, video_rel) < -delay
        return
    assert audio_out - video_out == audio_in - video_in
    assert audio_out - audio_in == video_out - video_in  # the same constant for both tracks


def test_negative_delay_is_refused() -> None:
    with pytest.raises(ValueError):
        Timeline(-1)


def test_sync_delta_is_zero_when_both_tracks_get_the_same_delay() -> None:
    tracker = AvSyncTracker()
    assert tracker.delta_ms() is None
    tracker.record("video", 1 * NS, 1 * NS + 500 * MS)
    assert tracker.delta_ms() is None
    tracker.record("audio", 2 * NS, 2 * NS + 500 * MS)
    assert tracker.delta_ms() == 0


def test_sync_delta_shows_audio_moved_in_time() -> None:
    tracker = AvSyncTracker()
    tracker.record("video", 0, 500 * MS)
    tracker.record("audio", 0, 530 * MS)
    assert tracker.delta_ms() == pytest.approx(30.0)
    tracker.record("audio", NS, NS + 480 * MS)
    assert tracker.delta_ms() == pytest.approx(-20.0)


def test_delay_meter_reports_what_each_buffer_got() -> None:
    meter = DelayMeter(window=3)
    assert meter.summary() is None
    for arrival, send in ((0, 520 * MS), (40 * MS, 560 * MS), (80 * MS, 630 * MS), (120 * MS, 640 * MS)):
        meter.record(arrival, send)
    summary = meter.summary()
    assert summary is not None
    assert summary.last_ms == 520
    assert summary.median_ms == 520  # of the last three: 520, 550, 520
    assert (summary.min_ms, summary.max_ms) == (520, 550)  # over the whole run
