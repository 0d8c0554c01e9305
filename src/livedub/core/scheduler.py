"""The streaming core: the one object the worker (and the file replay, and the tests) drive.

    push(pcm, pts)  ->  fragmenter  ->  window (stall buffer, <= max_inflight STS calls)
                                            |  executor runs processor.process(fragment)
    pull()  <-  joiner (crossfade)  <-  sanitiser | fallback  <-  deadlines, breaker

Time comes only from the injected clock. The mapping from input PTS to clock time is fixed by the
first block pushed (its end arrived "now"); a fragment starting at input PTS ``p`` must be handed
out at ``clock(p) + delay - output_lead`` (its deadline) and plays at output PTS ``p + delay``.

The core is thread-safe (one lock); the caller may push and pull from different threads. It never
blocks on STS: futures are polled on every push/pull, so output goes out on time whatever STS does.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections import Counter
from dataclasses import dataclass, replace
from functools import partial
from threading import RLock
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from livedub.core.audio import to_int16
from livedub.core.breaker import BreakerState, CircuitBreaker
from livedub.core.bundle import RunBundle
from livedub.core.clock import Clock
from livedub.core.config import CoreConfig
from livedub.core.executor import Executor
from livedub.core.fallback import FallbackRenderer
from livedub.core.fragmenter import Fragmenter
from livedub.core.joiner import Joiner
from livedub.core.messages import (
    AudioFragment,
    DubbedAudio,
    FallbackReason,
    FragmentResult,
    FragmentStatus,
    FragmentTiming,
    OutputBlock,
    samples_to_ns,
)
from livedub.core.metrics import CoreMetrics
from livedub.core.processor import Separator, StsError, StsProcessor
from livedub.core.sanitiser import InvalidStsOutput, sanitise
from livedub.core.vad import EnergyVad, Vad
from livedub.core.window import InflightWindow, Slot, SlotState
from livedub.obs.redact import redact_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _StsReply:
    completed_at: int
    dubbed: DubbedAudio | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class CoreStats:
    emitted: int
    dubbed: int
    fallbacks: dict[str, int]
    late_results: int
    soft_timeouts: int
    stalls: int
    calls_in_flight: int
    waiting: int
    breaker_state: BreakerState


class CoreClosed(RuntimeError):
    """push/flush after close."""


class StreamingCore:
    def __init__(
        self,
        config: CoreConfig,
        processor: StsProcessor,
        *,
        clock: Clock,
        executor: Executor,
        stream_id: str,
        metrics: CoreMetrics | None = None,
        vad: Vad | None = None,
        separator: Separator | None = None,
        bundle: RunBundle | None = None,
        run_id: str | None = None,
    ) -> None:
        self._config = config
        self._processor = processor
        self._clock = clock
        self._executor = executor
        self._stream_id = stream_id
        self._metrics = metrics or CoreMetrics(CollectorRegistry())
        self._bundle = bundle
        self._log_extra: dict[str, Any] = {"streamId": stream_id}
        if run_id:
            self._log_extra["runId"] = run_id
        self._fragmenter = Fragmenter(config.fragmenter, vad or EnergyVad(), stream_id)
        self._window = InflightWindow(config.max_inflight, config.stall_buffer)
        self._breaker = CircuitBreaker(config.breaker, clock, on_transition=self._on_breaker)
        self._fallback = FallbackRenderer(config.fallback, separator=separator, duck_gain_db=config.duck_gain_db)
        self._joiner = Joiner()
        self._lock = RLock()
        self._offset: int | None = None  # clock time minus input PTS
        self._last_good: np.ndarray | None = None
        self._flushed = False
        self._closed = False
        self._stalling = False
        self._counts: Counter[str] = Counter()
        self._fallbacks: Counter[str] = Counter()
        self._seen_forced = 0
        self._seen_discontinuities = 0
        self._metrics.breaker_state.set(BreakerState.closed)

    # -- the caller's interface ----------------------------------------------------------------

    def push(self, samples: np.ndarray, pts_ns: int) -> None:
        """Input PCM: int16 (n, 2) at 48 kHz, any n, with the PTS of its first sample (ns)."""
        with self._lock:
            if self._closed or self._flushed:
                raise CoreClosed("push after flush/close")
            now = self._clock.now()
            if self._offset is None:
                self._offset = now - (pts_ns + samples_to_ns(samples.shape[0]))
            fragments = self._fragmenter.push(samples, pts_ns)
            self._note_fragmenter()
            for fragment in fragments:
                self._admit(fragment, now)
            self._service(now)

    def flush(self) -> None:
        """End of input: the buffered audio becomes the last fragment. Keep pulling until :attr:`finished`."""
        with self._lock:
            if self._closed or self._flushed:
                return
            now = self._clock.now()
            for fragment in self._fragmenter.flush():
                self._admit(fragment, now)
            self._flushed = True
            self._service(now)

    def pull(self) -> list[OutputBlock]:
        """Every output block due now (deadline reached), in order; usually zero or one."""
        with self._lock:
            now = self._clock.now()
            self._service(now)
            blocks: list[OutputBlock] = []
            while (head := self._window.head()) is not None and now >= head.deadline:
                blocks.append(self._emit(self._window.pop_head(), now))
        self._record(blocks)  # disk writes outside the lock: push() never waits for them
        return blocks

    def drain(self, wait: bool = True) -> list[OutputBlock]:
        """End of stream, all at once, for a caller that cannot keep pulling after its input ended.

        Flushes, then (``wait``) blocks while STS calls may still make their fragments' deadlines,
        then hands out everything still held, in order, without waiting for due times. Fragments
        still without a result fall back (``timeout``, or ``no-time`` if they never got a slot).
        """
        self.flush()
        while wait:
            with self._lock:
                now = self._clock.now()
                self._service(now)
                pending = next((s for s in self._window.order if s.state is not SlotState.resolved), None)
                futures = self._window.futures_in_flight()
            if pending is None or not futures or now >= pending.deadline:
                break
            done, _ = concurrent.futures.wait(futures, timeout=(pending.deadline - now) / 1e9,
                                              return_when=concurrent.futures.FIRST_COMPLETED)
            if not done:
                break
        with self._lock:
            now = self._clock.now()
            self._service(now)
            for slot in [s for s in self._window.order if s.state is not SlotState.resolved]:
                if slot.state is SlotState.running:
                    self._window.abandon(slot)
                    self._breaker.record_failure("timeout")
                    self._fall_back(slot, FallbackReason.timeout, "no STS result when the input ended")
                else:
                    self._window.leave_waiting(slot)
                    self._fall_back(slot, FallbackReason.no_time, "no STS slot before the input ended")
            blocks = [self._emit(self._window.pop_head(), now) for _ in range(len(self._window.order))]
        self._record(blocks)
        return blocks

    def next_due_ns(self) -> int | None:
        """Clock time at which :meth:`pull` (or a soft deadline) next has work; ``None`` if idle."""
        with self._lock:
            due = [slot.soft_deadline for slot in self._window.running if not slot.soft_warned]
            head = self._window.head()
            if head is not None:
                due.append(head.deadline)
            return min(due) if due else None

    @property
    def finished(self) -> bool:
        """Flushed and every fragment emitted."""
        with self._lock:
            return self._flushed and self._window.head() is None

    @property
    def breaker_state(self) -> BreakerState:
        with self._lock:
            return self._breaker.state

    @property
    def metrics(self) -> CoreMetrics:
        return self._metrics

    def stats(self) -> CoreStats:
        with self._lock:
            return CoreStats(
                emitted=self._counts["emitted"],
                dubbed=self._counts["dubbed"],
                fallbacks=dict(self._fallbacks),
                late_results=self._counts["late"],
                soft_timeouts=self._counts["soft_timeouts"],
                stalls=self._counts["stalls"],
                calls_in_flight=self._window.calls_in_flight,
                waiting=len(self._window.waiting),
                breaker_state=self._breaker.state,
            )

    def wait_for_results(self, until_ns: int, timeout_s: float | None = None) -> bool:
        """Block until every fragment with a (soft) deadline up to ``until_ns`` has its STS outcome.

        For offline replay (``livedub dub``), where the clock follows the file rather than the wall:
        calling this before advancing the clock turns deadlines into "wait for STS". Live callers
        never use it. If ``timeout_s`` passes without any call completing, the fragments waited for
        are given up (later calls do not wait for them again; their deadline decides) and it
        returns ``False``.
        """
        while True:
            with self._lock:
                self._service(self._clock.now())
                needed = [s for s in (*self._window.running, *self._window.waiting)
                          if s.soft_deadline <= until_ns and not s.not_awaited]
                futures = self._window.futures_in_flight()
            if not needed or not futures:
                return True
            done, _ = concurrent.futures.wait(futures, timeout=timeout_s, return_when=concurrent.futures.FIRST_COMPLETED)
            if not done:
                with self._lock:
                    for slot in needed:
                        slot.not_awaited = True
                log.warning("gave up waiting for %d STS result(s) after %.1f s", len(needed), timeout_s or 0.0,
                            extra=self._log_extra)
                return False

    def close(self) -> None:
        """Stop: running STS calls are left to finish on their own; the run bundle gets its summary."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._executor.shutdown()
            if self._bundle is not None:
                stats = self.stats()
                self._bundle.close({
                    "fragments": stats.emitted, "dubbed": stats.dubbed, "fallbacks": stats.fallbacks,
                    "lateResults": stats.late_results, "softTimeouts": stats.soft_timeouts,
                    "stalls": stats.stalls, "unfinished": len(self._window.order),
                })

    # -- admission and STS calls ---------------------------------------------------------------

    def _admit(self, fragment: AudioFragment, now: int) -> None:
        assert self._offset is not None
        deadline = fragment.start_pts + self._offset + self._config.delay_ns - self._config.output_lead_ns
        slot = Slot(fragment=fragment, arrived_at=now, deadline=deadline,
                    soft_deadline=deadline - self._config.soft_margin_ns)
        if now >= deadline:
            self._fall_back(slot, FallbackReason.no_time, "cut after its deadline (input late or delay too short)")
        evicted = self._window.add(slot)
        if evicted is not None:
            log.error("stall buffer full (%d fragments): fragment %s falls back", self._config.stall_buffer,
                      evicted.fragment.id, extra=self._extra(evicted.fragment))
            self._fall_back(evicted, FallbackReason.stall_overflow, "stall buffer full")

    def _call(self, fragment: AudioFragment) -> _StsReply:
        """Runs on an executor thread. Failures become part of the reply, handled on the core's side."""
        try:
            dubbed = self._processor.process(fragment)
        except Exception as exc:  # noqa: BLE001 - classified, counted and logged in _complete
            return _StsReply(completed_at=self._clock.now(), error=exc)
        return _StsReply(completed_at=self._clock.now(), dubbed=dubbed)

    def _service(self, now: int) -> None:
        window = self._window
        for slot in [s for s in window.running if s.future is not None and s.future.done()]:
            window.finish(slot)
            self._complete(slot, slot.future.result())
        for slot in window.reap_abandoned():
            assert slot.future is not None
            self._late_result(slot, slot.future.result())
        for slot in list(window.running):
            if now >= slot.deadline:
                window.abandon(slot)
                waited_ms = (now - (slot.submitted_at or now)) / 1e6
                self._breaker.record_failure("timeout")
                self._fall_back(slot, FallbackReason.timeout, f"no STS result {waited_ms:.0f} ms after submit")
            elif now >= slot.soft_deadline and not slot.soft_warned:
                slot.soft_warned = True
                self._counts["soft_timeouts"] += 1
                self._metrics.soft_timeouts.inc()
                log.warning("fragment %s still in STS %d ms before its deadline", slot.fragment.id,
                            (slot.deadline - now) // 1_000_000, extra=self._extra(slot.fragment))
        for slot in list(window.waiting):
            if now >= slot.deadline:
                window.leave_waiting(slot)
                self._fall_back(slot, FallbackReason.no_time, "waited for an STS slot past its deadline")
        self._breaker.check_backlog(window.backlog)
        self._start_waiting(now)
        self._track_stalls()
        self._metrics.inflight.set(window.calls_in_flight)
        self._metrics.stalled.set(len(window.waiting))

    def _start_waiting(self, now: int) -> None:
        window = self._window
        if self._breaker.state is BreakerState.open:
            for slot in list(window.waiting):
                window.leave_waiting(slot)
                self._fall_back(slot, FallbackReason.breaker_open, "breaker open")
            return
        while window.has_free_slot and (slot := window.next_waiting()) is not None:
            if not self._breaker.allow():
                window.leave_waiting(slot)
                self._fall_back(slot, FallbackReason.breaker_open, "breaker half-open, probe already out")
                continue
            window.start(slot, self._executor.submit(partial(self._call, slot.fragment)), now)

    def _track_stalls(self) -> None:
        waiting = self._window.waiting
        for slot in waiting:
            if not slot.stalled:
                slot.stalled = True
                self._counts["stalls"] += 1
                self._metrics.stalls.inc()
        if waiting and not self._stalling:
            self._stalling = True
            log.warning("STS window full (%d in flight): fragments wait in the stall buffer",
                        self._window.calls_in_flight, extra={**self._log_extra, "waiting": len(waiting)})
        elif not waiting and self._stalling:
            self._stalling = False
            log.info("STS window has room again", extra=self._log_extra)

    def _complete(self, slot: Slot, reply: _StsReply) -> None:
        assert slot.submitted_at is not None
        rtt = reply.completed_at - slot.submitted_at
        self._metrics.sts_rtt_ms.observe(rtt / 1e6)
        fragment = slot.fragment
        if reply.error is not None:
            permanent = isinstance(reply.error, StsError) and not reply.error.retryable
            detail = redact_text(f"{type(reply.error).__name__}: {reply.error}")
            self._breaker.record_failure(detail, permanent=permanent)
            self._fall_back(slot, FallbackReason.sts_error, detail, completed_at=reply.completed_at)
            return
        assert reply.dubbed is not None
        try:
            if reply.dubbed.sequence != fragment.sequence:
                raise InvalidStsOutput(f"result for sequence {reply.dubbed.sequence}, expected {fragment.sequence}")
            clean = sanitise(reply.dubbed, fragment.num_samples)
        except InvalidStsOutput as exc:
            self._breaker.record_failure("invalid output")
            self._fall_back(slot, FallbackReason.invalid_output, str(exc), completed_at=reply.completed_at)
            return
        for fix in clean.fixes:
            self._metrics.sanitiser_fixes.labels(case=fix.value).inc()
        self._breaker.record_success(rtt)
        self._last_good = clean.samples
        slot.audio, slot.state = clean.samples, SlotState.resolved
        slot.result = FragmentResult(
            fragment_id=fragment.id, sequence=fragment.sequence, start_pts=fragment.start_pts,
            duration=fragment.duration, status=FragmentStatus.dubbed,
            timing=self._timing(slot, completed_at=reply.completed_at),
            fixes=tuple(fix.value for fix in clean.fixes),
            transcript=reply.dubbed.transcript, translation=reply.dubbed.translation,
        )

    def _late_result(self, slot: Slot, reply: _StsReply) -> None:
        assert slot.submitted_at is not None
        rtt = reply.completed_at - slot.submitted_at
        self._metrics.sts_rtt_ms.observe(rtt / 1e6)
        self._breaker.record_latency(rtt)
        self._counts["late"] += 1
        self._metrics.late_results.inc()
        log.warning("late STS result for fragment %s discarded (%d ms after submit; it already fell back)",
                    slot.fragment.id, rtt // 1_000_000, extra=self._extra(slot.fragment))

    def _fall_back(self, slot: Slot, reason: FallbackReason, detail: str, completed_at: int | None = None) -> None:
        fragment = slot.fragment
        rendered = self._fallback.render(fragment, self._last_good)
        note = f"{detail}; played {rendered.mode.value} ({rendered.note})" if rendered.note else detail
        slot.audio, slot.state = rendered.samples, SlotState.resolved
        slot.result = FragmentResult(
            fragment_id=fragment.id, sequence=fragment.sequence, start_pts=fragment.start_pts,
            duration=fragment.duration, status=FragmentStatus.fallback,
            timing=self._timing(slot, completed_at=completed_at),
            fallback=rendered.mode, reason=reason, detail=note,
        )
        level = logging.DEBUG if reason is FallbackReason.breaker_open else logging.WARNING
        log.log(level, "fragment %s falls back to %s: %s", fragment.id, rendered.mode.value, note,
                extra={**self._extra(fragment), "reason": reason.value})

    def _timing(self, slot: Slot, completed_at: int | None) -> FragmentTiming:
        return FragmentTiming(arrived_at=slot.arrived_at, deadline=slot.deadline,
                              submitted_at=slot.submitted_at, completed_at=completed_at)

    # -- output --------------------------------------------------------------------------------

    def _emit(self, slot: Slot, now: int) -> OutputBlock:
        assert slot.audio is not None and slot.result is not None, "service resolves every slot by its deadline"
        assert self._offset is not None
        fragment = slot.fragment
        samples = to_int16(self._joiner.join(fragment, slot.audio))
        result = replace(slot.result, timing=replace(slot.result.timing, emitted_at=now))
        self._counts["emitted"] += 1
        self._metrics.fragments.labels(status=result.status.value).inc()
        if result.reason is not None:
            self._fallbacks[result.reason.value] += 1
            self._metrics.fallbacks.labels(reason=result.reason.value).inc()
        else:
            self._counts["dubbed"] += 1
        self._metrics.end_to_end_ms.observe((now - (fragment.start_pts + self._offset)) / 1e6)
        return OutputBlock(sequence=fragment.sequence, pts=fragment.start_pts + self._config.delay_ns,
                           samples=samples, result=result, fragment=fragment)

    def _record(self, blocks: list[OutputBlock]) -> None:
        if self._bundle is None:
            return
        for block in blocks:
            try:
                self._bundle.record_fragment(block.result, block.fragment.samples, block.samples)
            except OSError as exc:  # a full disk must not stop the stream: count, log, go on
                self._metrics.bundle_errors.inc()
                log.error("run bundle write failed: %s", exc, extra={**self._log_extra, "sequence": block.sequence})

    # -- bookkeeping ---------------------------------------------------------------------------

    def _note_fragmenter(self) -> None:
        stats = self._fragmenter.stats
        if stats.forced_cuts > self._seen_forced:
            self._metrics.forced_cuts.inc(stats.forced_cuts - self._seen_forced)
            self._seen_forced = stats.forced_cuts
        if stats.discontinuities > self._seen_discontinuities:
            self._metrics.discontinuities.inc(stats.discontinuities - self._seen_discontinuities)
            self._seen_discontinuities = stats.discontinuities
            log.warning("input timestamps jumped: a new segment starts", extra=self._log_extra)

    def _on_breaker(self, old: BreakerState, new: BreakerState, reason: str) -> None:
        self._metrics.breaker_state.set(new)
        self._metrics.breaker_transitions.labels(to=new.name).inc()

    def _extra(self, fragment: AudioFragment) -> dict[str, Any]:
        return {**self._log_extra, "fragmentId": fragment.id, "sequence": fragment.sequence}
