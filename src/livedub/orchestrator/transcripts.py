"""What each stream's worker heard and said, for the console: the newest transcript -> translation
lines of its run bundle (``<LIVEDUB_DATA_DIR>/streams/<id>/runs/<runId>/fragments/<seq>.json``,
written atomically by the worker), read forward from where the last call stopped.

Works where the orchestrator sees the workers' data directory (``livedub up``, one machine); elsewhere
the console simply shows no lines.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livedub.core.bundle import runs_dir

LOOKAHEAD = 8  # missing records (a bundle writer that dropped some) skipped over before waiting
MAX_READS = 200  # records read per call: a console opened late catches up over a few calls


@dataclass
class _Tail:
    run_id: str
    next_sequence: int = 0
    lines: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=6))


class TranscriptTail:
    def __init__(self, data_dir: Path, keep: int = 6) -> None:
        self._data_dir = Path(data_dir)
        self._keep = keep
        self._tails: dict[str, _Tail] = {}

    def lines(self, stream_id: str, run_id: str | None) -> list[dict[str, Any]]:
        """The newest lines of the run: ``{sequence, transcript, translation, tier}``, oldest first."""
        if not run_id:
            return []
        tail = self._tails.get(stream_id)
        if tail is None or tail.run_id != run_id:
            tail = self._tails[stream_id] = _Tail(run_id, lines=deque(maxlen=self._keep))
        directory = runs_dir(self._data_dir, stream_id) / run_id / "fragments"
        for _ in range(MAX_READS):
            record = next(((seq, path) for seq in range(tail.next_sequence, tail.next_sequence + LOOKAHEAD)
                           if (path := directory / f"{seq:06d}.json").is_file()), None)
            if record is None:
                break
            sequence, path = record
            tail.next_sequence = sequence + 1
            try:
                fragment = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if fragment.get("transcript") or fragment.get("translation"):
                tail.lines.append({"sequence": sequence, "transcript": fragment.get("transcript"),
                                   "translation": fragment.get("translation"), "tier": fragment.get("tier")})
        return list(tail.lines)

    def forget(self, active: set[str]) -> None:
        """Drop the tails of streams no longer listed."""
        for stream_id in set(self._tails) - active:
            del self._tails[stream_id]
