"""The worker's output core on a fake clock: start-up, steady state, input gaps and returns, drain.

Driven as the GStreamer adapter drives it (video/audio from the input, start on the main loop, pump
from the audio pump), with a recording sink in place of the output pipeline.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pytest

from livedub.core.clock import FakeClock
from livedub.core.messages import SAMPLE_RATE
from livedub.worker.audio_path import BypassAudioPath, PcmChunk
from livedub.worker.metrics import WorkerMetrics
from livedub.worker.output_core import OutputCore, VideoIn

MS = 1_000_000
NS = 1_000_000_000
DELAY = 500 * MS
FRAME = 40 * MS          # 25 fps video
CHUNK = 20 * MS          # audio chunks of 20 ms
T0 = 1_000 * NS          # the fake clock's start


def pcm(pts: int, ms: int = 20, value: int = 0) -> PcmChunk:
    return PcmChunk(pts, np.full((SAMPLE_RATE * ms // 1000, 2), value, dtype=np.int16))


@dataclass
class RecordingSink:
    """The output pipeline's part: remembers what was pushed; ``audio_shift`` plays audio later than
    it was stamped for (an injected fault the A/V sync metric must show)."""

    audio_shift: int = 0
    video: list[tuple[int, int | None, object]] = field(default_factory=list)
    audio: list[tuple[int, int]] = field(default_factory=list)  # (output pts, input pts)

    def push_video(self, item: VideoIn, pts: int, dts: int | None) -> int:
        self.video.append((pts, dts, item.payload))
        return pts

    def push_audio(self, chunk: PcmChunk, pts: int) -> int:
        self.audio.append((pts, chunk.pts_ns))
        return pts + self.audio_shift

    def latency_ns(self) -> int:
        return 30 * MS


class HoldingPath(BypassAudioPath):
    """An audio path that records pause/finish and holds audio until told (like the dub path's
    unfinished tail)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.held: list[PcmChunk] = []
        self.offset: int | None = None

    def anchor(self, offset_ns: int) -> None:
        self.offset = offset_ns

    def push(self, chunk: PcmChunk) -> None:
        self.held.append(chunk)

    def pause(self) -> None:
        self.calls.append("pause")
        self._ready.extend(self.held)
        self.held = []

    def finish(self) -> None:
        self.calls.append("finish")
        self._ready.extend(self.held)
        self.held = []


def metric(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels or None)
    assert value is not None, name
    return value


def make(path: BypassAudioPath | None = None) -> tuple[OutputCore, FakeClock, WorkerMetrics]:
    clock = FakeClock(T0)
    metrics = WorkerMetrics()
    return OutputCore(DELAY, path or BypassAudioPath(), metrics, clock), clock, metrics


def feed(core: OutputCore, clock: FakeClock, start_in: int, duration: int, session_base: int = 0) -> None:
    """Real-time input from input time ``start_in`` (session time = that minus ``session_base``):
    a video frame every 40 ms, an audio chunk every 20 ms, the clock advancing as it goes."""
    t = start_in
    while t < start_in + duration:
        if (t - start_in) % FRAME == 0:
            core.video(t - session_base, t - session_base, payload=("frame", t))
        core.audio(pcm(t - session_base))
        clock.advance(CHUNK)
        t += CHUNK


def running(path: BypassAudioPath | None = None, sink: RecordingSink | None = None,
            ) -> tuple[OutputCore, FakeClock, WorkerMetrics, RecordingSink]:
    """A core whose output started on a first video frame at input time 0 (arrived at T0)."""
    core, clock, metrics = make(path)
    core.video(0, 0)
    clock.advance(150 * MS)
    sink = sink or RecordingSink()
    started(core, sink)
    return core, clock, metrics, sink


def started(core: OutputCore, sink: RecordingSink) -> list[int]:
    bases: list[int] = []
    assert core.start(sink, lambda base: bases.append(base) or True)
    return bases


def test_output_waits_for_the_anchor_to_settle_then_releases_both_tracks_in_order() -> None:
    core, clock, _metrics = make()
    assert core.start_in_ns() is None  # no video yet: nothing to anchor on
    core.audio(pcm(10 * NS - 60 * MS))  # audio a moment before the first video
    assert core.video(10 * NS, 10 * NS, payload="first") is True
    assert core.video(10 * NS + FRAME, 10 * NS + FRAME, payload="second") is False
    assert core.start_in_ns() == 150 * MS  # the start-up backlog is let in first
    clock.advance(150 * MS)
    assert core.start_in_ns() == 0
    sink = RecordingSink()
    bases = started(core, sink)
    # video: output running time = input - first video + delay
    assert [(pts, payload) for pts, _dts, payload in sink.video] == [(DELAY, "first"), (DELAY + FRAME, "second")]
    # the audio that waited for the anchor keeps its offset to the video
    assert sink.audio == [(DELAY - 60 * MS, 10 * NS - 60 * MS)]
    # the clock anchor is the earliest arrival the timestamps allow: the second frame came in the same
    # burst, so the first one was one frame late; the output pipeline's running time 0 is there
    assert bases == [T0 - FRAME]


