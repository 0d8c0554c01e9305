"""The warm worker's handshake: a standby worker process gets its stream as one JSON line on stdin.

A launcher keeps a worker process started ahead of need (``WORKER_STANDBY=true``): it has imported
GStreamer and begun loading its models before any stream exists. When a stream needs a worker,
the launcher writes one :class:`Assignment` line to that process's stdin instead of starting a new
process; the worker then runs exactly as if it had been started with those settings. End of file
without a line means "not needed": the standby exits 0.

Only a stream's identity travels this way. Everything else (languages, voices, quality) is the
process's environment, so a launcher assigns a standby only to a stream whose settings match the
ones the standby was started with.

A standby says once, in a JSON log line with ``"standby": "ready"`` (or ``"failed"``), that its
models have loaded: :func:`standby_state` reads it for the launcher.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import Enum
from typing import IO

from livedub.obs.logging import parse_record

MAX_LINE_BYTES = 16 * 1024
STANDBY_KEY = "standby"  # in a standby's JSON log line once its models have loaded (or failed to)


class StandbyState(str, Enum):
    loading = "loading"
    ready = "ready"
    failed = "failed"  # its models cannot load: a stream assigned to it exits 2 with the reason


class AssignmentError(ValueError):
    """The line on stdin is not an assignment (the worker exits 2 with this message)."""


@dataclass(frozen=True)
class Assignment:
    """Which stream a standby worker serves; field names are the worker's settings fields."""

    stream_id: str
    input_url: str
    output_url: str
    run_id: str

    def to_line(self) -> bytes:
        return (json.dumps(asdict(self)) + "\n").encode()

    @classmethod
    def from_line(cls, line: str) -> Assignment:
        try:
            data = json.loads(line)
        except ValueError:
            raise AssignmentError("the standby worker's assignment is not JSON") from None
        fields = set(cls.__dataclass_fields__)
        if not isinstance(data, dict) or set(data) != fields or not all(isinstance(v, str) for v in data.values()):
            raise AssignmentError(f"the standby worker's assignment must be an object of strings with exactly "
                                  f"{', '.join(sorted(fields))}")
        return cls(**data)


def read_assignment(stream: IO[str]) -> Assignment | None:
    """Block until the launcher assigns a stream; None when it closes stdin first (not needed)."""
    line = stream.readline(MAX_LINE_BYTES)
    if not line:
        return None
    if not line.endswith("\n"):
        raise AssignmentError(f"the standby worker's assignment is longer than {MAX_LINE_BYTES} bytes or unfinished")
    return Assignment.from_line(line)


def standby_state(line: str) -> StandbyState | None:
    """The state a standby's log line reports (ready or failed); None for any other line."""
    record = parse_record(line, STANDBY_KEY)
    value = record[STANDBY_KEY] if record is not None else None
    return StandbyState(value) if value in (StandbyState.ready.value, StandbyState.failed.value) else None
