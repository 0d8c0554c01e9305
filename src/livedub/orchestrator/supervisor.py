"""The pure supervisor: every stream's state machine, with time passed in (no I/O, no sleeps).

Events go in (``ready``, ``not_ready``, worker started/exited, reconciliation, ``tick``) and
effects come out (:class:`StartWorker`, :class:`StopWorker`). The actor (``actor.py``) feeds it
from one asyncio task and carries the effects out, so this object is the single owner of all
stream state; tests drive it with a fake clock.

The invariant it keeps: a :class:`StartWorker` is only emitted for a stream that has no worker
run (``run_id is None``), and ``run_id`` is only cleared by that run's exit. So at most one
worker per stream exists, whatever order events arrive in.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from livedub.config.stream_query import StreamSettings
from livedub.orchestrator.state import OCCUPYING, KnownStream, StreamRecord, StreamState
from livedub.proc.backoff import RestartPolicy, degraded_reason
from livedub.proc.exit_codes import describe as describe_exit
from livedub.proc.exit_codes import is_permanent

log = logging.getLogger(__name__)

IDLE_RECORD_TTL = 3600.0  # forget idle streams after an hour
MAX_RECORDS = 10_000


@dataclass(frozen=True)
class StartWorker:
    stream_id: str
    run_id: str
    settings: StreamSettings
    restart: bool = False
    correlation_id: str = ""


@dataclass(frozen=True)
class StopWorker:
    stream_id: str
    run_id: str
    reason: str
    correlation_id: str = ""


Effect = StartWorker | StopWorker


class Admission(str, Enum):
    accepted = "accepted"
    duplicate = "duplicate"  # nothing to do: the event repeats what is known
    stale = "stale"  # an older publisher's event, overtaken by a newer one
    at_capacity = "at_capacity"


@dataclass(frozen=True)
class Decision:
    admission: Admission
    effects: tuple[Effect, ...] = ()
    detail: str = ""
    worker_starting: bool = False  # a new worker is on its way for this event (the media server may hold the publisher)


@dataclass(frozen=True)
class SupervisorPolicy:
    grace_period: float = 30.0
    max_workers: int = 4
    restart: RestartPolicy = field(default_factory=RestartPolicy)


class Supervisor:
    def __init__(self, policy: SupervisorPolicy, rng: random.Random | None = None,
                 new_run_id: Callable[[], str] | None = None) -> None:
        self.policy = policy
        self._rng = rng or random.Random()
        self._new_run_id = new_run_id or (lambda: uuid.uuid4().hex[:12])
        self._streams: dict[str, StreamRecord] = {}

    # -- queries ---------------------------------------------------------------------------
    def get(self, stream_id: str) -> StreamRecord | None:
        return self._streams.get(stream_id)

    def records(self) -> list[StreamRecord]:
        return [self._streams[k] for k in sorted(self._streams)]

    def occupied_slots(self) -> int:
        return sum(1 for r in self._streams.values() if r.state in OCCUPYING)

    def next_deadline(self) -> float | None:
        deadlines = [d for r in self._streams.values() for d in (r.grace_deadline, r.backoff_deadline)
                     if d is not None]
        return min(deadlines) if deadlines else None

    # -- hook events -----------------------------------------------------------------------
    def ready(self, stream_id: str, settings: StreamSettings, now: float, source_id: str = "",
              source_type: str = "", correlation_id: str = "") -> Decision:
        rec = self._streams.get(stream_id)
        if rec is not None and source_id and source_id in rec.ended_sources:
            return Decision(Admission.stale, detail=f"source {source_id} already ended")
        if rec is not None and rec.state == StreamState.degraded and (not source_id or
                                                                     source_id == rec.degraded_source_id):
            return Decision(Admission.duplicate, detail="stream is degraded; waiting for a new publisher")
        if rec is not None and rec.held and (not source_id or source_id == rec.held_source_id):
            return Decision(Admission.duplicate, detail="stopped by the operator; restart it or publish again")
        occupying = rec is not None and rec.state in OCCUPYING
        if not occupying and self.occupied_slots() >= self.policy.max_workers:
            # remember the settings: reconciliation starts the stream once a slot frees up
            rec = rec or self._new_record(stream_id, now)
            rec.live = True
            rec.settings = settings
            rec.last_event_at = now
            rec.last_error = f"rejected: {self.policy.max_workers} streams already active (ORCH_MAX_WORKERS)"
            return Decision(Admission.at_capacity, detail=rec.last_error)
        rec = rec or self._new_record(stream_id, now)
        rec.last_event_at = now
        rec.last_correlation_id = correlation_id or rec.last_correlation_id
        was_live, had_grace = rec.live, rec.grace_deadline is not None
        new_source = bool(source_id) and source_id != rec.source_id
        rec.live = True
        rec.grace_deadline = None
        if source_id:
            rec.source_id = source_id
        if source_type:
            rec.source_type = source_type
        rec.held = False  # a new publisher: the operator's stop was for the one before
        if rec.state == StreamState.degraded:
            self._clear_degraded(rec, now)
        if rec.state == StreamState.backoff and new_source:
            # a new publisher (the media server came back, the encoder reconnected) is a fresh reason
            # to try: it does not wait out the backoff of the crashes its predecessor's loss caused
            rec.crashes.clear()
            rec.backoff_deadline = None
            self._set_state(rec, StreamState.idle, now)
        if rec.state == StreamState.idle:
            rec.settings = settings
            return Decision(Admission.accepted, (self._start(rec, now, correlation_id),), worker_starting=True)
        if rec.state == StreamState.stopping:
            rec.next_settings = settings  # started once the old worker has exited
            return Decision(Admission.accepted, detail="worker stopping; a new one starts after it exits",
                            worker_starting=True)
        if had_grace:
            return Decision(Admission.accepted, detail="reconnected within the grace period; worker kept")
        if settings != rec.settings and settings.overrides:
            log.warning("ready with other settings for a stream that already has a worker; keeping the "
                        "worker's settings", extra={"streamId": stream_id})
        return Decision(Admission.duplicate if was_live else Admission.accepted)

    def not_ready(self, stream_id: str, now: float, source_id: str = "", correlation_id: str = "") -> Decision:
        rec = self._streams.get(stream_id)
        if rec is None:
            if not source_id:
                return Decision(Admission.duplicate, detail="unknown stream")
            rec = self._new_record(stream_id, now)  # remember the ended source (reordered events)
        if source_id:
            if source_id not in rec.ended_sources:
                rec.ended_sources.append(source_id)
            if rec.source_id and source_id != rec.source_id:
                return Decision(Admission.stale, detail=f"source {source_id} is not the current publisher")
        rec.last_event_at = now
        rec.last_correlation_id = correlation_id or rec.last_correlation_id
        was_live = rec.live
        rec.live = False
        rec.next_settings = None
        effects = self._begin_grace(rec, now, correlation_id)
        return Decision(Admission.accepted if was_live else Admission.duplicate, effects)

    # -- worker lifecycle --------------------------------------------------------------------
    def worker_started(self, stream_id: str, run_id: str, pid: int | None, now: float,
                       where: str | None = None) -> None:
        rec = self._streams.get(stream_id)
        if rec is None or rec.run_id != run_id:
            return
        rec.pid, rec.where = pid, where
        if rec.state == StreamState.starting:
            self._set_state(rec, StreamState.running, now)

    def worker_exited(self, stream_id: str, run_id: str, exit_code: int | None, now: float,
                      error: str | None = None) -> tuple[Effect, ...]:
        rec = self._streams.get(stream_id)
        if rec is None or rec.run_id != run_id:
            return ()
        rec.run_id = None
        rec.pid = rec.where = None
        rec.last_exit_code = exit_code
        if rec.state == StreamState.stopping:
            rec.stops += 1
            if rec.live and not rec.held:  # a ready arrived while it was stopping, or a restart
                rec.settings = rec.next_settings or rec.settings
                rec.next_settings = None
                self._set_state(rec, StreamState.idle, now)
                return (self._start(rec, now, rec.last_correlation_id),)
            self._set_state(rec, StreamState.idle, now)
            return ()
        # an exit nobody asked for
        if not rec.live:  # the ingest is gone (grace running): the worker saw its input end; not a failure
            if exit_code not in (0, None) or error:
                rec.last_error = error or f"worker exited with code {exit_code} after its ingest ended"
            rec.grace_deadline = None
            self._set_state(rec, StreamState.idle, now)
            return ()
        if rec.held:  # the operator stopped it (an exit racing the stop)
            self._set_state(rec, StreamState.idle, now)
            return ()
        if exit_code == 0 and not error:
            # the worker finished its input (the publisher ended) and a new publisher is already here
            self._set_state(rec, StreamState.idle, now)
            return (self._start(rec, now, rec.last_correlation_id),)
        rec.failures += 1
        meaning = f" ({describe_exit(exit_code)})" if exit_code is not None else ""
        rec.last_error = error or f"worker exited with code {exit_code}{meaning} while its ingest was live"
        if exit_code is not None and is_permanent(exit_code):
            detail = f": {error}" if error else ""
            rec.degraded_reason = (f"worker exited with code {exit_code}{meaning}{detail}; a restart cannot help: "
                                   "fix the settings, the publisher's codecs (H.264 + AAC) or the installation, "
                                   "then publish again")
            rec.degraded_source_id = rec.source_id
            self._set_state(rec, StreamState.degraded, now)
            log.error("stream degraded", extra={"streamId": stream_id, "reason": rec.degraded_reason})
            return ()
        crashes = rec.crashes.record(now, self.policy.restart)
        if crashes > self.policy.restart.max_in_window:
            rec.degraded_reason = degraded_reason(crashes, self.policy.restart, rec.last_error)
            rec.degraded_source_id = rec.source_id
            self._set_state(rec, StreamState.degraded, now)
            log.error("stream degraded", extra={"streamId": stream_id, "reason": rec.degraded_reason})
            return ()
        delay = self.policy.restart.delay(crashes, self._rng)
        rec.backoff_deadline = now + delay
        self._set_state(rec, StreamState.backoff, now)
        log.warning("worker crashed; restarting after backoff",
                    extra={"streamId": stream_id, "delaySeconds": round(delay, 3), "crashesInWindow": crashes,
                           "error": rec.last_error})
        return ()

    # -- time and reconciliation -----------------------------------------------------------------
    def tick(self, now: float) -> tuple[Effect, ...]:
        effects: list[Effect] = []
        for rec in list(self._streams.values()):
            if rec.grace_deadline is not None and now >= rec.grace_deadline:
                rec.grace_deadline = None
                effects.extend(self._grace_expired(rec, now))
            if rec.state == StreamState.backoff and rec.backoff_deadline is not None \
                    and now >= rec.backoff_deadline:
                rec.backoff_deadline = None
                rec.restarts += 1
                self._set_state(rec, StreamState.idle, now)
                effects.append(self._start(rec, now, rec.last_correlation_id, restart=True))
        self._forget_old(now)
        return tuple(effects)

    def reconcile(self, live_ids: Iterable[str], observed_at: float, now: float,
                  known: Mapping[str, KnownStream] | None = None) -> tuple[Effect, ...]:
        """Align with the media server's list of published ingest paths, taken at ``observed_at``.

        Streams with an event newer than the listing are left alone (the event is fresher). A live
        stream without a worker starts with its last known settings: its record's, or for a stream
        this supervisor has no record of, those in ``known`` (remembered across an orchestrator
        restart). A worker whose ingest is not listed is treated like ``not-ready`` (grace period,
        then stop).
        """
        live = set(live_ids)
        effects: list[Effect] = []
        for stream_id in sorted(live):
            rec = self._streams.get(stream_id)
            if rec is not None and rec.last_event_at > observed_at:
                continue
            if rec is not None and (rec.state == StreamState.degraded or rec.held):
                continue
            if rec is None or rec.state == StreamState.idle:
                if self.occupied_slots() >= self.policy.max_workers:
                    log.warning("live stream without a worker, but no slot is free",
                                extra={"streamId": stream_id, "maxWorkers": self.policy.max_workers})
                    continue
                rec = rec or self._restored_record(stream_id, (known or {}).get(stream_id), now)
                rec.live = True
                rec.last_correlation_id = "reconcile"
                log.info("reconcile: starting a worker for a live stream", extra={"streamId": stream_id})
                effects.append(self._start(rec, now, "reconcile"))
                continue
            if not rec.live or rec.grace_deadline is not None:
                log.info("reconcile: ingest is live again; grace cancelled", extra={"streamId": stream_id})
                rec.live = True
                rec.grace_deadline = None
        for rec in list(self._streams.values()):
            if rec.stream_id in live or rec.last_event_at > observed_at:
                continue
            if rec.state in (StreamState.starting, StreamState.running, StreamState.backoff) and rec.live:
                log.info("reconcile: worker without a live ingest; stopping after the grace period",
                         extra={"streamId": rec.stream_id})
                rec.live = False
                effects.extend(self._begin_grace(rec, now, "reconcile"))
            elif rec.state == StreamState.stopping or rec.state == StreamState.idle:
                rec.live = False
        return tuple(effects)

    # -- the operator ----------------------------------------------------------------------------
    def operator_stop(self, stream_id: str, now: float) -> Decision | None:
        """Stop the stream's worker and keep it stopped while this publisher stays (None: unknown stream).

        The ingest stays published (viewers of the output see it end); a restart, or a new publisher
        (another source id), brings the dub back. Reconciliation leaves a stopped stream alone."""
        rec = self._streams.get(stream_id)
        if rec is None:
            return None
        rec.held, rec.held_source_id = True, rec.source_id
        rec.next_settings = None
        rec.grace_deadline = None
        log.info("stream stopped by the operator", extra={"streamId": stream_id})
        if rec.state in (StreamState.starting, StreamState.running) and rec.run_id:
            self._set_state(rec, StreamState.stopping, now)
            return Decision(Admission.accepted, (StopWorker(stream_id, rec.run_id, "stopped by the operator", ""),))
        if rec.state in (StreamState.backoff, StreamState.degraded):
            self._clear_degraded(rec, now)
        return Decision(Admission.accepted if rec.state != StreamState.stopping else Admission.duplicate)

    def operator_restart(self, stream_id: str, now: float) -> Decision | None:
        """A new worker for the stream now: its running one is stopped first; a degraded, backing-off or
        operator-stopped stream starts again (its crash history cleared). None: unknown stream."""
        rec = self._streams.get(stream_id)
        if rec is None:
            return None
        rec.held, rec.held_source_id = False, ""
        if rec.state in (StreamState.backoff, StreamState.degraded):
            self._clear_degraded(rec, now)
        log.info("stream restart requested by the operator", extra={"streamId": stream_id, "live": rec.live})
        if not rec.live:
            return Decision(Admission.duplicate, detail="no publisher on this stream: nothing to restart")
        if rec.state in (StreamState.starting, StreamState.running) and rec.run_id:
            self._set_state(rec, StreamState.stopping, now)  # its exit starts the new one (live, not held)
            return Decision(Admission.accepted, (StopWorker(stream_id, rec.run_id, "restart requested by the operator",
                                                            ""),), worker_starting=True)
        if rec.state == StreamState.idle:
            if self.occupied_slots() >= self.policy.max_workers:
                return Decision(Admission.at_capacity, detail=f"{self.policy.max_workers} streams already active")
            return Decision(Admission.accepted, (self._start(rec, now, "operator"),), worker_starting=True)
        return Decision(Admission.accepted, detail="worker stopping; a new one starts after it exits",
                        worker_starting=True)

    def _clear_degraded(self, rec: StreamRecord, now: float) -> None:
        rec.crashes.clear()
        rec.degraded_reason = None
        rec.degraded_source_id = ""
        rec.backoff_deadline = None
        self._set_state(rec, StreamState.idle, now)

    def stop_all(self, now: float, reason: str = "orchestrator shutting down") -> tuple[Effect, ...]:
        """Stop every worker (shutdown). Streams are left not live, so nothing restarts."""
        effects: list[Effect] = []
        for rec in self._streams.values():
            rec.live = False
            rec.grace_deadline = None
            rec.backoff_deadline = None
            if rec.state in (StreamState.starting, StreamState.running) and rec.run_id:
                self._set_state(rec, StreamState.stopping, now)
                effects.append(StopWorker(rec.stream_id, rec.run_id, reason))
            elif rec.state == StreamState.backoff:
                self._set_state(rec, StreamState.idle, now)
        return tuple(effects)

    # -- internals ---------------------------------------------------------------------------------
    def _new_record(self, stream_id: str, now: float) -> StreamRecord:
        rec = StreamRecord(stream_id=stream_id, state_since=now)
        self._streams[stream_id] = rec
        return rec

    def _restored_record(self, stream_id: str, known: KnownStream | None, now: float) -> StreamRecord:
        rec = self._new_record(stream_id, now)
        if known is not None:
            rec.settings = known.settings
            rec.source_id = known.source_id
            rec.source_type = known.source_type
            log.info("reconcile: using the stream's remembered settings",
                     extra={"streamId": stream_id, "settings": known.settings.public(), "sourceId": known.source_id})
        return rec

    def _set_state(self, rec: StreamRecord, state: StreamState, now: float) -> None:
        if rec.state != state:
            log.info("stream state", extra={"streamId": rec.stream_id, "from": rec.state.value,
                                            "to": state.value, "runId": rec.run_id})
            rec.state = state
            rec.state_since = now
        if state != StreamState.backoff:
            rec.backoff_deadline = None

    def _start(self, rec: StreamRecord, now: float, correlation_id: str, restart: bool = False) -> StartWorker:
        assert rec.run_id is None, "a worker run already exists for this stream"
        rec.run_id = self._new_run_id()
        rec.pid = rec.where = None
        rec.starts += 1
        self._set_state(rec, StreamState.starting, now)
        return StartWorker(rec.stream_id, rec.run_id, rec.settings, restart, correlation_id)

    def _begin_grace(self, rec: StreamRecord, now: float, correlation_id: str) -> tuple[Effect, ...]:
        if rec.state not in (StreamState.starting, StreamState.running, StreamState.backoff):
            return ()
        if rec.grace_deadline is None:  # duplicates never extend the grace period
            rec.grace_deadline = now + self.policy.grace_period
        if self.policy.grace_period <= 0:
            rec.grace_deadline = None
            return self._grace_expired(rec, now, correlation_id)
        return ()

    def _grace_expired(self, rec: StreamRecord, now: float, correlation_id: str = "") -> tuple[Effect, ...]:
        if rec.live:
            return ()
        if rec.state in (StreamState.starting, StreamState.running) and rec.run_id:
            self._set_state(rec, StreamState.stopping, now)
            return (StopWorker(rec.stream_id, rec.run_id, "ingest not ready for the grace period",
                               correlation_id or rec.last_correlation_id),)
        if rec.state == StreamState.backoff:
            self._set_state(rec, StreamState.idle, now)
        return ()

    def _forget_old(self, now: float) -> None:
        if len(self._streams) <= MAX_RECORDS and not any(
                r.state == StreamState.idle and now - r.state_since > IDLE_RECORD_TTL for r in self._streams.values()):
            return
        idle = sorted((r for r in self._streams.values() if r.state == StreamState.idle and not r.live),
                      key=lambda r: r.state_since)
        excess = max(0, len(self._streams) - MAX_RECORDS)
        for i, rec in enumerate(idle):
            if i < excess or now - rec.state_since > IDLE_RECORD_TTL:
                del self._streams[rec.stream_id]
