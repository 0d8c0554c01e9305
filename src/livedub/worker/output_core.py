"""The worker's output core: what goes to the output, when, with which timestamps. No GStreamer here.

The GLib/GStreamer adapter (``worker.py``) hands this object what the input produced and carries
out what it decides; unit tests drive it the same way with a :class:`~livedub.core.clock.FakeClock`
and a recording :class:`OutputSink`::

    input streaming threads --video()/audio()--> OutputCore --push_video()/push_audio()--> OutputSink
    main loop               --start_in_ns()/start()/end_input()/input_returned()-->
    audio pump thread       --pump()--> (what the audio path has due now; drained after end of input)

Before the output starts, both tracks wait in their feeders and the timeline observes video
arrivals (``timing.Timeline``); :meth:`start_in_ns` says when the anchor has settled, :meth:`start`
fixes it and releases what waited. Audio decoded before the anchor waits too: the audio path's
deadlines follow the anchor (:meth:`AudioPath.anchor`).

One mapping for both tracks: ``output running time = input time - anchor.in_pts + delay``. An
input that ends and comes back (a publisher reconnecting) starts its timestamps again near zero;
:meth:`input_returned` maps the new session onto the old timeline at the wall-clock time it came
back, so everything downstream (audio path, timeline) sees one input that paused.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from livedub.core.clock import Clock
from livedub.gst.caps import Track
from livedub.worker.audio_path import AudioPath, OverlapTrimmer, PcmChunk
from livedub.worker.metrics import DropReason, WorkerMetrics
from livedub.worker.timing import MS, NS, AvSyncTracker, DelayMeter, DelaySummary, Timeline

log = logging.getLogger(__name__)

PENDING_LIMIT = 1024           # buffers per track held while the output starts (about 0.1 s in practice)
ANCHOR_SETTLE_NS = 150 * MS    # arrivals observed after the first video buffer before the anchor is fixed
WARNING_REPEAT_S = 60.0        # the late-audio warning is logged at most once a minute


@dataclass(frozen=True)
class VideoIn:
    """One video access unit as it arrived: input running times, and the adapter's buffer untouched."""

    pts: int
    dts: int | None
    payload: Any = None  # e.g. (Gst.Buffer, Gst.Caps); the core never looks inside


class OutputSink(Protocol):
    """Where the core's decisions go (the output pipeline). Each push returns the output running
    time at which the pushed media will really play: what the muxer gets, after any adjustment the
    pipeline makes (the A/V sync metric is computed from these)."""

    def push_video(self, item: VideoIn, pts: int, dts: int | None) -> int:
        ...

    def push_audio(self, chunk: PcmChunk, pts: int) -> int:
        ...

    def latency_ns(self) -> int:
        """The output pipeline's own latency, added on top of the constant delay."""
        ...


@dataclass(frozen=True)
class PumpStep:
    """What one look of the audio pump found: ``drained`` (input ended, everything out: end the
    output) or the seconds until the path may have more (None: only after a push)."""

    drained: bool
    wait_s: float | None


@dataclass(frozen=True)
class _Arrived:
    item: Any
    arrival: int


class _Feeder:
    """One track's way into the output: holds items until the output runs, then pushes them in order."""

    def __init__(self, push: Callable[[Any], None], on_overflow: Callable[[], None]) -> None:
        self._push = push
        self._on_overflow = on_overflow
        self._lock = threading.Lock()
        self._pending: deque[Any] = deque()
        self._open = False

    def offer(self, item: Any) -> None:
        with self._lock:
            if self._open:
                self._push(item)
                return
            if len(self._pending) >= PENDING_LIMIT:
                self._pending.popleft()
                self._on_overflow()
            self._pending.append(item)

    def open(self) -> None:
        with self._lock:
            while self._pending:
                self._push(self._pending.popleft())
            self._open = True


class LateAudioReport:
    """Logs audio handed to the output after its play time: the first at once, then at most one
    summary per :data:`WARNING_REPEAT_S` (count and worst lateness since the last line)."""

    def __init__(self) -> None:
        self._count = 0
        self._worst_ns = 0
        self._logged_at: float | None = None

    def note(self, late_ns: int, now_s: float) -> None:
        self._count += 1
        self._worst_ns = max(self._worst_ns, late_ns)
        if self._logged_at is not None and now_s - self._logged_at < WARNING_REPEAT_S:
            return
        log.warning("output audio handed to the muxer after its play time", extra={
            "lateChunks": self._count, "worstLateMs": round(self._worst_ns / MS, 1)})
        self._logged_at, self._count, self._worst_ns = now_s, 0, 0


