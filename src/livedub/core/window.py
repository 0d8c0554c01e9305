"""Bookkeeping of fragments between their cut and their emission: order, STS slots, stall buffer.

Every accepted fragment gets a :class:`Slot` in ``order`` (emitted strictly in that order). A slot
waits in the stall buffer until one of ``max_inflight`` STS slots is free; an STS call holds its
slot until it returns, even after its fragment fell back (a call cannot be interrupted, and a pool
of ``max_inflight`` threads could not run more anyway). The stall buffer is bounded: when full,
the oldest waiting fragment is handed back to the caller to fall back.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from livedub.core.messages import AudioFragment, FragmentResult


class SlotState(Enum):
    waiting = "waiting"  # in the stall buffer
    running = "running"  # STS call in flight
    resolved = "resolved"  # audio decided (dub or fallback), waiting for its due time


@dataclass
class Slot:
    fragment: AudioFragment
    arrived_at: int
    deadline: int
    soft_deadline: int
    state: SlotState = SlotState.waiting
    future: Future[Any] | None = None
    submitted_at: int | None = None
    soft_warned: bool = False
    stalled: bool = False
    not_awaited: bool = False  # offline replay gave up waiting for this one (see wait_for_results)
    audio: np.ndarray | None = None  # float32 (n, 2) once resolved
    result: FragmentResult | None = None


@dataclass
class InflightWindow:
    max_inflight: int
    stall_buffer: int
    order: deque[Slot] = field(default_factory=deque)
    waiting: deque[Slot] = field(default_factory=deque)
    running: list[Slot] = field(default_factory=list)
    abandoned: list[Slot] = field(default_factory=list)  # calls still running after their fragment fell back

    def add(self, slot: Slot) -> Slot | None:
        """Accept a fragment; returns the waiting slot pushed out of a full stall buffer, if any."""
        self.order.append(slot)
        if slot.state is not SlotState.waiting:
            return None
        self.waiting.append(slot)
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
        """Fragments still hoping for a dub: waiting plus running (abandoned calls excluded)."""
        return len(self.waiting) + len(self.running)

    def next_waiting(self) -> Slot | None:
        return self.waiting[0] if self.waiting else None

    def start(self, slot: Slot, future: Future[Any], now: int) -> None:
        self.waiting.remove(slot)
        slot.state, slot.future, slot.submitted_at = SlotState.running, future, now
        self.running.append(slot)

    def leave_waiting(self, slot: Slot) -> None:
        self.waiting.remove(slot)

    def finish(self, slot: Slot) -> None:
        """The slot's call returned (or the slot never needed one)."""
        self.running.remove(slot)

    def abandon(self, slot: Slot) -> None:
        """The slot fell back while its call runs on: the call keeps its STS slot until it returns."""
        self.running.remove(slot)
        self.abandoned.append(slot)

    def reap_abandoned(self) -> list[Slot]:
        """Abandoned slots whose call has now returned (their STS slot is free again)."""
        done = [slot for slot in self.abandoned if slot.future is not None and slot.future.done()]
        self.abandoned = [slot for slot in self.abandoned if slot not in done]
        return done

    def futures_in_flight(self) -> list[Future[Any]]:
        return [slot.future for slot in (*self.running, *self.abandoned) if slot.future is not None]

    def head(self) -> Slot | None:
        return self.order[0] if self.order else None

    def pop_head(self) -> Slot:
        return self.order.popleft()
