"""Bookkeeping between a fragment's cut and its emission: output order, STS jobs, stall buffer.

Every accepted fragment gets a :class:`Slot` in ``order`` (emitted strictly in that order). A
fragment with speech belongs to a speech segment; each closed segment is one :class:`Job`, one STS
call for all of its fragments. A job waits in the stall buffer until one of ``max_inflight`` STS
slots is free; a call holds its slot until it returns, even after its fragments fell back (a call
cannot be interrupted, and a pool of ``max_inflight`` threads could not run more anyway). The
stall buffer is bounded: when full, the oldest waiting job is handed back to the caller to fall back.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from livedub.core.messages import AudioFragment, FragmentResult, SpeechSegment


class JobState(Enum):
    waiting = "waiting"  # in the stall buffer
    running = "running"  # STS call in flight
    resolved = "resolved"  # its fragments' audio is decided (dub or fallback)


@dataclass(eq=False)
class Slot:
    """One fragment on its way out."""

    fragment: AudioFragment
    arrived_at: int
    deadline: int  # clock time it must be handed out
    job: Job | None = None  # None: not in a closed segment (yet), or no speech
    audio: np.ndarray | None = None  # float32 (n, 2) once resolved
    result: FragmentResult | None = None

    @property
    def resolved(self) -> bool:
        return self.audio is not None


@dataclass(eq=False)
class Job:
    """One STS call: a speech segment and the slots of its fragments."""

    segment: SpeechSegment
    slots: tuple[Slot, ...]
    created_at: int
    state: JobState = JobState.waiting
    future: Future[Any] | None = None
    submitted_at: int | None = None
    soft_warned: bool = False
    stalled: bool = False
    not_awaited: bool = False  # offline replay gave up waiting for this one (see wait_for_results)
    soft_margin_ns: int = 0
    tail: np.ndarray | None = None  # float32 (m, 2) dubbed voice running on past the segment

    @property
    def deadline(self) -> int:
        """The first fragment's: the whole segment's dub must be there when it plays."""
        return self.slots[0].deadline

    @property
    def soft_deadline(self) -> int:
        return self.deadline - self.soft_margin_ns


@dataclass
class InflightWindow:
    max_inflight: int
    stall_buffer: int
    order: deque[Slot] = field(default_factory=deque)
    waiting: deque[Job] = field(default_factory=deque)
    running: list[Job] = field(default_factory=list)
    abandoned: list[Job] = field(default_factory=list)  # calls still running after their fragments fell back

    def add_slot(self, slot: Slot) -> None:
        self.order.append(slot)

    def add_job(self, job: Job) -> Job | None:
        """Queue a segment's call; returns the waiting job pushed out of a full stall buffer, if any."""
        for slot in job.slots:
            slot.job = job
        self.waiting.append(job)
        if len(self.waiting) > self.stall_buffer:
            return self.waiting.popleft()
        return None

    @property
    def calls_in_flight(self) -> int:
        return len(self.running) + len(self.abandoned)

    @property
    def has_free_slot(self) -> bool:
        return self.calls_in_flight < self.max_inflight

    @property
    def backlog(self) -> int:
        """Segments still hoping for a dub: waiting plus running (abandoned calls excluded)."""
        return len(self.waiting) + len(self.running)

    def next_waiting(self) -> Job | None:
        return self.waiting[0] if self.waiting else None

    def start(self, job: Job, future: Future[Any], now: int) -> None:
        self.waiting.remove(job)
        job.state, job.future, job.submitted_at = JobState.running, future, now
        self.running.append(job)

    def leave_waiting(self, job: Job) -> None:
        self.waiting.remove(job)

    def finish(self, job: Job) -> None:
        """The job's call returned."""
        self.running.remove(job)

    def abandon(self, job: Job) -> None:
        """The job's fragments fell back while its call runs on: the call keeps its STS slot until it returns."""
        self.running.remove(job)
        self.abandoned.append(job)

    def reap_abandoned(self) -> list[Job]:
        """Abandoned jobs whose call has now returned (their STS slot is free again)."""
        done = [job for job in self.abandoned if job.future is not None and job.future.done()]
        self.abandoned = [job for job in self.abandoned if job not in done]
        return done

    def futures_in_flight(self) -> list[Future[Any]]:
        return [job.future for job in (*self.running, *self.abandoned) if job.future is not None]

    def head(self) -> Slot | None:
        return self.order[0] if self.order else None

    def after(self, slot: Slot) -> Slot | None:
        """The slot that follows ``slot`` in output order, if it was cut already."""
        for index, candidate in enumerate(self.order):
            if candidate is slot:
                return self.order[index + 1] if index + 1 < len(self.order) else None
        return None

    def pop_head(self) -> Slot:
        return self.order.popleft()