class OutputCore:
    """Feeders, timeline, audio path and pump decisions of one worker run (see the module doc).

    Thread-safe: ``video``/``audio`` come from the input's streaming threads, ``pump`` from the
    audio pump, the rest from the main loop. The audio path is only ever called under one lock.
    """

    def __init__(self, delay_ns: int, audio_path: AudioPath, metrics: WorkerMetrics, clock: Clock,
                 settle_ns: int = ANCHOR_SETTLE_NS) -> None:
        self.delay_ns = delay_ns
        self.audio_path = audio_path
        self.metrics = metrics
        self.clock = clock
        self.settle_ns = min(settle_ns, delay_ns // 2)
        self.timeline = Timeline(delay_ns)
        self.delay_meter = DelayMeter()
        self._sync = AvSyncTracker()
        self._sink: OutputSink | None = None
        self._output_latency_ns = 0
        self._audio_lock = threading.Lock()  # the audio path is not required to be thread-safe
        # decoded audio that came before the output's time anchor was fixed: the audio path gets it
        # once it knows the anchor, so its deadlines follow the clock the output plays by
        self._audio_before_anchor: deque[PcmChunk] = deque(maxlen=PENDING_LIMIT)
        self._trimmer = OverlapTrimmer()
        self._late_audio = LateAudioReport()
        self._video = _Feeder(self._push_video, lambda: self.dropped(Track.video, DropReason.start_backlog_full))
        self._audio = _Feeder(self._push_audio, lambda: self.dropped(Track.audio, DropReason.start_backlog_full))
        self._input_ended = False
        self._finishing = False
        # input session -> one continuous input timeline (a reconnected publisher starts at ~0 again)
        self._session_offset = 0
        self._session_pending = False   # the next buffer of a returned input fixes the new offset
        self._session_lock = threading.Lock()
        self._input_end = 0             # one past the latest input time seen (continuous timeline)

    # -- input (streaming threads) ----------------------------------------------------------------
    def video(self, pts: int, dts: int | None, payload: Any = None) -> bool:
        """A video access unit arrived now. True for the very first: the adapter checks the start."""
        arrival = self.clock.now()
        pts, dts = self._continuous(pts, arrival), (None if dts is None else self._continuous(dts, arrival))
        self.metrics.input_position.labels(Track.video.value).set(pts / NS)
        # video anchors the timeline (timing.py); audio arriving a moment earlier waits and maps into the delay
        first = self.timeline.observe(dts if dts is not None else pts, arrival)
        self._video.offer(_Arrived(VideoIn(pts, dts, payload), arrival))
        return first

    def audio(self, chunk: PcmChunk) -> None:
        """A decoded audio chunk arrived (input running time)."""
        pts = self._continuous(chunk.pts_ns, self.clock.now())
        chunk = PcmChunk(pts, chunk.samples) if pts != chunk.pts_ns else chunk
        self.metrics.input_position.labels(Track.audio.value).set(pts / NS)
        with self._audio_lock:
            trimmed_before = self._trimmer.trimmed_frames
            fixed = self._trimmer.fix(chunk)
            self.metrics.audio_trimmed.inc(self._trimmer.trimmed_frames - trimmed_before)
            if fixed is None:
                return
            if self.timeline.anchor is None:
                if len(self._audio_before_anchor) == self._audio_before_anchor.maxlen:
                    self.dropped(Track.audio, DropReason.start_backlog_full)
                self._audio_before_anchor.append(fixed)
                return
            self._to_audio_path([fixed])

    def _continuous(self, session_ts: int, arrival: int) -> int:
        """A session's input running time on the run's one continuous input timeline."""
        with self._session_lock:
            if self._session_pending:
                self._session_pending = False
                self._session_offset = self._return_offset(session_ts, arrival)
            ts = session_ts + self._session_offset
            self._input_end = max(self._input_end, ts)
            return ts

    def _return_offset(self, session_ts: int, arrival: int) -> int:
        """Offset for a returned input: its first buffer lands where the wall clock says it came
        back, and never before what the run already had."""
        anchor = self.timeline.anchor
        if anchor is None:  # came back before the output ever started: continue right after
            return self._input_end - session_ts
        at = arrival - anchor.clock + anchor.in_pts  # input time of "now" on the run's timeline
        return max(at, self._input_end) - session_ts

    # -- start (main loop) ------------------------------------------------------------------------
    def start_in_ns(self) -> int | None:
        """None while no video has arrived; else how long until :meth:`start` (0: now): the start-up
        backlog is let in first so the anchor sees the input's real cadence (timing.py)."""
        first_arrival = self.timeline.first_arrival
        if first_arrival is None:
            return None
        return max(0, first_arrival + self.settle_ns - self.clock.now())

    def start(self, sink: OutputSink, base_time: Callable[[int], bool]) -> bool:
        """Fix the anchor, call ``base_time(anchor clock)`` (the adapter starts its output pipeline
        there; False: it could not), then release what waited into ``sink``."""
        with self._audio_lock:  # one anchor for video and audio (the core's deadlines); audio waits on it
            anchor = self.timeline.freeze()
            self.audio_path.anchor(anchor.clock - anchor.in_pts)
            waiting = list(self._audio_before_anchor)
            self._audio_before_anchor.clear()
            self._to_audio_path(waiting)
        if not base_time(anchor.clock):
            return False
        self._sink = sink
        self._output_latency_ns = sink.latency_ns()
        self._video.open()
        self._audio.open()
        return True

    @property
    def started(self) -> bool:
        return self._sink is not None

    # -- end of input, return of input (main loop) ------------------------------------------------
    def input_lost(self) -> None:
        """The input ended but may come back (a publisher reconnecting): the audio path hands out
        what it holds, on time, including its unfinished tail; more input may follow after a gap."""
        with self._audio_lock:
            if not self._finishing:
                self.audio_path.pause()

    def end_input(self) -> None:
        """The input ended: the pump finishes the audio path and drains it on schedule."""
        self._input_ended = True

    def input_returned(self) -> bool:
        """A new input session begins after :meth:`end_input` (a publisher reconnected). Its
        timestamps are mapped onto the run's timeline at its first buffer. False when the audio
        path was already finished (the pump ended it): then the run cannot continue."""
        with self._audio_lock, self._session_lock:
            if self._finishing:
                return False
            self._input_ended = False
            self._session_pending = True
            self._trimmer = OverlapTrimmer()
            return True

    # -- audio pump (its own thread) --------------------------------------------------------------
    def pump(self) -> PumpStep:
        """Hand the output what the audio path has due now; after end of input, finish the path and
        say when it is drained."""
        with self._audio_lock:
            if self._input_ended and not self._finishing:
                self._finishing = True
                self.audio_path.finish()
            for out in self.audio_path.pull():
                self._audio.offer(out)
            drained = self._finishing and self.audio_path.drained
            wait_s = self.audio_path.next_pull_in_s()
        return PumpStep(drained, wait_s)

    # -- pushing into the output (streaming/pump threads, feeder lock held) -----------------------
    def _to_audio_path(self, chunks: Iterable[PcmChunk]) -> None:
        """Push into the audio path and offer what it has ready (audio lock held)."""
        for chunk in chunks:
            self.audio_path.push(chunk)
        # offered under the lock too: the pump pulls as well, and chunks must reach the output in order
        for out in self.audio_path.pull():
            self._audio.offer(out)

    def _push_video(self, arrived: _Arrived) -> None:
        assert self._sink is not None
        item: VideoIn = arrived.item
        out_pts = self.timeline.to_output(item.pts)
        if out_pts is None:
            self.dropped(Track.video, DropReason.before_output_start)
            return
        out_dts = self.timeline.to_output(item.dts) if item.dts is not None else None
        anchor = self.timeline.anchor
        assert anchor is not None
        # the sink sends at base time + DTS (else PTS) + latency
        send = anchor.clock + (out_dts if out_dts is not None else out_pts) + self._output_latency_ns
        self.metrics.output_delay.set(self.delay_meter.record(arrived.arrival, send) / NS)
        plays_at = self._sink.push_video(item, out_pts, out_dts)
        self._record_sync(Track.video, item.pts, plays_at)
        self.metrics.output_position.labels(Track.video.value).set(out_pts / NS)

    def _push_audio(self, chunk: PcmChunk) -> None:
        assert self._sink is not None
        out_pts = self.timeline.to_output(chunk.pts_ns)
        if out_pts is None:
            self.dropped(Track.audio, DropReason.before_output_start)
            return
        anchor = self.timeline.anchor
        assert anchor is not None
        headroom = anchor.clock + out_pts - self.clock.now()
        self.metrics.audio_headroom.set(headroom / NS)
        if headroom < 0:
            self.metrics.audio_late.inc()
            self._late_audio.note(-headroom, self.clock.now() / NS)
        plays_at = self._sink.push_audio(chunk, out_pts)
        self._record_sync(Track.audio, chunk.pts_ns, plays_at)
        self.metrics.output_position.labels(Track.audio.value).set((out_pts + chunk.duration_ns) / NS)

    def _record_sync(self, track: Track, in_pts: int, plays_at: int) -> None:
        self._sync.record(track.value, in_pts, plays_at)
        delta = self._sync.delta_ms()
        if delta is not None:
            self.metrics.av_sync_delta_ms.set(delta)

    def dropped(self, track: Track, reason: DropReason) -> None:
        """A buffer that never reaches the output (counted by track and reason)."""
        self.metrics.dropped_buffers.labels(track.value, reason.value).inc()

    # -- reporting --------------------------------------------------------------------------------
    def refresh_latency(self) -> None:
        if self._sink is not None:
            self._output_latency_ns = self._sink.latency_ns() or self._output_latency_ns

    def delay_summary(self) -> DelaySummary | None:
        return self.delay_meter.summary()

    def delay_fields(self) -> dict[str, Any]:
        summary = self.delay_meter.summary()
        if summary is None:
            return {}
        return {"addedDelayMs": round(summary.median_ms, 1), "addedDelayMinMs": round(summary.min_ms, 1),
                "addedDelayMaxMs": round(summary.max_ms, 1), "constantDelayMs": self.delay_ns // MS,
                "pipelineLatencyMs": round(self._output_latency_ns / MS, 1)}
