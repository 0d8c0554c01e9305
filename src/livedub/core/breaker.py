"""Circuit breaker around the STS: stop sending fragments to a failing or too-slow STS.

closed --(N consecutive failures | RTT p95 over threshold | backlog over limit | permanent error)--> open
open --(cooldown elapsed)--> half-open: ``half_open_probes`` fragments go to STS, the rest fall back
half-open --(a success)--> closed;  half-open --(a failure)--> open (cooldown restarts)

Every transition is logged and reported to ``on_transition`` (the core updates the gauge).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from enum import IntEnum

import numpy as np

from livedub.core.clock import Clock
from livedub.core.config import BreakerConfig

log = logging.getLogger(__name__)


class BreakerState(IntEnum):
    """Values of the ``worker_sts_breaker_state`` gauge."""

    closed = 0
    open = 1
    half_open = 2


Transition = Callable[[BreakerState, BreakerState, str], None]


class CircuitBreaker:
    def __init__(self, config: BreakerConfig, clock: Clock, on_transition: Transition | None = None) -> None:
        self._config = config
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.closed
        self._opened_at = 0
        self._consecutive_failures = 0
        self._probes_left = 0
        self._latencies: deque[int] = deque(maxlen=config.latency_window)

    @property
    def state(self) -> BreakerState:
        self._maybe_half_open()
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive_failures

    def allow(self) -> bool:
        """May the next fragment go to STS? In half-open this uses up one probe."""
        self._maybe_half_open()
        if self._state is BreakerState.closed:
            return True
        if self._state is BreakerState.half_open and self._probes_left > 0:
            self._probes_left -= 1
            return True
        return False

    def record_success(self, rtt_ns: int) -> None:
        self._consecutive_failures = 0
        self._latencies.append(rtt_ns)
        if self._state is BreakerState.half_open:
            self._latencies.clear()  # a fresh start: old slow samples must not reopen it at once
            self._transition(BreakerState.closed, "probe succeeded")
        elif self._state is BreakerState.closed:
            self._check_latency()

    def record_failure(self, why: str, *, permanent: bool = False) -> None:
        self._consecutive_failures += 1
        if self._state is BreakerState.half_open:
            self._open(f"probe failed: {why}")
        elif self._state is BreakerState.closed:
            if permanent:
                self._open(f"permanent STS error: {why}")
            elif self._consecutive_failures >= self._config.failure_threshold:
                self._open(f"{self._consecutive_failures} consecutive failures (last: {why})")

    def record_latency(self, rtt_ns: int) -> None:
        """A round trip that was not a success in time (a late result): it still tells how slow STS is."""
        self._latencies.append(rtt_ns)
        if self._state is BreakerState.closed:
            self._check_latency()

    def check_backlog(self, backlog: int) -> None:
        if self._state is BreakerState.closed and backlog > self._config.max_backlog:
            self._open(f"backlog {backlog} over limit {self._config.max_backlog}")

    def latency_p95_ns(self) -> float | None:
        if len(self._latencies) < self._config.latency_min_samples:
            return None
        return float(np.percentile(np.fromiter(self._latencies, dtype=np.int64), 95))

    def _check_latency(self) -> None:
        p95 = self.latency_p95_ns()
        if p95 is not None and p95 > self._config.latency_p95_ns:
            self._open(f"STS latency p95 {p95 / 1e6:.0f} ms over {self._config.latency_p95_ns / 1e6:.0f} ms")

    def _open(self, reason: str) -> None:
        self._opened_at = self._clock.now()
        self._probes_left = 0
        self._transition(BreakerState.open, reason)

    def _maybe_half_open(self) -> None:
        if self._state is BreakerState.open and self._clock.now() - self._opened_at >= self._config.cooldown_ns:
            self._probes_left = self._config.half_open_probes
            self._transition(BreakerState.half_open, "cooldown elapsed")

    def _transition(self, new: BreakerState, reason: str) -> None:
        old, self._state = self._state, new
        level = logging.WARNING if new is BreakerState.open else logging.INFO
        log.log(level, "STS breaker %s -> %s: %s", old.name, new.name, reason,
                extra={"breakerFrom": old.name, "breakerTo": new.name, "reason": reason})
        if self._on_transition is not None:
            self._on_transition(old, new, reason)
