"""The worker's lifecycle: wait for the input, check its tracks, run input -> audio path -> output, end.

States (each change is logged once and exported as ``worker_state``)::

    waiting_input --first pad--> input_connected --both tracks + first video--> running
          |                             |                                          |
          | no input in time: exit 3    | a codec other than H.264/AAC, or a       | input EOS --> draining
          | (errors before then retry)  | track missing: exit 4                    | bus ERROR: exit 1
                                                                                 draining --output EOS--> exit 0

GStreamer calls :meth:`on_track`, :meth:`on_unsupported` and :meth:`on_sample` from its streaming
threads; everything that changes the state runs on the GLib main loop (``GLib.idle_add``), so the
state has one owner. Pipelines post to their buses, watched on the same loop.

Audio leaves the audio path from two threads, always under one lock: the input's streaming thread
(``pull`` after each ``push``) and the audio pump, which pulls at the times the path asks for
(the dub path releases fragments on a schedule, not only when input arrives) and, after input EOS,
until the path is drained. The pump never runs on the main loop: a push into a full output may block.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from livedub.obs.redact import redact_url
from livedub.worker.audio_path import AudioPath, OverlapTrimmer, PcmChunk
from livedub.worker.caps import Track, TrackInfo, UnsupportedInput
from livedub.worker.exit_codes import ExitCode
from livedub.worker.gst import GLib, Gst, running_time
from livedub.worker.input_pipeline import InputPipeline
from livedub.worker.metrics import WorkerMetrics
from livedub.worker.output_pipeline import OutputPipeline
from livedub.worker.timing import MS, NS, AvSyncTracker, DelayMeter, Timeline

log = logging.getLogger(__name__)

INPUT_RETRY_INTERVAL_S = 1.0   # between attempts while the input is not there yet
TRACK_WAIT_S = 5.0             # after the first track, how long the second may take to appear
DRAIN_MARGIN_S = 10.0          # after input EOS, the output gets delay + this to finish
PENDING_LIMIT = 1024           # buffers per track held while the output starts (about 0.1 s in practice)
PUMP_IDLE_S = 0.05             # the audio pump looks at least this often (the path may have nothing scheduled)
PUMP_JOIN_S = 2.0              # at exit, how long to wait for the audio pump (a push blocked in a flushing appsrc)
FAILURE_POLL_MS = 250          # how often the main loop asks the audio path whether it failed for good
WARNING_REPEAT_S = 60.0        # the same bus warning is logged at most once a minute
ANCHOR_SETTLE_NS = 150 * MS    # arrivals observed after the first video buffer before the anchor is fixed


class State(str, Enum):
    waiting_input = "waiting_input"
    input_connected = "input_connected"
    running = "running"
    draining = "draining"
    stopped = "stopped"


@dataclass(frozen=True)
class WorkerConfig:
    stream_id: str
    input_url: str
    output_url: str
    delay_ns: int
    input_timeout_s: float
    track_wait_s: float = TRACK_WAIT_S


class _Feeder:
    """One track's way into the output: holds buffers until the output runs, then pushes them in order."""

    def __init__(self, track: Track, push: Callable[[Any], None], on_overflow: Callable[[Track], None]) -> None:
        self.track = track
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
                self._on_overflow(self.track)
            self._pending.append(item)

    def open(self) -> None:
        with self._lock:
            while self._pending:
                self._push(self._pending.popleft())
            self._open = True


class _LateAudioReport:
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


@dataclass(frozen=True)
class _VideoItem:
    buffer: Any
    caps: Any
    pts: int
    dts: int | None
    arrival: int  # clock time it reached the worker


