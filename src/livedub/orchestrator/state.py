"""Per-stream state, owned by the supervisor alone (nothing else mutates a :class:`StreamRecord`).

States::

    idle ──ready──> starting ──started──> running
     ^                 │                    │ crash while the ingest is live
     │                 └──────crash────────>├──────────> backoff ──timer──> starting
     │                                      │                └── crashes > cap in window ──> degraded
     │                                      │ not-ready + grace period expired
     └────────exit──────── stopping <───────┘

``ready`` during the grace period cancels it (same worker); ``ready`` while stopping starts a
new worker once the old one has exited, never before. ``degraded`` holds no process and says
why; a ``ready`` from a new publisher (another source id) tries again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from livedub.config.stream_query import DEFAULT_SETTINGS, StreamSettings
from livedub.proc.backoff import CrashHistory


class StreamState(str, Enum):
    idle = "idle"
    starting = "starting"
    running = "running"
    stopping = "stopping"
    backoff = "backoff"
    degraded = "degraded"


# states in which a stream holds (or is about to hold) a worker slot
OCCUPYING = frozenset({StreamState.starting, StreamState.running, StreamState.stopping, StreamState.backoff})
# states in which a worker process may exist
WITH_PROCESS = frozenset({StreamState.starting, StreamState.running, StreamState.stopping})

ENDED_SOURCES_KEPT = 16


@dataclass
class StreamRecord:
    stream_id: str
    state: StreamState = StreamState.idle
    state_since: float = 0.0
    live: bool = False  # the ingest is published, according to the newest event
    source_id: str = ""
    source_type: str = ""
    settings: StreamSettings = DEFAULT_SETTINGS
    next_settings: StreamSettings | None = None  # from a ready that arrived while stopping
    run_id: str | None = None  # the worker run that exists (starting/running/stopping)
    pid: int | None = None
    where: str | None = None  # where its worker runs (the launcher's words: local, host ..., ray node ...)
    grace_deadline: float | None = None
    backoff_deadline: float | None = None
    starts: int = 0
    stops: int = 0
    restarts: int = 0
    failures: int = 0
    crashes: CrashHistory = field(default_factory=CrashHistory)
    last_error: str | None = None
    last_exit_code: int | None = None
    degraded_reason: str | None = None
    degraded_source_id: str = ""
    held: bool = False  # stopped by the operator: no worker until a restart or a new publisher
    held_source_id: str = ""
    last_event_at: float = float("-inf")  # newest ready/not-ready applied (for reconciliation)
    ended_sources: deque[str] = field(default_factory=lambda: deque(maxlen=ENDED_SOURCES_KEPT))
    last_correlation_id: str = ""

    def view(self, now: float) -> dict[str, Any]:
        """The API's JSON view of this stream."""
        return {
            "streamId": self.stream_id,
            "state": self.state.value,
            "stateForSeconds": round(max(0.0, now - self.state_since), 3),
            "live": self.live,
            "pid": self.pid,
            "where": self.where,
            "runId": self.run_id,
            "starts": self.starts,
            "stops": self.stops,
            "restarts": self.restarts,
            "failures": self.failures,
            "lastError": self.last_error,
            "lastExitCode": self.last_exit_code,
            "degradedReason": self.degraded_reason,
            "stoppedByOperator": self.held,
            "graceRemainingSeconds": None if self.grace_deadline is None
            else round(max(0.0, self.grace_deadline - now), 3),
            "restartInSeconds": None if self.backoff_deadline is None
            else round(max(0.0, self.backoff_deadline - now), 3),
            "settings": self.settings.public(),
            "settingsWarnings": list(self.settings.warnings),
            "sourceType": self.source_type,
            "sourceId": self.source_id,
            "lastCorrelationId": self.last_correlation_id,
        }


@dataclass(frozen=True)
class KnownStream:
    """What the orchestrator remembers of a stream across its own restarts (``known_streams.py``): the
    settings its worker was last started with and its publisher."""

    stream_id: str
    settings: StreamSettings
    source_id: str = ""
    source_type: str = ""

    @classmethod
    def of(cls, rec: StreamRecord) -> KnownStream:
        return cls(rec.stream_id, rec.settings, rec.source_id, rec.source_type)

    def to_json(self) -> dict[str, Any]:
        # the query-parameter form: loading it again runs it through the same validation as a hook event
        return {"settings": self.settings.public(), "sourceId": self.source_id, "sourceType": self.source_type}
