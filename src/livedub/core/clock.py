"""The injected clock: the core never reads time itself, so tests and replays control it.

Times are integer nanoseconds on an arbitrary monotonic base. ``sleep`` exists for fake STS
processors that simulate latency; the core itself never sleeps.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int:
        """Monotonic time in nanoseconds."""

    def sleep(self, duration_ns: int) -> None:
        """Block the calling thread for ``duration_ns`` of this clock's time."""


class MonotonicClock:
    """Real time (``time.monotonic_ns``)."""

    def now(self) -> int:
        return time.monotonic_ns()

    def sleep(self, duration_ns: int) -> None:
        if duration_ns > 0:
            time.sleep(duration_ns / 1e9)


class VirtualElapsed:
    """Time a job spent in :meth:`FakeClock.sleep` inside :meth:`FakeClock.virtual_time`."""

    def __init__(self) -> None:
        self.ns = 0


class FakeClock:
    """A clock that moves only when told to. Deterministic, thread-safe.

    * :meth:`advance`/:meth:`advance_to` move time and fire timers (:meth:`call_at`) in time order.
    * :meth:`sleep` from another thread blocks until time is advanced far enough.
    * Inside :meth:`virtual_time` (used by :class:`~livedub.core.executor.SimulatedExecutor`),
      ``sleep`` only adds to the caller's virtual elapsed time, and ``now`` includes it: a fake
      STS can "take 800 ms" without anyone advancing the clock.
    """

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._timers: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._local = threading.local()

    def now(self) -> int:
        virtual = getattr(self._local, "elapsed", None)
        with self._cond:
            return self._now + (virtual.ns if virtual is not None else 0)

    def sleep(self, duration_ns: int) -> None:
        virtual = getattr(self._local, "elapsed", None)
        if virtual is not None:
            virtual.ns += max(0, duration_ns)
            return
        with self._cond:
            wake_at = self._now + duration_ns
            self._cond.wait_for(lambda: self._now >= wake_at)

    @contextlib.contextmanager
    def virtual_time(self) -> Iterator[VirtualElapsed]:
        elapsed = VirtualElapsed()
        self._local.elapsed = elapsed
        try:
            yield elapsed
        finally:
            self._local.elapsed = None

    def call_at(self, when_ns: int, callback: Callable[[], None]) -> None:
        """Run ``callback`` when time reaches ``when_ns`` (at once if it already has)."""
        with self._cond:
            due = when_ns <= self._now
            if not due:
                heapq.heappush(self._timers, (when_ns, next(self._seq), callback))
        if due:
            callback()

    def advance(self, duration_ns: int) -> None:
        if duration_ns < 0:
            raise ValueError("a clock does not go backwards")
        self.advance_to(self._now + duration_ns)

    def advance_to(self, when_ns: int) -> None:
        """Move to ``when_ns`` (no-op if already past), firing due timers at their own times."""
        while True:
            with self._cond:
                if not self._timers or self._timers[0][0] > when_ns:
                    self._now = max(self._now, when_ns)
                    self._cond.notify_all()
                    return
                fire_at, _, callback = heapq.heappop(self._timers)
                self._now = max(self._now, fire_at)
                self._cond.notify_all()
            callback()  # outside the lock: callbacks may read the clock

    def next_timer(self) -> int | None:
        with self._cond:
            return self._timers[0][0] if self._timers else None
