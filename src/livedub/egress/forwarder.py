"""The forwarder's retry loop: attempts (``pipeline.ForwardPipeline``) separated by backoff.

* Destination failures (refused, dropped, unreachable) back off exponentially with jitter, from
  ``EGRESS_RETRY_INITIAL`` up to ``EGRESS_RETRY_MAX``, so a broken third party is not hammered.
* Source failures (``live/<id>/out`` not published yet, ended, idle) retry after about the
  initial delay: the source is our own media server and the worker may just be restarting.
* An attempt that forwarded for ``healthy_after`` seconds resets the backoff.

It never exits on its own: the orchestrator stops it (SIGTERM) together with the stream's worker.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from livedub.proc.backoff import RestartPolicy

log = logging.getLogger(__name__)

HEALTHY_AFTER_S = 10.0


class Side(str, Enum):
    stopped = "stopped"  # asked to stop: not a failure
    source = "source"  # live/<id>/out is not there, ended or went idle
    destination = "destination"  # the third party refused or dropped us


@dataclass(frozen=True)
class Outcome:
    side: Side
    detail: str  # scrubbed
    forwarded_s: float  # how long media flowed to the destination in this attempt


class Attempt(Protocol):
    """What one try looks like to the loop (``ForwardPipeline`` in production, fakes in tests)."""

    def run(self, stop: threading.Event) -> Outcome: ...


@dataclass
class RetryState:
    """Pure backoff bookkeeping: the delay before the next attempt, given how the last one ended."""

    policy: RestartPolicy
    rng: random.Random = field(default_factory=random.Random)
    healthy_after: float = HEALTHY_AFTER_S
    destination_failures: int = 0

    def next_delay(self, outcome: Outcome) -> float:
        if outcome.forwarded_s >= self.healthy_after:
            self.destination_failures = 0
        if outcome.side == Side.destination:
            self.destination_failures += 1
            return self.policy.delay(self.destination_failures, self.rng)
        return self.policy.delay(1, self.rng)


class Forwarder:
    def __init__(self, make_attempt: Callable[[], Attempt], retry: RetryState, destination: str) -> None:
        self.make_attempt = make_attempt
        self.retry = retry
        self.destination = destination  # already safe to log (no key)
        self.attempts = 0

    def run(self, stop: threading.Event) -> None:
        """Forward until ``stop`` is set."""
        while not stop.is_set():
            self.attempts += 1
            log.info("forwarding attempt", extra={"attempt": self.attempts, "destination": self.destination})
            outcome = self.make_attempt().run(stop)
            if outcome.side == Side.stopped:
                break
            delay = self.retry.next_delay(outcome)
            log.warning("forwarding interrupted; retrying", extra={
                "side": outcome.side.value, "error": outcome.detail,
                "forwardedSeconds": round(outcome.forwarded_s, 1),
                "retryInSeconds": round(delay, 3), "destinationFailures": self.retry.destination_failures})
            stop.wait(delay)  # the backoff itself; a stop request ends it at once
        log.info("forwarder stopped", extra={"attempts": self.attempts})
