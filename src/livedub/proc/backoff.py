"""Restart policy for crashed workers: exponential backoff with jitter, capped per time window."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from livedub.config.durations import format_duration


@dataclass(frozen=True)
class RestartPolicy:
    initial: float = 1.0  # first restart delay (seconds)
    maximum: float = 60.0  # longest restart delay
    max_in_window: int = 5  # crashes tolerated per window; one more and the stream is degraded
    window: float = 600.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Delay before restart number ``attempt`` (1-based) within the window.

        "Equal jitter": half the exponential delay is fixed, half random, so restarts of many
        streams that crashed together spread out without ever restarting immediately.
        """
        # the exponent is capped so a long-failing stream never overflows the float
        base = min(self.maximum, self.initial * (2 ** min(max(0, attempt - 1), 30)))
        return base / 2 + rng.uniform(0, base / 2)


class CrashHistory:
    """Crash times of one stream inside the policy's sliding window."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def record(self, now: float, policy: RestartPolicy) -> int:
        """Add a crash at ``now``; returns how many crashes fall inside the window."""
        self._times.append(now)
        while self._times and self._times[0] <= now - policy.window:
            self._times.popleft()
        return len(self._times)

    def clear(self) -> None:
        self._times.clear()

    def __len__(self) -> int:
        return len(self._times)


def degraded_reason(crashes: int, policy: RestartPolicy, last_error: str | None) -> str:
    reason = f"worker crashed {crashes} times within {format_duration(policy.window)}"
    if last_error:
        reason += f"; last error: {last_error}"
    return reason + "; not restarting until the publisher reconnects"
