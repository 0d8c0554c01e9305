"""The streaming core: the one object the worker (and the file replay, and the tests) drive.

    push(pcm, pts) -> fragmenter -> segmenter -> window (stall buffer, <= max_inflight STS calls)
                                                    |  executor runs processor.process(segment)
    pull()  <-  joiner (crossfade)  <-  run-on | sanitiser | fallback  <-  deadlines, breaker, ladder

Fragments are the unit of ordering, deadlines, fallbacks and output; speech segments (one or more
fragments with speech, see :mod:`livedub.core.segmenter`) are the unit the STS works on: one call
per segment, its dub laid over the fragments it spans, and its run-on (``tail``) over the
non-speech fragments that follow, up to the next speech. Fragments without speech need no call.

Time comes only from the injected clock. The mapping from input PTS to clock time is fixed by the
first block pushed (its end arrived "now"), or by the caller (:meth:`StreamingCore.anchor`); a
fragment starting at input PTS ``p`` must be handed out at ``clock(p) + delay - output_lead`` (its
deadline) and plays at output PTS ``p + delay``. A segment's deadline is its first fragment's.

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

from livedub.core.audio import to_float, to_int16
from livedub.core.breaker import BreakerState, CircuitBreaker
from livedub.core.bundle import RunBundle
from livedub.core.bundle_writer import BundleWriter, FragmentRecorder
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
    SpeechSegment,
    ns_to_samples,
    samples_to_ns,
)
from livedub.core.metrics import CoreMetrics
from livedub.core.processor import Separator, StsError, StsProcessor
from livedub.core.quality import QualityLadder, StepTaken
from livedub.core.sanitiser import FADE_SAMPLES, InvalidStsOutput, sanitise
from livedub.core.segmenter import Segmenter, Unit
from livedub.core.vad import EnergyVad, Vad
from livedub.core.window import InflightWindow, Job, JobState, Slot
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
    no_speech: int = 0  # fragments without speech (no STS call needed)
    segments: int = 0  # speech segments closed (one STS call each)
    segments_dubbed: int = 0
    tier: str = ""  # the quality rung voicing new segments now
    tiers: dict[str, int] | None = None  # segments dubbed per rung
    quality_steps: tuple[StepTaken, ...] = ()


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
        bundle_in_background: bool = False,
    ) -> None:
        self._config = config
        self._processor = processor
        self._clock = clock
        self._executor = executor
        self._stream_id = stream_id
        self._metrics = metrics or CoreMetrics(CollectorRegistry())
        # the live worker feeds the core from GStreamer's streaming thread: its records go to the
        # disk on a writer thread (bounded; what it has no room for is dropped and counted)
        self._bundle: FragmentRecorder | None = (
            BundleWriter(bundle, on_error=self.bundle_write_failed, on_drop=self.bundle_record_dropped)
            if bundle is not None and bundle_in_background else bundle)
        self._bugs_seen: set[str] = set()
        self._log_extra: dict[str, Any] = {"streamId": stream_id}
        if run_id:
            self._log_extra["runId"] = run_id
        self._fragmenter = Fragmenter(config.fragmenter, vad or EnergyVad(), stream_id)
        self._segmenter = Segmenter(config.segmenter)
        self._window = InflightWindow(config.max_inflight, config.stall_buffer)
        self._breaker = CircuitBreaker(config.breaker, clock, on_transition=self._on_breaker)
        self._fallback = FallbackRenderer(config.fallback, separator=separator, duck_gain_db=config.duck_gain_db)
        self._ladder = _ladder_for(processor, config)
        self._joiner = Joiner()
        self._lock = RLock()
        self._offset: int | None = None  # clock time minus input PTS
        self._unsegmented: dict[str, Slot] = {}  # fragment id -> slot, until the segmenter hands it out
        self._run_on: np.ndarray | None = None  # a dub's tail still to lay over the next non-speech fragments
        self._last_good: np.ndarray | None = None
        self._flushed = False
        self._closed = False
        self._stalling = False
        self._counts: Counter[str] = Counter()
        self._fallbacks: Counter[str] = Counter()
        self._tiers: Counter[str] = Counter()
        self._steps: list[StepTaken] = []
        self._seen_forced = 0
        self._seen_discontinuities = 0
        self._metrics.breaker_state.set(BreakerState.closed)
        for rung in self._ladder.rungs:
            self._metrics.quality_tier.labels(tier=rung).set(1 if rung == self._ladder.rung else 0)

    # -- the caller's interface ----------------------------------------------------------------

    def anchor(self, offset_ns: int) -> None:
        """Fix the input->clock mapping (clock time minus input PTS) before the first push, so the
        core's deadlines follow the same anchor as the caller's video (the worker's timeline)."""
        with self._lock:
            if self._offset is not None and self._offset != offset_ns:
                raise RuntimeError("the core's time anchor is already fixed")
            self._offset = offset_ns

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
        self._close_input(final=True)

    def interrupt(self) -> None:
        """The input paused (it ended and may come back): the buffered audio becomes fragments and
        the open utterance closes now, so they are dubbed and released on time; pushes may follow
        (after a timestamp gap, which starts a new segment anyway)."""
        self._close_input(final=False)

    def _close_input(self, *, final: bool) -> None:
        with self._lock:
            if self._closed or self._flushed:
                return
            now = self._clock.now()
            for fragment in self._fragmenter.flush():
                self._admit(fragment, now)
            self._admit_units(self._segmenter.flush(), now)
            self._flushed = final
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
                pending = next((s for s in self._window.order if not s.resolved), None)
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
            for job in list(self._window.running):
                self._window.abandon(job)
                self._breaker.record_failure("timeout")
                self._fall_back_job(job, FallbackReason.timeout, "no STS result when the input ended")
            for job in list(self._window.waiting):
                self._window.leave_waiting(job)
                self._fall_back_job(job, FallbackReason.no_time, "no STS slot before the input ended")
            blocks = [self._emit(self._window.pop_head(), now) for _ in range(len(self._window.order))]
        self._record(blocks)
        return blocks

    def next_due_ns(self) -> int | None:
        """Clock time at which :meth:`pull` (or a soft deadline) next has work; ``None`` if idle."""
        with self._lock:
            due = [job.soft_deadline for job in self._window.running if not job.soft_warned]
            head = self._window.head()
            if head is not None:
                due.append(head.deadline)
            if (first_open := self._first_open_slot()) is not None:
                due.append(first_open.deadline - self._config.soft_margin_ns)
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
    def quality_tier(self) -> str:
        with self._lock:
            return self._ladder.rung

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
                no_speech=self._counts["no_speech"],
                segments=self._counts["segments"],
                segments_dubbed=self._counts["segments_dubbed"],
                tier=self._ladder.rung,
                tiers=dict(self._tiers),
                quality_steps=tuple(self._steps),
            )

    def wait_for_results(self, until_ns: int, timeout_s: float | None = None) -> bool:
        """Block until every segment with a (soft) deadline up to ``until_ns`` has its STS outcome.

        For offline replay (``livedub dub``), where the clock follows the file rather than the wall:
        calling this before advancing the clock turns deadlines into "wait for STS". Live callers
        never use it. If ``timeout_s`` passes without any call completing, the segments waited for
        are given up (later calls do not wait for them again; their deadline decides) and it
        returns ``False``.
        """
        while True:
            with self._lock:
                self._service(self._clock.now())
                needed = [job for job in (*self._window.running, *self._window.waiting)
                          if job.soft_deadline <= until_ns and not job.not_awaited]
                futures = self._window.futures_in_flight()
            if not needed or not futures:
                return True
            done, _ = concurrent.futures.wait(futures, timeout=timeout_s, return_when=concurrent.futures.FIRST_COMPLETED)
            if not done:
                with self._lock:
                    for job in needed:
                        job.not_awaited = True
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
                    "fragments": stats.emitted, "dubbed": stats.dubbed, "noSpeech": stats.no_speech,
                    "fallbacks": stats.fallbacks, "segments": stats.segments,
                    "segmentsDubbed": stats.segments_dubbed, "tiers": stats.tiers or {},
                    "qualitySteps": [{"step": s.step.value, "from": s.old, "to": s.new, "reason": s.reason}
                                     for s in stats.quality_steps],
                    "lateResults": stats.late_results, "softTimeouts": stats.soft_timeouts,
                    "stalls": stats.stalls, "unfinished": len(self._window.order),
                })

    # -- admission and STS calls ---------------------------------------------------------------

    def _admit(self, fragment: AudioFragment, now: int) -> None:
        assert self._offset is not None
        deadline = fragment.start_pts + self._offset + self._config.delay_ns - self._config.output_lead_ns
        slot = Slot(fragment=fragment, arrived_at=now, deadline=deadline)
        self._window.add_slot(slot)
        self._unsegmented[fragment.id] = slot
        self._admit_units(self._segmenter.push(fragment), now)

    def _admit_units(self, units: list[Unit], now: int) -> None:
        for unit in units:
            if isinstance(unit, SpeechSegment):
                self._admit_segment(unit, now)
            else:
                self._without_speech(self._unsegmented.pop(unit.id))

    def _admit_segment(self, segment: SpeechSegment, now: int) -> None:
        slots = tuple(self._unsegmented.pop(fragment.id) for fragment in segment.fragments)
        job = Job(segment=segment, slots=slots, created_at=now, soft_margin_ns=self._config.soft_margin_ns)
        self._counts["segments"] += 1
        evicted = self._window.add_job(job)
        if evicted is not None:
            log.error("stall buffer full (%d segments): segment %s falls back", self._config.stall_buffer,
                      evicted.segment.id, extra={**self._log_extra, "segmentId": evicted.segment.id})
            self._fall_back_job(evicted, FallbackReason.stall_overflow, "stall buffer full")

    def _without_speech(self, slot: Slot) -> None:
        """Nothing to dub: the original plays (a preceding dub's run-on is laid over it on output)."""
        fragment = slot.fragment
        slot.audio = to_float(fragment.samples)
        slot.result = FragmentResult(
            fragment_id=fragment.id, sequence=fragment.sequence, start_pts=fragment.start_pts,
            duration=fragment.duration, status=FragmentStatus.no_speech,
            timing=FragmentTiming(arrived_at=slot.arrived_at, deadline=slot.deadline), speech=False,
        )

    def _first_open_slot(self) -> Slot | None:
        open_fragments = self._segmenter.open_fragments
        return self._unsegmented.get(open_fragments[0].id) if open_fragments else None

    def _call(self, segment: SpeechSegment) -> _StsReply:
        """Runs on an executor thread. Failures become part of the reply, handled on the core's side."""
        try:
            dubbed = self._processor.process(segment)
        except Exception as exc:  # noqa: BLE001 - classified, counted and logged in _complete
            return _StsReply(completed_at=self._clock.now(), error=exc)
        return _StsReply(completed_at=self._clock.now(), dubbed=dubbed)

    def _service(self, now: int) -> None:
        window = self._window
        for job in [j for j in window.running if j.future is not None and j.future.done()]:
            window.finish(job)
            self._complete(job, job.future.result())
        for job in window.reap_abandoned():
            assert job.future is not None
            self._late_result(job, job.future.result())
        for job in list(window.running):
            if now >= job.deadline:
                window.abandon(job)
                waited_ms = (now - (job.submitted_at or now)) / 1e6
                if self._ladder.at_bottom:  # a slow STS steps the quality down first; the breaker is for a broken one
                    self._breaker.record_failure("timeout")
                self._quality(None, rung=job.segment.tier)
                self._fall_back_job(job, FallbackReason.timeout, f"no STS result {waited_ms:.0f} ms after submit")
            elif now >= job.soft_deadline and not job.soft_warned:
                job.soft_warned = True
                self._counts["soft_timeouts"] += 1
                self._metrics.soft_timeouts.inc()
                log.warning("segment %s still in STS %d ms before its deadline", job.segment.id,
                            (job.deadline - now) // 1_000_000, extra=self._job_extra(job))
        first_open = self._first_open_slot()
        if first_open is not None and now >= first_open.deadline - self._config.soft_margin_ns:
            # the utterance is still going but its first fragment is due: dub what there is
            self._admit_units(self._segmenter.close(), now)
        for job in list(window.waiting):
            if now >= job.deadline:
                window.leave_waiting(job)
                self._quality(None, rung=self._ladder.rung)
                self._fall_back_job(job, FallbackReason.no_time, "waited for an STS slot past its deadline")
        self._breaker.check_backlog(window.backlog)
        self._start_waiting(now)
        self._track_stalls()
        self._metrics.inflight.set(window.calls_in_flight)
        self._metrics.stalled.set(len(window.waiting))

    def _start_waiting(self, now: int) -> None:
        window = self._window
        if self._breaker.state is BreakerState.open:
            for job in list(window.waiting):
                window.leave_waiting(job)
                self._fall_back_job(job, FallbackReason.breaker_open, "breaker open")
            return
        while window.has_free_slot and (job := window.next_waiting()) is not None:
            if not self._breaker.allow():
                window.leave_waiting(job)
                self._fall_back_job(job, FallbackReason.breaker_open, "breaker half-open, probe already out")
                continue
            # chosen per segment, never inside one: the ladder's rung, or a cheaper one that fits in time
            job.segment = job.segment.with_tier(self._ladder.rung_for(job.segment.duration, job.deadline - now))
            window.start(job, self._executor.submit(partial(self._call, job.segment)), now)

    def _track_stalls(self) -> None:
        waiting = self._window.waiting
        for job in waiting:
            if not job.stalled:
                job.stalled = True
                self._counts["stalls"] += 1
                self._metrics.stalls.inc()
        if waiting and not self._stalling:
            self._stalling = True
            log.warning("STS window full (%d in flight): segments wait in the stall buffer",
                        self._window.calls_in_flight, extra={**self._log_extra, "waiting": len(waiting)})
        elif not waiting and self._stalling:
            self._stalling = False
            log.info("STS window has room again", extra=self._log_extra)

    def _complete(self, job: Job, reply: _StsReply) -> None:
        assert job.submitted_at is not None
        rtt = reply.completed_at - job.submitted_at
        self._metrics.sts_rtt_ms.observe(rtt / 1e6)
        segment = job.segment
        if reply.error is not None:
            if not isinstance(reply.error, StsError):
                self._sts_bug(reply.error)
            permanent = isinstance(reply.error, StsError) and not reply.error.retryable
            detail = redact_text(f"{type(reply.error).__name__}: {reply.error}")
            self._breaker.record_failure(detail, permanent=permanent)
            self._fall_back_job(job, FallbackReason.sts_error, detail, completed_at=reply.completed_at)
            return
        assert reply.dubbed is not None
        try:
            if reply.dubbed.sequence != segment.sequence:
                raise InvalidStsOutput(f"result for segment {reply.dubbed.sequence}, expected {segment.sequence}")
            clean = sanitise(reply.dubbed, segment.num_samples)
        except InvalidStsOutput as exc:
            self._breaker.record_failure("invalid output")
            self._fall_back_job(job, FallbackReason.invalid_output, str(exc), completed_at=reply.completed_at)
            return
        for fix in clean.fixes:
            self._metrics.sanitiser_fixes.labels(case=fix.value).inc()
        self._breaker.record_success(rtt)
        self._quality(job.deadline - reply.completed_at, cost_ns=rtt, audio_ns=segment.duration, rung=segment.tier,
                      voiced=bool(reply.dubbed.translation))
        tier = reply.dubbed.tier or segment.tier
        self._last_good = clean.samples
        job.state, job.tail = JobState.resolved, _clean_tail(reply.dubbed.tail, segment.spill_ns)
        self._counts["segments_dubbed"] += 1
        self._tiers[tier] += 1
        self._metrics.segments.labels(status=FragmentStatus.dubbed.value).inc()
        for index, slot in enumerate(job.slots):
            fragment = slot.fragment
            offset = segment.offset_of(fragment)
            slot.audio = clean.samples[offset:offset + fragment.num_samples]
            first = index == 0  # the segment's text goes with its first fragment, once
            slot.result = FragmentResult(
                fragment_id=fragment.id, sequence=fragment.sequence, start_pts=fragment.start_pts,
                duration=fragment.duration, status=FragmentStatus.dubbed,
                timing=self._timing(slot, completed_at=reply.completed_at),
                fixes=tuple(fix.value for fix in clean.fixes),
                transcript=reply.dubbed.transcript if first else None,
                translation=reply.dubbed.translation if first else None,
                segment_id=segment.id, tier=tier,
                stage_seconds=dict(reply.dubbed.stage_seconds) if first else None,
                voice_span_ns=_from_fragment(reply.dubbed.voice_span_ns, samples_to_ns(offset)) if first else None,
            )

    def _late_result(self, job: Job, reply: _StsReply) -> None:
        assert job.submitted_at is not None
        rtt = reply.completed_at - job.submitted_at
        self._metrics.sts_rtt_ms.observe(rtt / 1e6)
        self._breaker.record_latency(rtt)
        self._counts["late"] += 1
        self._metrics.late_results.inc()
        stages = dict(reply.dubbed.stage_seconds) if reply.dubbed is not None else {}
        log.warning("late STS result for segment %s discarded (%d ms after submit; it already fell back)",
                    job.segment.id, rtt // 1_000_000,
                    extra={**self._job_extra(job), "stageSeconds": {k: round(v, 3) for k, v in stages.items()}})

    def _quality(self, slack_ns: int | None, *, cost_ns: int | None = None, audio_ns: int | None = None,
                 rung: str | None = None, voiced: bool = True) -> None:
        taken = self._ladder.observe(slack_ns, cost_ns, audio_ns, rung, voiced)
        if taken is None:
            return
        self._steps.append(taken)
        self._metrics.quality_steps.labels(direction=taken.step.value, tier=taken.new).inc()
        for name in self._ladder.rungs:
            self._metrics.quality_tier.labels(tier=name).set(1 if name == taken.new else 0)
        log.warning("quality steps %s: %s -> %s (%s)", taken.step.value, taken.old, taken.new, taken.reason,
                    extra={**self._log_extra, "qualityStep": taken.step.value, "tier": taken.new})

    def _fall_back_job(self, job: Job, reason: FallbackReason, detail: str, completed_at: int | None = None) -> None:
        job.state = JobState.resolved
        self._metrics.segments.labels(status=FragmentStatus.fallback.value).inc()
        for slot in job.slots:
            self._fall_back(slot, reason, detail, completed_at)
        level = logging.DEBUG if reason is FallbackReason.breaker_open else logging.WARNING
        log.log(level, "segment %s (%d fragment(s)) falls back: %s", job.segment.id, len(job.slots), detail,
                extra={**self._job_extra(job), "reason": reason.value})

    def _fall_back(self, slot: Slot, reason: FallbackReason, detail: str, completed_at: int | None = None) -> None:
        fragment = slot.fragment
        rendered = self._fallback.render(fragment, self._last_good)
        note = f"{detail}; played {rendered.mode.value} ({rendered.note})" if rendered.note else detail
        slot.audio = rendered.samples
        slot.result = FragmentResult(
            fragment_id=fragment.id, sequence=fragment.sequence, start_pts=fragment.start_pts,
            duration=fragment.duration, status=FragmentStatus.fallback,
            timing=self._timing(slot, completed_at=completed_at),
            fallback=rendered.mode, reason=reason, detail=note,
            segment_id=slot.job.segment.id if slot.job is not None else None,
        )

    def _timing(self, slot: Slot, completed_at: int | None) -> FragmentTiming:
        submitted = slot.job.submitted_at if slot.job is not None else None
        return FragmentTiming(arrived_at=slot.arrived_at, deadline=slot.deadline,
                              submitted_at=submitted, completed_at=completed_at)

    # -- output --------------------------------------------------------------------------------

    def _emit(self, slot: Slot, now: int) -> OutputBlock:
        assert slot.audio is not None and slot.result is not None, "service resolves every slot by its deadline"
        assert self._offset is not None
        fragment = slot.fragment
        audio = self._lay_run_on(slot)
        samples = to_int16(self._joiner.join(fragment, audio))
        result = replace(slot.result, timing=replace(slot.result.timing, emitted_at=now))
        self._counts["emitted"] += 1
        self._metrics.fragments.labels(status=result.status.value).inc()
        if result.reason is not None:
            self._fallbacks[result.reason.value] += 1
            self._metrics.fallbacks.labels(reason=result.reason.value).inc()
        elif result.status is FragmentStatus.no_speech:
            self._counts["no_speech"] += 1
        else:
            self._counts["dubbed"] += 1
        self._metrics.end_to_end_ms.observe((now - (fragment.start_pts + self._offset)) / 1e6)
        return OutputBlock(sequence=fragment.sequence,
                           samples=samples, result=result, fragment=fragment)

    def _lay_run_on(self, slot: Slot) -> np.ndarray:
        """A dubbed segment's tail runs on over the non-speech fragments after it, up to the next speech."""
        assert slot.audio is not None and slot.result is not None
        if slot.result.speech:
            job = slot.job
            last_of_dub = job is not None and slot is job.slots[-1] and slot.result.status is FragmentStatus.dubbed
            self._run_on = job.tail if last_of_dub and job is not None else None
            return slot.audio
        run_on, self._run_on = self._run_on, None
        if run_on is None or not len(run_on):
            return slot.audio
        own = slot.fragment.num_samples - slot.fragment.overlap_samples
        part = run_on[:own].copy()
        following = self._window.head()  # slot was popped: the head is the fragment after it
        if len(run_on) > own and (following is None or following.result is None or following.result.speech):
            fade = min(FADE_SAMPLES, len(part))  # speech (or the unknown) follows: the run-on ends here
            part[len(part) - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
        elif len(run_on) > own:
            self._run_on = run_on[own:]
        audio = slot.audio.copy()
        audio[:len(part)] = np.clip(audio[:len(part)] + part, -1.0, 1.0)
        return audio

    def _record(self, blocks: list[OutputBlock]) -> None:
        if self._bundle is None:
            return
        for block in blocks:
            try:
                self._bundle.record_fragment(block.result, block.fragment.samples, block.samples)
            except OSError as exc:
                self.bundle_write_failed(exc, block.sequence)

    def _sts_bug(self, error: BaseException) -> None:
        """An STS call raised something other than :class:`StsError`: not a decision of a stage but a
        bug in one. It falls back like an STS error (the stream goes on), is counted apart, and its
        traceback is logged the first time each type is seen."""
        self._metrics.sts_bugs.inc()
        kind = type(error).__name__
        if kind not in self._bugs_seen:
            self._bugs_seen.add(kind)
            log.error("STS raised %s: a bug in a stage, not an STS error", kind, exc_info=error,
                      extra=self._log_extra)

    def bundle_write_failed(self, exc: OSError, sequence: int) -> None:
        """A run-bundle record that could not be written (here, or on a :class:`BundleWriter`'s
        thread): a full disk must not stop the stream: count, log, go on."""
        self._metrics.bundle_errors.inc()
        log.error("run bundle write failed: %s", exc, extra={**self._log_extra, "sequence": sequence})

    def bundle_record_dropped(self, sequence: int, dropped: int) -> None:
        """A record the :class:`BundleWriter` had no room for (the disk fell behind); ``dropped``: so far."""
        self._metrics.bundle_dropped.inc()
        if dropped == 1:  # the first one; the run's summary has the total
            log.warning("run bundle writer fell behind; dropping fragment records",
                        extra={**self._log_extra, "sequence": sequence})

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

    def _job_extra(self, job: Job) -> dict[str, Any]:
        return {**self._log_extra, "segmentId": job.segment.id, "fragmentId": job.slots[0].fragment.id,
                "sequence": job.slots[0].fragment.sequence}


def _ladder_for(processor: StsProcessor, config: CoreConfig) -> QualityLadder:
    """The processor's rungs (best first); a processor without any has one unnamed rung."""
    rungs = tuple(getattr(processor, "quality_rungs", ()) or ())
    if not rungs:
        return QualityLadder(("",), replace(config.quality, mode="auto"))
    return QualityLadder(rungs, config.quality)


def _from_fragment(span_ns: tuple[int, int] | None, fragment_offset_ns: int) -> tuple[int, int] | None:
    """A span from a segment's start, made relative to one of its fragments' start."""
    return None if span_ns is None else (span_ns[0] - fragment_offset_ns, span_ns[1] - fragment_offset_ns)


def _clean_tail(tail: np.ndarray | None, spill_ns: int) -> np.ndarray | None:
    """An STS run-on as float32 (m, 2) at 48 kHz, finite, within full scale, at most ``spill_ns`` long."""
    if tail is None or spill_ns <= 0:
        return None
    data = to_float(tail) if tail.dtype == np.int16 else np.asarray(tail, dtype=np.float32)
    if data.ndim == 1:
        data = np.repeat(data[:, None], 2, axis=1)
    data = np.nan_to_num(data[: ns_to_samples(spill_ns), :2], nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(data, -1.0, 1.0) if len(data) else None
