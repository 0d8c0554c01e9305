"""Typed messages between the STS stages. Frozen; each carries the fragment it belongs to.

The fragment itself (:class:`~livedub.core.messages.AudioFragment`) and the processor's result
(:class:`~livedub.core.messages.DubbedAudio`) are the streaming core's types; these are the steps
in between. Providers fill the payload and leave ``key`` empty; the pipeline stamps the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


@dataclass(frozen=True)
class FragmentKey:
    """Which fragment a message belongs to."""

    fragment_id: str = ""
    stream_id: str = ""
    sequence: int = -1


@dataclass(frozen=True)
class TimedText:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    language_probability: float | None = None
    segments: tuple[TimedText, ...] = ()
    key: FragmentKey = field(default_factory=FragmentKey)


@dataclass(frozen=True)
class Translation:
    source_text: str
    text: str
    source_language: str
    target_language: str
    provider: str
    key: FragmentKey = field(default_factory=FragmentKey)


@dataclass(frozen=True, eq=False)
class SynthesizedSpeech:
    """TTS output: ``samples`` float32 mono in [-1, 1] at ``sample_rate``."""

    samples: np.ndarray
    sample_rate: int
    text: str
    voice: str
    key: FragmentKey = field(default_factory=FragmentKey)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True, eq=False)
class Separation:
    """``speech + background == mix``; both float32 (n, channels) at the mix's rate."""

    speech: np.ndarray
    background: np.ndarray


class FitOutcome(str, Enum):
    fits = "fits"  # the (sped-up) dub fits its speech slot
    borrowed = "borrowed"  # it needed silence around the slot, within the fragment
    trimmed = "trimmed"  # still too long: cut with a fade-out; the cut seconds are counted
    empty = "empty"  # nothing to say


@dataclass(frozen=True, eq=False)
class FittedSpeech:
    """The dub placed on the fragment's timeline: float32 (n,) at the fragment's rate."""

    samples: np.ndarray
    sample_rate: int
    speed: float  # applied time-compression factor, in [1.0, 2.0]
    wanted_speed: float  # what it would have taken to fit the slot without any policy
    offset_s: float  # where the dub starts inside the fragment
    outcome: FitOutcome
    trimmed_s: float = 0.0
    duration_s: float = 0.0  # how long the placed dub plays from offset_s


@dataclass(frozen=True, eq=False)
class StsOutcome:
    """Everything one segment went through; :meth:`StsPipeline.process_detailed` returns it."""

    key: FragmentKey
    samples: np.ndarray  # float32 (n, 2) at 48 kHz: the remix
    sample_rate: int
    transcript: Transcript | None
    translation: Translation | None
    speech: SynthesizedSpeech | None
    fit: FittedSpeech | None
    background: np.ndarray | None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    spoken_text: str = ""  # source text dubbed in this segment
    tier: str = ""  # the quality rung that voiced it
    tail: np.ndarray | None = None  # float32 (m,) dubbed voice running on past the audio's end
