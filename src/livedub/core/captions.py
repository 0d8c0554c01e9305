"""Captions of a dub: the translation (and the source transcript) as WebVTT and SubRip cues.

One cue per dubbed speech segment, timed on the output where the dubbed voice plays (the STS says
where it placed it: ``voice_span_ns``), or else from the segment's first fragment to the end of its
last. :class:`CaptionTrack` is fed the output blocks as they are played (``livedub dub``), or the
fragment results in play order (a live run's bundle), so the cues follow exactly what the viewer
hears, fallbacks included: a segment that fell back has no cue.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from livedub.core.messages import FragmentResult, FragmentStatus, OutputBlock
from livedub.files import atomic_write

LINE_CHARS = 42  # the usual broadcast subtitle line


class CaptionText(str, Enum):
    translation = "translation"  # what the dub says
    transcript = "transcript"  # what the speaker said


@dataclass(frozen=True)
class Cue:
    start_ns: int
    end_ns: int
    text: str


class CaptionTrack:
    """Cues from output blocks in play order. ``origin_ns``: the input time that is 00:00:00 in the
    written file (default: the first block's); the output runs a constant delay behind the input,
    so cue times relative to it are the output's."""

    def __init__(self, text: CaptionText = CaptionText.translation, origin_ns: int | None = None) -> None:
        self._field = text
        self._origin = origin_ns
        self._cues: list[Cue] = []
        self._segment: str | None = None  # the segment of the last cue
        self._placed = False  # whether that cue's times came from the voice's placement

    def add(self, block: OutputBlock) -> None:
        self.add_result(block.result, block.input_pts, block.duration)

    def add_result(self, result: FragmentResult, start_pts: int, duration_ns: int) -> None:
        """One fragment's outcome, played from input time ``start_pts`` for ``duration_ns``."""
        if self._origin is None:
            self._origin = start_pts
        end = start_pts + duration_ns - self._origin
        if result.status is not FragmentStatus.dubbed or result.segment_id is None:
            self._segment = None
            return
        if result.segment_id == self._segment:  # a later block or fragment of the cue's segment
            last = self._cues[-1]
            if not self._placed:
                self._cues[-1] = Cue(last.start_ns, end, last.text)
            return
        text = " ".join((getattr(result, self._field.value) or "").split())
        if not text:
            self._segment = None
            return
        start = start_pts - self._origin
        self._segment, self._placed = result.segment_id, result.voice_span_ns is not None
        if result.voice_span_ns is not None:  # exactly where the voice plays
            self._cues.append(Cue(start + result.voice_span_ns[0], start + result.voice_span_ns[1], text))
        else:
            self._cues.append(Cue(start, end, text))

    @property
    def cues(self) -> list[Cue]:
        return list(self._cues)


def _timestamp(ns: int, decimal: str) -> str:
    ms = max(0, round(ns / 1e6))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{decimal}{millis:03d}"


def _lines(text: str) -> str:
    return "\n".join(textwrap.wrap(text, LINE_CHARS)) or text


def _escape_vtt(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(cues: list[Cue]) -> str:
    body = [f"{i}\n{_timestamp(c.start_ns, '.')} --> {_timestamp(c.end_ns, '.')}\n{_escape_vtt(_lines(c.text))}\n"
            for i, c in enumerate(cues, 1)]
    return "WEBVTT\n\n" + "\n".join(body)


def to_srt(cues: list[Cue]) -> str:
    return "\n".join(f"{i}\n{_timestamp(c.start_ns, ',')} --> {_timestamp(c.end_ns, ',')}\n{_lines(c.text)}\n"
                     for i, c in enumerate(cues, 1))


def caption_languages(manifest: Mapping[str, Any]) -> dict[CaptionText, str | None]:
    """Each track's language from a run's manifest (``targetLang``, ``sourceLang``); None where it is
    not known (absent, or ``auto``: detected per segment)."""
    source = manifest.get("sourceLang")
    return {CaptionText.translation: manifest.get("targetLang") or None,
            CaptionText.transcript: None if source in (None, "", "auto") else str(source)}


def write_captions(media: Path, language: str, cues: list[Cue]) -> list[Path]:
    """``<media stem>.<language>.vtt`` and ``.srt`` beside ``media`` (the names players pick up by
    themselves), written atomically; the paths written."""
    written = []
    for suffix, render in ((".vtt", to_webvtt), (".srt", to_srt)):
        path = media.with_name(f"{media.stem}.{language}{suffix}")
        atomic_write(path, render(cues).encode("utf-8"))
        written.append(path)
    return written