def test_a_base_time_that_cannot_be_set_starts_nothing() -> None:
    core, clock, _metrics = make()
    core.video(0, 0)
    clock.advance(200 * MS)
    sink = RecordingSink()
    assert core.start(sink, lambda _base: False) is False
    assert not core.started and sink.video == []


def test_steady_state_maps_both_tracks_the_same_way_and_measures_the_delay() -> None:
    core, clock, metrics, sink = running()
    feed(core, clock, 40 * MS, 2 * NS)
    assert all(out - inp == DELAY for out, inp in sink.audio)
    fed = [(pts, payload[1]) for pts, _dts, payload in sink.video if isinstance(payload, tuple)]
    assert len(fed) == 50 and all(out == inp + DELAY for out, inp in fed)
    assert metric(metrics, "worker_av_sync_delta_ms") == 0
    # each frame leaves delay + pipeline latency after its arrival; the first arrived 150 ms late
    summary = core.delay_summary()
    assert summary is not None and summary.max_ms == pytest.approx(530.0)
    assert metric(metrics, "worker_output_audio_headroom_seconds") > 0


def test_av_sync_metric_shows_audio_played_100ms_late() -> None:
    core, clock, metrics, _sink = running(sink=RecordingSink(audio_shift=100 * MS))
    feed(core, clock, 40 * MS, 1 * NS)
    assert metric(metrics, "worker_av_sync_delta_ms") == pytest.approx(100.0)


def test_media_before_the_output_start_is_dropped_and_counted_by_reason() -> None:
    core, clock, metrics = make()
    core.video(10 * NS, 10 * NS)
    core.audio(pcm(10 * NS - DELAY - 40 * MS))  # earlier than the delay can hold
    clock.advance(150 * MS)
    sink = RecordingSink()
    started(core, sink)
    assert sink.audio == []
    assert metric(metrics, "worker_dropped_buffers_total", track="audio", reason="before-output-start") == 1
    assert metric(metrics, "worker_dropped_buffers_total", track="video", reason="before-output-start") == 0


def test_a_gap_in_the_input_passes_through_as_a_gap() -> None:
    core, clock, _metrics, sink = running()
    feed(core, clock, 40 * MS, 400 * MS)
    clock.advance(1 * NS)  # the publisher's encoder stalled: one second of nothing
    feed(core, clock, 1440 * MS, 400 * MS)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(sink.audio) if b[0] - a[0] != CHUNK]
    assert gaps == [1 * NS + CHUNK]


def test_a_returned_input_continues_the_timeline_after_the_wall_clock_gap() -> None:
    path = HoldingPath()
    core, clock, _metrics, sink = running(path)
    feed(core, clock, 40 * MS, 960 * MS)   # input up to 1.0 s
    core.input_lost()
    assert path.calls == ["pause"]  # the held tail is processed now, not when the input returns
    assert core.pump().drained is False
    assert sink.audio[-1][1] == 980 * MS  # what was held came out: nothing lost at the break
    assert core.input_returned() is True
    clock.advance(1500 * MS)  # the publisher reconnects 1.5 s later; its timestamps start at 0 again
    back_at = clock.now() - T0  # on the anchor's terms: input time 0 arrived at T0
    video_before = len(sink.video)
    feed(core, clock, 0, 200 * MS)
    new_video = sink.video[video_before:]
    # the new session lands where the wall clock says it came back, delayed as before
    assert new_video[0][0] == back_at + DELAY
    assert back_at > 2 * NS
    assert all(b[0] > a[0] for a, b in itertools.pairwise(sink.video))  # never backwards
    path.finish()
    outs = [chunk.pts_ns for chunk in path.pull()]
    assert outs == sorted(outs) and outs[0] == back_at  # the audio path sees the same continuous input


def test_end_of_input_finishes_the_path_once_and_reports_drained() -> None:
    path = HoldingPath()
    core, clock, _metrics, sink = running(path)
    feed(core, clock, 40 * MS, 400 * MS)
    assert core.pump().drained is False
    core.end_input()
    step = core.pump()
    assert step.drained is True
    assert core.pump().drained is True
    assert path.calls == ["finish"]
    assert sink.audio[-1][1] == 420 * MS
    assert core.input_returned() is False  # finished: the run cannot take a new session