class Worker:
    def __init__(self, config: WorkerConfig, audio_path: AudioPath, metrics: WorkerMetrics) -> None:
        self.config = config
        self.audio_path = audio_path
        self.metrics = metrics
        self.timeline = Timeline(config.delay_ns)
        self.sync = AvSyncTracker()
        self.delay_meter = DelayMeter()
        self._output_latency_ns = 0
        self._start_retry_scheduled = False
        self.clock = Gst.SystemClock.obtain()
        self.state: State | None = None
        self.exit_code: ExitCode | None = None
        self._loop = GLib.MainLoop()
        self._input: InputPipeline | None = None
        self._output: OutputPipeline | None = None
        self._tracks: dict[Track, TrackInfo] = {}
        self._unsupported: UnsupportedInput | None = None
        self._input_attempts = 0
        self._input_error_logged = False
        self._warnings_logged: dict[str, float] = {}
        self._audio_lock = threading.Lock()  # the audio path is not required to be thread-safe
        # decoded audio that came before the output's time anchor was fixed: the audio path gets it
        # once it knows the anchor, so its deadlines follow the clock the output plays by
        self._audio_before_anchor: deque[PcmChunk] = deque(maxlen=PENDING_LIMIT)
        self._pump: threading.Thread | None = None
        self._pump_wake = threading.Event()   # set: the pump looks again now (input ended, stopping)
        self._pump_stop = False
        self._input_ended = False
        self._trimmer = OverlapTrimmer()
        self._late_audio = _LateAudioReport()
        self._video = _Feeder(Track.video, self._push_video, self._overflow)
        self._audio = _Feeder(Track.audio, self._push_audio, self._overflow)
        self._idle_timeout_s = max(1, round(config.input_timeout_s))

    # -- public ---------------------------------------------------------------------------------
    def run(self) -> ExitCode:
        """Run until the stream ends or fails; returns the exit code (see exit_codes.py)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, self._on_signal, signum)
        self._set_state(State.waiting_input, inputUrl=redact_url(self.config.input_url),
                        inputTimeoutS=self.config.input_timeout_s)
        GLib.timeout_add(int(self.config.input_timeout_s * 1000), self._on_input_deadline)
        GLib.timeout_add(FAILURE_POLL_MS, self._check_audio_path)
        self._start_input()
        try:
            self._loop.run()
        finally:
            self._teardown()
        self._set_state(State.stopped, exitCode=int(self.exit_code or 0),
                        exitReason=(self.exit_code or ExitCode.OK).name.lower(), **self._delay_fields())
        return self.exit_code if self.exit_code is not None else ExitCode.OK

    # -- streaming threads ------------------------------------------------------------------------
    def on_track(self, info: TrackInfo) -> None:
        GLib.idle_add(self._track_found, info)

    def on_unsupported(self, error: UnsupportedInput) -> None:
        self._unsupported = error  # read by the bus handler: the demuxer may error before idle runs
        GLib.idle_add(self._finish, ExitCode.UNSUPPORTED_INPUT, str(error))

    def on_sample(self, track: Track, sample: Any) -> None:
        buffer = sample.get_buffer()
        segment = sample.get_segment()
        pts = running_time(segment, buffer.pts)
        if pts is None:
            self.metrics.late_buffers.labels(track.value).inc()
            return
        self.metrics.input_position.labels(track.value).set(pts / NS)
        if track is Track.video:
            dts = running_time(segment, buffer.dts)
            arrival = self.clock.get_time()
            # video anchors the timeline (see timing.py); audio arriving a moment earlier waits in
            # its feeder and maps into the delay
            if self.timeline.observe(dts if dts is not None else pts, arrival):
                GLib.idle_add(self._maybe_start_output)
            self._video.offer(_VideoItem(buffer, sample.get_caps(), pts, dts, arrival))
            return
        with self._audio_lock:
            trimmed_before = self._trimmer.trimmed_frames
            chunk = self._trimmer.fix(PcmChunk.from_bytes(pts, buffer.extract_dup(0, buffer.get_size())))
            self.metrics.audio_trimmed.inc(self._trimmer.trimmed_frames - trimmed_before)
            if chunk is None:
                return
            if self.timeline.anchor is None:
                if len(self._audio_before_anchor) == self._audio_before_anchor.maxlen:
                    self.metrics.late_buffers.labels(Track.audio.value).inc()
                self._audio_before_anchor.append(chunk)
                return
            self._to_audio_path([chunk])

    def _to_audio_path(self, chunks: Iterable[PcmChunk]) -> None:
        """Push into the audio path and offer what it has ready (audio lock held)."""
        for chunk in chunks:
            self.audio_path.push(chunk)
        # offered under the lock too: the pump pulls as well, and chunks must reach the output in order
        for out in self.audio_path.pull():
            self._audio.offer(out)

    # -- pushing into the output (streaming threads, feeder lock held) --------------------------
    def _push_video(self, item: _VideoItem) -> None:
        assert self._output is not None
        out_pts = self.timeline.to_output(item.pts)
        if out_pts is None:
            self.metrics.late_buffers.labels(Track.video.value).inc()
            return
        out_dts = self.timeline.to_output(item.dts) if item.dts is not None else None
        flags = (Gst.BufferCopyFlags.FLAGS | Gst.BufferCopyFlags.TIMESTAMPS | Gst.BufferCopyFlags.META
                 | Gst.BufferCopyFlags.MEMORY)
        buffer = item.buffer.copy_region(flags, 0, item.buffer.get_size())  # shares the memory, no copy
        buffer.pts = out_pts
        buffer.dts = out_dts if out_dts is not None else Gst.CLOCK_TIME_NONE
        self._record_sync(Track.video, item.pts, out_pts)
        anchor = self.timeline.anchor
        if anchor is not None:  # the sink sends at base time + DTS (else PTS) + latency
            send = anchor.clock + (out_dts if out_dts is not None else out_pts) + self._output_latency_ns
            self.metrics.output_delay.set(self.delay_meter.record(item.arrival, send) / NS)
        self._output.push_video(buffer, item.caps)
        self.metrics.output_position.labels(Track.video.value).set(out_pts / NS)

    def _push_audio(self, chunk: PcmChunk) -> None:
        assert self._output is not None
        out_pts = self.timeline.to_output(chunk.pts_ns)
        if out_pts is None:
            self.metrics.late_buffers.labels(Track.audio.value).inc()
            return
        self._record_sync(Track.audio, chunk.pts_ns, out_pts)
        anchor = self.timeline.anchor
        if anchor is not None:
            headroom = anchor.clock + out_pts - self.clock.get_time()
            self.metrics.audio_headroom.set(headroom / NS)
            if headroom < 0:
                self.metrics.audio_late.inc()
                self._late_audio.note(-headroom, time.monotonic())
        self._output.push_audio(chunk.to_bytes(), out_pts, chunk.duration_ns)
        self.metrics.output_position.labels(Track.audio.value).set((out_pts + chunk.duration_ns) / NS)

    def _record_sync(self, track: Track, in_pts: int, out_pts: int) -> None:
        self.sync.record(track.value, in_pts, out_pts)
        delta = self.sync.delta_ms()
        if delta is not None:
            self.metrics.av_sync_delta_ms.set(delta)

    def _overflow(self, track: Track) -> None:
        self.metrics.late_buffers.labels(track.value).inc()

    # -- main loop --------------------------------------------------------------------------------
    def _set_state(self, state: State, **fields: Any) -> None:
        if state == self.state:
            return
        self.state = state
        self.metrics.state.state(state.value)
        log.info("worker %s", state.value.replace("_", " "), extra={"state": state.value, **fields})

    def _start_input(self) -> bool:
        self._input_attempts += 1
        self._input = InputPipeline(self.config.input_url, self, self._idle_timeout_s)
        self._watch(self._input.pipeline, self._on_input_message)
        if not self._input.start():
            self._input_failed("the input pipeline did not start")
        return False  # also used as a one-shot GLib timeout callback

    def _input_failed(self, reason: str) -> None:
        """An input error before any track: the stream may not be published yet, so retry."""
        if not self._input_error_logged:
            self._input_error_logged = True
            log.info("input not available yet; retrying until the input timeout",
                     extra={"reason": reason, "retryIntervalS": INPUT_RETRY_INTERVAL_S})
        self._stop_input()
        GLib.timeout_add(int(INPUT_RETRY_INTERVAL_S * 1000), self._start_input)

    def _stop_input(self) -> None:
        if self._input is not None:
            self._input.bus.remove_signal_watch()
            self._input.stop()
            self._input = None

    def _watch(self, pipeline: Any, handler: Callable[[Any, Any], None]) -> None:
        bus = pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", lambda _bus, message: handler(pipeline, message))

    def _on_input_message(self, pipeline: Any, message: Any) -> None:
        # messages still queued from an input pipeline that a retry replaced are ignored
        if self.exit_code is not None or self._input is None or pipeline is not self._input.pipeline:
            return
        kind = message.type
        if kind == Gst.MessageType.ERROR:
            self.metrics.bus_errors.inc()
            error, debug = message.parse_error()
            text = f"{_src_name(message)}: {error.message}"
            if self._unsupported is not None:
                self._finish(ExitCode.UNSUPPORTED_INPUT, str(self._unsupported))
            elif self.state is State.waiting_input:
                self._input_failed(text)
            else:
                self._finish(ExitCode.PIPELINE_ERROR, f"input error: {text}", debug=debug)
        elif kind == Gst.MessageType.WARNING:
            self._on_warning("input", message)
        elif kind == Gst.MessageType.EOS:
            self._on_input_eos()

    def _on_output_message(self, _pipeline: Any, message: Any) -> None:
        if self.exit_code is not None:
            return
        kind = message.type
        if kind == Gst.MessageType.ERROR:
            self.metrics.bus_errors.inc()
            error, debug = message.parse_error()
            self._finish(ExitCode.PIPELINE_ERROR, f"output error: {_src_name(message)}: {error.message}",
                         debug=debug)
        elif kind == Gst.MessageType.WARNING:
            self._on_warning("output", message)
        elif kind == Gst.MessageType.EOS:
            self._finish(ExitCode.OK, "end of stream: input ended and the output drained")

    def _on_warning(self, pipeline: str, message: Any) -> None:
        self.metrics.bus_warnings.inc()
        warning, _debug = message.parse_warning()
        text = f"{pipeline} {_src_name(message)}: {warning.message}"
        now = time.monotonic()
        if now - self._warnings_logged.get(text, -WARNING_REPEAT_S) >= WARNING_REPEAT_S:
            self._warnings_logged[text] = now
            log.warning("gstreamer warning", extra={"pipeline": pipeline, "detail": text})

    def _track_found(self, info: TrackInfo) -> bool:
        if self.exit_code is not None:
            return False
        first = not self._tracks
        self._tracks[info.track] = info
        log.info("input track", extra={"track": info.track.value, "codec": info.codec, "detail": info.detail})
        if first:
            self._set_state(State.input_connected, attempts=self._input_attempts)
            GLib.timeout_add(int(self.config.track_wait_s * 1000), self._on_track_deadline)
        self._maybe_start_output()
        return False

    def _on_track_deadline(self) -> bool:
        if self.exit_code is None and len(self._tracks) < len(Track):
            have = ", ".join(f"{t.value} ({i.codec})" for t, i in self._tracks.items())
            self._finish(ExitCode.UNSUPPORTED_INPUT,
                         f"input has only {have} after {self.config.track_wait_s:g}s; "
                         "the worker needs H.264 video and AAC audio")
        return False

    def _check_audio_path(self) -> bool:
        """Models that fail to load (in the background, while the input connects) end the worker: exit 2."""
        if self.exit_code is not None:
            return False
        failure = self.audio_path.failure()
        if failure is not None:
            self._finish(ExitCode.CONFIG, f"the audio path cannot run: {failure}")
            return False
        return True

    def _on_input_deadline(self) -> bool:
        if self.exit_code is None and self.state is State.waiting_input:
            self._finish(ExitCode.INPUT_UNAVAILABLE,
                         f"no input within {self.config.input_timeout_s:g}s "
                         f"({self._input_attempts} attempt(s)) at {redact_url(self.config.input_url)}")
        return False

    def _maybe_start_output(self) -> bool:
        first_arrival = self.timeline.first_arrival
        if self.exit_code is not None or self._output is not None or first_arrival is None \
                or len(self._tracks) < len(Track):
            return False
        # let the start-up backlog arrive so the anchor sees the input's real cadence (timing.py)
        settle = min(ANCHOR_SETTLE_NS, self.config.delay_ns // 2)
        wait_ns = first_arrival + settle - self.clock.get_time()
        if wait_ns > 0:
            if not self._start_retry_scheduled:
                self._start_retry_scheduled = True
                GLib.timeout_add(-(-wait_ns // MS), self._retry_start_output)  # ceil: never early
            return False
        with self._audio_lock:  # one anchor for video and audio (the core's deadlines); audio waits on it
            anchor = self.timeline.freeze()
            self.audio_path.anchor(anchor.clock - anchor.in_pts)
            waiting = list(self._audio_before_anchor)
            self._audio_before_anchor.clear()
            self._to_audio_path(waiting)
        output = OutputPipeline(self.config.output_url, self.config.delay_ns)
        self._output = output
        self._watch(output.pipeline, self._on_output_message)
        if not output.start(self.clock, anchor.clock):
            self._finish(ExitCode.PIPELINE_ERROR, "the output pipeline did not start")
            return False
        self._output_latency_ns = output.latency_ns() or 0
        self._video.open()
        self._audio.open()
        self._pump = threading.Thread(target=self._pump_audio, name="audio-pump", daemon=True)
        self._pump.start()
        self._set_state(State.running, outputUrl=redact_url(self.config.output_url),
                        delayMs=self.config.delay_ns // MS)
        GLib.timeout_add(1000, self._report_delay)
        return False

    def _retry_start_output(self) -> bool:
        self._start_retry_scheduled = False
        return self._maybe_start_output()

    def _delay_fields(self) -> dict[str, Any]:
        summary = self.delay_meter.summary()
        if summary is None:
            return {}
        return {"addedDelayMs": round(summary.median_ms, 1), "addedDelayMinMs": round(summary.min_ms, 1),
                "addedDelayMaxMs": round(summary.max_ms, 1), "constantDelayMs": self.config.delay_ns // MS,
                "pipelineLatencyMs": round(self._output_latency_ns / MS, 1)}

    def _report_delay(self) -> bool:
        if self._output is None or self.exit_code is not None:
            return False
        self._output_latency_ns = self._output.latency_ns() or self._output_latency_ns
        log.info("output delay", extra=self._delay_fields())
        return False

    def _on_input_eos(self) -> None:
        if self.state is not State.running or self._output is None:
            self._finish(ExitCode.INPUT_UNAVAILABLE, "input ended before its audio and video tracks were known")
            return
        self._set_state(State.draining)
        # the pump finishes the audio path and pulls it dry, each chunk at its due time, then ends
        # the output (_end_output); the main loop never waits for it
        self._input_ended = True
        self._pump_wake.set()
        drain_s = self.config.delay_ns / NS + DRAIN_MARGIN_S
        GLib.timeout_add(int(drain_s * 1000), self._on_drain_deadline)

    def _pump_audio(self) -> None:
        """Audio pump thread: pull what the path has due, when it is due; at input EOS, until drained."""
        finishing = False
        while not self._pump_stop:
            self._pump_wake.clear()  # before looking: a wake-up from now on ends the wait below at once
            with self._audio_lock:
                if self._input_ended and not finishing:
                    finishing = True
                    self.audio_path.finish()
                for out in self.audio_path.pull():
                    self._audio.offer(out)
                drained = finishing and self.audio_path.drained
                wait_s = self.audio_path.next_pull_in_s()
            if drained:
                GLib.idle_add(self._end_output)
                return
            self._pump_wake.wait(PUMP_IDLE_S if wait_s is None else min(wait_s, PUMP_IDLE_S))

    def _end_output(self) -> bool:
        if self.exit_code is None and self._output is not None:
            self._output.end_of_stream()
        return False

    def _stop_pump(self) -> None:
        self._pump_stop = True
        self._pump_wake.set()
        if self._pump is not None:
            self._pump.join(PUMP_JOIN_S)

    def _on_drain_deadline(self) -> bool:
        if self.exit_code is None:
            self._finish(ExitCode.PIPELINE_ERROR, "the output did not drain after the input ended")
        return False

    def _on_signal(self, signum: int) -> bool:
        self._finish(ExitCode.OK, f"stop requested ({signal.Signals(signum).name})")
        return False

    def _finish(self, code: ExitCode, reason: str, debug: str | None = None) -> bool:
        if self.exit_code is not None:
            return False
        self.exit_code = code
        fields: dict[str, Any] = {"exitCode": int(code), "reason": reason}
        if debug:
            fields["debug"] = debug[-500:]
        if code is ExitCode.OK:
            log.info("worker ending", extra=fields)
        else:
            log.error("worker failing", extra=fields)
        self._loop.quit()
        return False

    def _teardown(self) -> None:
        # output first: a thread blocked in a full appsrc is released by its flush
        if self._output is not None:
            self._output.bus.remove_signal_watch()
            self._output.stop()
        self._stop_pump()
        self._stop_input()


def _src_name(message: Any) -> str:
    return message.src.get_name() if message.src is not None else "?"
