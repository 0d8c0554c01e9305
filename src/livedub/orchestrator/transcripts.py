"""What each stream's worker is doing, for the console, from its run bundle
(``<LIVEDUB_DATA_DIR>/streams/<id>/runs/<runId>/``, written atomically by the worker): the run's mode
and delay (``manifest.json``), the speech segments dubbed and fallen back with the reasons, the rung
that voiced the latest one, and the newest transcript -> translation lines (``fragments/<seq>.json``,
read forward from where the last call stopped).

Works where the orchestrator sees the workers' data directory (``livedub up``, one machine); elsewhere
the console shows the stream without them.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livedub.core.bundle import runs_dir

LOOKAHEAD = 8  # missing records (a bundle writer that dropped some) skipped over before waiting
MAX_READS = 200  # records read per call: a console opened late catches up over a few calls


@dataclass
class _Tail:
    run_id: str
    lines: deque[dict[str, Any]]
    next_sequence: int = 0
    manifest: dict[str, Any] | None = None
    segments: dict[str, str] = field(default_factory=dict)  # segment id -> status of its first fragment
    fallbacks: Counter[str] = field(default_factory=Counter)  # reason -> speech fragments
    tier: str | None = None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class RunTail:
    def __init__(self, data_dir: Path, keep: int = 6) -> None:
        self._data_dir = Path(data_dir)
        self._keep = keep
        self._tails: dict[str, _Tail] = {}

    def view(self, stream_id: str, run_id: str | None) -> dict[str, Any]:
        """``{lines, mode, delayMs, segments, dubbed, fallbacks, tier}`` of the run so far (``{}`` before
        its bundle exists); ``lines``: ``{sequence, transcript, translation, tier}``, oldest first."""
        if not run_id:
            return {}
        tail = self._tails.get(stream_id)
        if tail is None or tail.run_id != run_id:
            tail = self._tails[stream_id] = _Tail(run_id, deque(maxlen=self._keep))
        run = runs_dir(self._data_dir, stream_id) / run_id
        if tail.manifest is None:
            tail.manifest = _read(run / "manifest.json")
            if tail.manifest is None:
                return {}
        self._read_fragments(tail, run / "fragments")
        dubbed = sum(status == "dubbed" for status in tail.segments.values())
        return {"lines": list(tail.lines), "mode": tail.manifest.get("stsMode"), "delayMs": tail.manifest.get("delayMs"),
                "segments": len(tail.segments), "dubbed": dubbed, "fallbacks": dict(tail.fallbacks), "tier": tail.tier}

    def _read_fragments(self, tail: _Tail, directory: Path) -> None:
        for _ in range(MAX_READS):
            found = next(((seq, path) for seq in range(tail.next_sequence, tail.next_sequence + LOOKAHEAD)
                          if (path := directory / f"{seq:06d}.json").is_file()), None)
            if found is None:
                return
            sequence, path = found
            tail.next_sequence = sequence + 1
            fragment = _read(path)
            if fragment is None:
                continue
            segment = fragment.get("segmentId")
            if segment and fragment.get("speech"):
                tail.segments.setdefault(segment, str(fragment.get("status")))
                if fragment.get("status") == "fallback":
                    tail.fallbacks[str(fragment.get("reason"))] += 1
                elif fragment.get("tier"):
                    tail.tier = str(fragment["tier"])
            if fragment.get("transcript") or fragment.get("translation"):
                tail.lines.append({"sequence": sequence, "transcript": fragment.get("transcript"),
                                   "translation": fragment.get("translation"), "tier": fragment.get("tier")})

    def forget(self, active: set[str]) -> None:
        """Drop the tails of streams no longer listed."""
        for stream_id in set(self._tails) - active:
            del self._tails[stream_id]
