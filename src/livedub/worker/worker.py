"""The worker's lifecycle on GLib and GStreamer: the input and output pipelines, their buses, retries.

States (each change is logged once and exported as ``worker_state``)::

    waiting_input --first pad--> input_connected --both tracks + first video--> running
          |                             |                                     |        ^
          | no input in time: exit 3    | a codec other than H.264/AAC, or a  |  input | input back
          | (errors before then retry)  | track missing: exit 4               |  EOS   | (same output)
                                                                              v        |
                                        draining <--no input within WORKER_INPUT_RECONNECT-- input_lost
                                           |  (or input EOS when WORKER_INPUT_RECONNECT is 0,
                                           |   or SIGTERM/SIGINT in input_lost)
                                           +--output EOS--> exit 0          bus ERROR anywhere: exit 1

A stop signal ends the worker at once (exit 0), except the first one after the input ended
(input_lost, draining): that one plays out the delayed output first.

What reaches the output, when and with which timestamps is decided by :class:`OutputCore`
(``output_core.py``, no GStreamer, unit-tested on a fake clock); this module only carries it out.
GStreamer calls :meth:`on_track`, :meth:`on_unsupported` and :meth:`on_sample` from its streaming
threads; everything that changes the state runs on the GLib main loop (``GLib.idle_add``), so the
state has one owner. Pipelines post to their buses, watched on the same loop. The audio pump
thread asks the core for the audio due now (the dub path releases fragments on a schedule, not only
when input arrives); it never runs on the main loop: a push into a full output may block.

A publisher that drops and comes back within ``WORKER_INPUT_RECONNECT`` (the orchestrator sets it
to its grace period) keeps this worker, its models and its output connection: the input is read
again as soon as it ended, and the new session continues the same timeline after a gap.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from livedub.gst import GLib, Gst, running_time
from livedub.gst.caps import Track, TrackInfo, UnsupportedInput
from livedub.gst.source import bus_error, message_origin
from livedub.obs.redact import redact_url
from livedub.proc.exit_codes import ExitCode
from livedub.worker.audio_path import AudioPath, PcmChunk
from livedub.worker.input_pipeline import InputPipeline
from livedub.worker.metrics import DropReason, WorkerMetrics
from livedub.worker.output_core import WARNING_REPEAT_S, OutputCore
from livedub.worker.output_pipeline import OutputPipeline
from livedub.worker.timing import MS, NS

log = logging.getLogger(__name__)

INPUT_RETRY_INTERVAL_S = 1.0   # between attempts while the input is not there yet
RECONNECT_RETRY_S = 0.25       # between attempts while a lost input may come back (viewers wait)
TRACK_WAIT_S = 5.0             # after the first track, how long the second may take to appear
DRAIN_MARGIN_S = 10.0          # after input EOS, the output gets delay + this to finish
PUMP_IDLE_S = 0.05             # the audio pump looks at least this often (the path may have nothing scheduled)
PUMP_JOIN_S = 2.0              # at exit, how long to wait for the audio pump (a push blocked in a flushing appsrc)
FAILURE_POLL_MS = 250          # how often the main loop asks the audio path whether it failed for good


class State(str, Enum):
    waiting_input = "waiting_input"
    input_connected = "input_connected"
    running = "running"
    input_lost = "input_lost"
    draining = "draining"
    stopped = "stopped"


@dataclass(frozen=True)
class WorkerConfig:
    stream_id: str
    input_url: str
    output_url: str
    delay_ns: int
    input_timeout_s: float
    reconnect_s: float = 0.0   # after input EOS, how long the input may take to come back (0: end)
    track_wait_s: float = TRACK_WAIT_S


class GstClock:
    """GStreamer's system clock as the output core's :class:`~livedub.core.clock.Clock` (the same
    CLOCK_MONOTONIC the dub path's core runs on)."""

    def __init__(self) -> None:
        self.gst_clock = Gst.SystemClock.obtain()

    def now(self) -> int:
        return int(self.gst_clock.get_time())

    def sleep(self, duration_ns: int) -> None:
        time.sleep(duration_ns / NS)


class Worker:
    def __init__(self, config: WorkerConfig, audio_path: AudioPath, metrics: WorkerMetrics) -> None:
        self.config = config
        self.audio_path = audio_path
        self.metrics = metrics
        self.clock = GstClock()
        self.core = OutputCore(config.delay_ns, audio_path, metrics, self.clock)
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
        self._start_retry_scheduled = False
        self._reconnect_timer: int | None = None
        self._lost_at: float | None = None
        self._stop_requested = False     # a first stop request after the input ended drains
        self._pump: threading.Thread | None = None
        self._pump_wake = threading.Event()   # set: the pump looks again now (input ended, stopping)
        self._pump_stop = False
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
                        exitReason=(self.exit_code or ExitCode.OK).name.lower(), **self.core.delay_fields())
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
            self.core.dropped(track, DropReason.no_timestamp)
            return
        if track is Track.video:
            if self.core.video(pts, running_time(segment, buffer.dts), (buffer, sample.get_caps())):
                GLib.idle_add(self._maybe_start_output)
            return
        self.core.audio(PcmChunk.from_bytes(pts, buffer.extract_dup(0, buffer.get_size())))

    # -- main loop --------------------------------------------------------------------------------
    def _set_state(self, state: State, **fields: Any) -> None:
        if state == self.state:
            return
        self.state = state
        self.metrics.state.state(state.value)
        log.info("worker %s", state.value.replace("_", " "), extra={"state": state.value, **fields})

    def _start_input(self) -> bool:
        if self.exit_code is not None:
            return False
        self._input_attempts += 1
        self._input = InputPipeline(self.config.input_url, self, self._idle_timeout_s)
        self._watch(self._input.pipeline, self._on_input_message)
        if not self._input.start():
            self._input_failed("the input pipeline did not start")
        return False  # also used as a one-shot GLib timeout callback

    def _input_failed(self, reason: str) -> None:
        """An input error before any track (the stream may not be published yet, or not back yet): retry."""
        retry_s = RECONNECT_RETRY_S if self.state is State.input_lost else INPUT_RETRY_INTERVAL_S
        if not self._input_error_logged:
            self._input_error_logged = True
            log.info("input not available yet; retrying", extra={"reason": reason, "retryIntervalS": retry_s})
        self._stop_input()
        GLib.timeout_add(int(retry_s * 1000), self._start_input)

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
            _origin, text, debug = bus_error(message)
            if self._unsupported is not None:
                self._finish(ExitCode.UNSUPPORTED_INPUT, str(self._unsupported))
            elif self.state in (State.waiting_input, State.input_lost):
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
            _origin, text, debug = bus_error(message)
            self._finish(ExitCode.PIPELINE_ERROR, f"output error: {text}", debug=debug)
        elif kind == Gst.MessageType.WARNING:
            self._on_warning("output", message)
        elif kind == Gst.MessageType.EOS:
            self._finish(ExitCode.OK, "end of stream: input ended and the output drained")

    def _on_warning(self, pipeline: str, message: Any) -> None:
        self.metrics.bus_warnings.inc()
        warning, _debug = message.parse_warning()
        text = f"{pipeline} {message_origin(message)}: {warning.message}"
        now = time.monotonic()
        if now - self._warnings_logged.get(text, -WARNING_REPEAT_S) >= WARNING_REPEAT_S:
            self._warnings_logged[text] = now
            log.warning("gstreamer warning", extra={"pipeline": pipeline, "detail": text})

    def _track_found(self, info: TrackInfo) -> bool:
        if self.exit_code is not None:
            return False
        if self.state is State.input_lost:
            self._input_back(info)
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
        if self.exit_code is not None or self.core.started or len(self._tracks) < len(Track):
            return False
        wait_ns = self.core.start_in_ns()
        if wait_ns is None:
            return False
        if wait_ns > 0:
            if not self._start_retry_scheduled:
                self._start_retry_scheduled = True
                GLib.timeout_add(-(-wait_ns // MS), self._retry_start_output)  # ceil: never early
            return False
        output = OutputPipeline(self.config.output_url, self.config.delay_ns)
        self._output = output
        self._watch(output.pipeline, self._on_output_message)
        if not self.core.start(output, lambda base_time: output.start(self.clock.gst_clock, base_time)):
            self._finish(ExitCode.PIPELINE_ERROR, "the output pipeline did not start")
            return False
        self._pump = threading.Thread(target=self._pump_audio, name="audio-pump", daemon=True)
        self._pump.start()
        self._set_state(State.running, outputUrl=redact_url(self.config.output_url),
                        delayMs=self.config.delay_ns // MS)
        GLib.timeout_add(1000, self._report_delay)
        return False

    def _retry_start_output(self) -> bool:
        self._start_retry_scheduled = False
        return self._maybe_start_output()

    def _report_delay(self) -> bool:
        if self._output is None or self.exit_code is not None:
            return False
        self.core.refresh_latency()
        log.info("output delay", extra=self.core.delay_fields())
        return False

    # -- end of input: lost (may come back), or ended -------------------------------------------
    def _on_input_eos(self) -> None:
        if self.state is State.input_lost:  # a retry that connected and ended without media
            self._input_failed("the input ended again before any media")
            return
        if self.state is not State.running or self._output is None:
            self._finish(ExitCode.INPUT_UNAVAILABLE, "input ended before its audio and video tracks were known")
            return
        if self.config.reconnect_s <= 0:
            self._drain()
            return
        # the output, the models and the viewers' connection stay; what the audio path holds comes
        # out on time; the input is read again at once (nginx lets a reader wait for the publisher)
        self._set_state(State.input_lost, reconnectS=self.config.reconnect_s)
        self._lost_at = time.monotonic()
        self.core.input_lost()
        self._stop_input()
        self._input_error_logged = False
        self._reconnect_timer = GLib.timeout_add(int(self.config.reconnect_s * 1000), self._on_reconnect_deadline)
        if self.core.input_returned():  # the next session's first buffer is mapped after the gap
            self._start_input()
        else:
            self._drain()

    def _cancel_reconnect(self) -> None:
        if self._reconnect_timer is not None:
            GLib.source_remove(self._reconnect_timer)
            self._reconnect_timer = None

    def _input_back(self, info: TrackInfo) -> None:
        self._cancel_reconnect()
        gap_s = time.monotonic() - self._lost_at if self._lost_at is not None else None
        self._set_state(State.running, inputBack=True, track=info.track.value, codec=info.codec,
                        gapS=None if gap_s is None else round(gap_s, 2))

    def _on_reconnect_deadline(self) -> bool:
        self._reconnect_timer = None
        if self.exit_code is None and self.state is State.input_lost:
            log.info("the input did not come back", extra={"reconnectS": self.config.reconnect_s})
            self._stop_waiting_for_input()
        return False

    def _stop_waiting_for_input(self) -> None:
        """input_lost -> draining: no more reconnect attempts; what the delay holds plays out."""
        self._cancel_reconnect()
        self._stop_input()
        self._drain()

    def _drain(self) -> None:
        self._set_state(State.draining)
        # the pump finishes the audio path and pulls it dry, each chunk at its due time, then ends
        # the output (_end_output); the main loop never waits for it
        self.core.end_input()
        self._pump_wake.set()
        drain_s = self.config.delay_ns / NS + DRAIN_MARGIN_S
        GLib.timeout_add(int(drain_s * 1000), self._on_drain_deadline)

    def _pump_audio(self) -> None:
        """Audio pump thread: hand the output what the core has due, when it is due; after the input
        ended, until drained."""
        while not self._pump_stop:
            self._pump_wake.clear()  # before looking: a wake-up from now on ends the wait below at once
            step = self.core.pump()
            if step.drained:
                GLib.idle_add(self._end_output)
                return
            self._pump_wake.wait(PUMP_IDLE_S if step.wait_s is None else min(step.wait_s, PUMP_IDLE_S))

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
        """A stop request. Once the input has ended or is lost, nothing more can come in: the first
        request plays out the delayed output first (bounded by the drain deadline; the launcher's
        SIGKILL after its stop timeout is the outer bound), so a stream whose grace period ends
        before its delay does not lose its last seconds. Otherwise, or on a second request: now."""
        name = signal.Signals(signum).name
        if self.exit_code is None and not self._stop_requested and self.state in (State.input_lost, State.draining):
            self._stop_requested = True
            log.info("stop requested after the input ended: playing out the delayed output first",
                     extra={"signal": name, "state": self.state.value})
            if self.state is State.input_lost:
                self._stop_waiting_for_input()
            return True  # keep listening: a second request stops at once
        self._finish(ExitCode.OK, f"stop requested ({name})")
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
