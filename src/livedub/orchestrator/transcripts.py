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
from livedub.core.captions import CaptionText, CaptionTrack, Cue
from livedub.core.messages import FragmentResult, FragmentStatus, FragmentTiming

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
    captions: dict[CaptionText, CaptionTrack] = field(
        default_factory=lambda: {text: CaptionTrack(text, origin_ns=0) for text in CaptionText})


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
        tail = self._follow(stream_id, run_id)
        if tail is None or tail.manifest is None:
            return {}
        dubbed = sum(status == "dubbed" for status in tail.segments.values())
        return {"lines": list(tail.lines), "mode": tail.manifest.get("stsMode"), "delayMs": tail.manifest.get("delayMs"),
                "segments": len(tail.segments), "dubbed": dubbed, "fallbacks": dict(tail.fallbacks), "tier": tail.tier}

    def captions(self, stream_id: str, run_id: str | None, text: CaptionText) -> tuple[list[Cue], dict[str, Any]]:
        """The run's caption cues so far (times from its first fragment, the input's first audio sample)
        and its manifest (``{}`` before its bundle exists)."""
        tail = self._follow(stream_id, run_id)
        if tail is None or tail.manifest is None:
            return [], {}
        return tail.captions[text].cues, tail.manifest

    def _follow(self, stream_id: str, run_id: str | None) -> _Tail | None:
        """The stream's tail for ``run_id`` (a new one when the run changed), read forward."""
        if not run_id:
            return None
        tail = self._tails.get(stream_id)
        if tail is None or tail.run_id != run_id:
            tail = self._tails[stream_id] = _Tail(run_id, deque(maxlen=self._keep))
        run = runs_dir(self._data_dir, stream_id) / run_id
        if tail.manifest is None:
            tail.manifest = _read(run / "manifest.json")
            if tail.manifest is None:
                return tail
        self._read_fragments(tail, run / "fragments")
        return tail

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
            result = _result(fragment)
            if result is not None:
                for track in tail.captions.values():
                    track.add_result(result, result.start_pts, result.duration)
            if fragment.get("transcript") or fragment.get("translation"):
                tail.lines.append({"sequence": sequence, "transcript": fragment.get("transcript"),
                                   "translation": fragment.get("translation"), "tier": fragment.get("tier")})

    def forget(self, active: set[str]) -> None:
        """Drop the tails of streams no longer listed."""
        for stream_id in set(self._tails) - active:
            del self._tails[stream_id]


def _result(fragment: dict[str, Any]) -> FragmentResult | None:
    """What the caption tracks need of a fragment record (``FragmentResult.to_json``); None if malformed."""
    try:
        span = fragment.get("voiceSpanNs")
        return FragmentResult(
            fragment_id=str(fragment["fragmentId"]), sequence=int(fragment["sequence"]),
            start_pts=int(fragment["startPtsNs"]), duration=int(fragment["durationNs"]),
            status=FragmentStatus(fragment["status"]), timing=FragmentTiming(0, 0),
            transcript=fragment.get("transcript"), translation=fragment.get("translation"),
            speech=bool(fragment.get("speech", True)), segment_id=fragment.get("segmentId"),
            voice_span_ns=(int(span[0]), int(span[1])) if span else None)
    except (KeyError, TypeError, ValueError, IndexError):
        return None
