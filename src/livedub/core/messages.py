"""Typed messages that flow through the streaming core. Timestamps are integer nanoseconds.

Audio inside the core is PCM at 48 kHz, 2 channels. Fragments carry the original ``int16``
samples (what GStreamer delivers); STS output may be ``int16`` or float in any rate/layout and is
normalised by the sanitiser; output blocks are ``int16`` again, ready for an ``appsrc``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import numpy as np

from livedub.config.settings import Fallback

SAMPLE_RATE = 48_000
CHANNELS = 2
SAMPLE_FORMAT = "S16LE"  # the core's int16 samples as GStreamer names them
BYTES_PER_FRAME = 2 * CHANNELS  # one int16 sample per channel
NS_PER_S = 1_000_000_000


def samples_to_ns(count: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Duration of ``count`` samples, floored to whole nanoseconds (exact for sample offsets)."""
    return count * NS_PER_S // sample_rate


def ns_to_samples(duration_ns: int, sample_rate: int = SAMPLE_RATE) -> int:
    return round(duration_ns * sample_rate / NS_PER_S)


def _frozen(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False)
class AudioFragment:
    """A cut of the input, sent to STS. ``samples`` is read-only ``int16`` of shape (n, channels).

    The last ``overlap_samples`` of this fragment are also the first samples of the next one;
    the two are crossfaded on output, so the STS may treat them as ordinary audio.
    """

    id: str
    stream_id: str
    sequence: int
    start_pts: int
    duration: int
    samples: np.ndarray
    overlap_samples: int = 0
    sample_rate: int = SAMPLE_RATE
    channels: int = CHANNELS
    # what the fragmenter's VAD heard (None: not analysed, e.g. a fragment built by hand: speech)
    speech_ns: int | None = None  # voiced time within the fragment (overlap excluded)
    trailing_pause_ns: int = 0  # non-speech at the fragment's end (before the overlap)

    def __post_init__(self) -> None:
        if self.samples.dtype != np.int16 or self.samples.ndim != 2 or self.samples.shape[1] != self.channels:
            raise ValueError(f"fragment samples must be int16 (n, {self.channels}), got "
                             f"{self.samples.dtype} {self.samples.shape}")
        if not 0 <= self.overlap_samples <= len(self.samples):
            raise ValueError("overlap_samples must lie within the fragment")
        object.__setattr__(self, "samples", _frozen(self.samples))

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def end_pts(self) -> int:
        return self.start_pts + self.duration


@dataclass(frozen=True, eq=False)
class SpeechSegment:
    """What the STS works on: an utterance, one or more consecutive fragments with speech.

    ``samples`` is the segment's audio without the fragments' overlaps: int16 (n, channels), the
    span ``[start_pts, start_pts + duration)``. The STS dubs it once; the core lays the result over
    the fragments it spans. ``spill_ns``: how far past its end the dub may run on (into following
    non-speech); ``tier``: the quality rung the core chose for it (see :mod:`livedub.core.quality`).
    It has the attributes of an :class:`AudioFragment` that a processor reads (``id``, ``sequence``,
    ``samples``, ``num_samples``, ``channels``, ``stream_id``, ``start_pts``, ``duration``).
    """

    id: str
    stream_id: str
    sequence: int
    start_pts: int
    duration: int
    samples: np.ndarray
    fragments: tuple[AudioFragment, ...]
    spill_ns: int = 0
    tier: str = ""
    sample_rate: int = SAMPLE_RATE
    channels: int = CHANNELS

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", _frozen(self.samples))

    @classmethod
    def of(cls, fragments: tuple[AudioFragment, ...], sequence: int, *, spill_ns: int = 0) -> SpeechSegment:
        if not fragments:
            raise ValueError("a segment needs at least one fragment")
        parts = [f.samples[: f.num_samples - f.overlap_samples] for f in fragments[:-1]] + [fragments[-1].samples]
        first = fragments[0]
        return cls(id=f"{first.stream_id}-seg{sequence:06d}", stream_id=first.stream_id, sequence=sequence,
                   start_pts=first.start_pts, duration=fragments[-1].end_pts - first.start_pts,
                   samples=np.concatenate(parts), fragments=fragments, spill_ns=spill_ns)

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def end_pts(self) -> int:
        return self.start_pts + self.duration

    def offset_of(self, fragment: AudioFragment) -> int:
        """Sample offset of ``fragment`` within the segment's audio."""
        offset = 0
        for own in self.fragments:
            if own is fragment:
                return offset
            offset += own.num_samples - own.overlap_samples
        raise ValueError(f"fragment {fragment.id} is not part of segment {self.id}")

    def with_tier(self, tier: str) -> SpeechSegment:
        return replace(self, tier=tier)


@dataclass(frozen=True, eq=False)
class DubbedAudio:
    """What an STS processor returns for one segment: the audio to play over the segment's span.

    ``samples``: shape (n,) or (n, c), ``int16`` or float (full scale 1.0), at ``sample_rate``.
    The sanitiser fixes length, rate, channels and bad values, so a processor need not be exact.
    ``tail``: dubbed voice alone (float, mono or (n, c)) that runs on past the segment's end, at
    most ``spill_ns`` long; the core lays it over the following non-speech fragments.
    ``stage_seconds``: what each STS stage cost (the quality ladder and the run bundle read it).
    ``voice_span_ns``: where the dubbed voice plays, from the segment's start (it may end in the tail);
    captions are timed by it.
    """

    fragment_id: str
    sequence: int
    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE
    transcript: str | None = None
    translation: str | None = None
    tail: np.ndarray | None = None
    tier: str = ""
    stage_seconds: Mapping[str, float] = field(default_factory=dict)
    voice_span_ns: tuple[int, int] | None = None


class FragmentStatus(str, Enum):
    dubbed = "dubbed"  # part of a speech segment whose dub plays
    fallback = "fallback"  # part of a speech segment that was not dubbed (see FallbackReason)
    no_speech = "no-speech"  # the VAD heard no speech: the original plays (with a dub's run-on)


class FallbackReason(str, Enum):
    """Why a fragment was not dubbed (label of ``worker_fallback_total``)."""

    sts_error = "sts-error"  # the processor raised
    timeout = "timeout"  # no result by the fragment's deadline (hard timeout)
    invalid_output = "invalid-output"  # the sanitiser could not repair the output
    breaker_open = "breaker-open"  # the circuit breaker kept the fragment away from STS
    stall_overflow = "stall-overflow"  # the stall buffer was full; the oldest waiting fragment gave way
    no_time = "no-time"  # the deadline passed before an STS slot was free (or before it was cut)


@dataclass(frozen=True)
class FragmentTiming:
    """Clock times (ns) of a fragment's life; ``None`` where the step did not happen."""

    arrived_at: int
    deadline: int
    submitted_at: int | None = None
    completed_at: int | None = None
    emitted_at: int | None = None

    @property
    def rtt_ns(self) -> int | None:
        if self.submitted_at is None or self.completed_at is None:
            return None
        return self.completed_at - self.submitted_at


@dataclass(frozen=True)
class FragmentResult:
    """The outcome of one fragment: dubbed, or which fallback was played and why."""

    fragment_id: str
    sequence: int
    start_pts: int
    duration: int
    status: FragmentStatus
    timing: FragmentTiming
    fallback: Fallback | None = None
    reason: FallbackReason | None = None
    detail: str | None = None
    fixes: tuple[str, ...] = ()
    transcript: str | None = None
    translation: str | None = None
    speech: bool = True  # False: the VAD heard no speech, so no STS call was needed
    segment_id: str | None = None  # the speech segment it belongs to (None without speech)
    tier: str | None = None  # the quality rung that voiced it
    stage_seconds: Mapping[str, float] | None = None  # what each STS stage cost (the segment's first fragment)
    voice_span_ns: tuple[int, int] | None = None  # where the dub's voice plays, from this fragment's start (first only)

    def to_json(self) -> dict[str, Any]:
        rtt = self.timing.rtt_ns
        return {
            "fragmentId": self.fragment_id,
            "sequence": self.sequence,
            "speech": self.speech,
            "segmentId": self.segment_id,
            "tier": self.tier,
            "startPtsNs": self.start_pts,
            "durationNs": self.duration,
            "status": self.status.value,
            "fallback": self.fallback.value if self.fallback else None,
            "reason": self.reason.value if self.reason else None,
            "detail": self.detail,
            "sanitiserFixes": list(self.fixes),
            "rttMs": None if rtt is None else rtt / 1e6,
            "timing": {
                "arrivedAtNs": self.timing.arrived_at,
                "deadlineNs": self.timing.deadline,
                "submittedAtNs": self.timing.submitted_at,
                "completedAtNs": self.timing.completed_at,
                "emittedAtNs": self.timing.emitted_at,
            },
            "transcript": self.transcript,
            "translation": self.translation,
            "stageSeconds": None if self.stage_seconds is None else {k: round(v, 4) for k, v in self.stage_seconds.items()},
            "voiceSpanNs": None if self.voice_span_ns is None else list(self.voice_span_ns),
        }


@dataclass(frozen=True, eq=False)
class OutputBlock:
    """Audio to play, in order, on the input timeline: ``input_pts`` is where it starts in the input.
    The core decides when a block is due (input PTS + the constant delay); mapping it to an output
    timestamp is the worker's alone (``worker.timing.Timeline``), so a sample's time is mapped once.

    Consecutive blocks are contiguous: ``next.input_pts == block.input_pts + block.duration`` within a
    segment of continuous input. ``samples`` is ``int16`` (n, 2).
    """

    sequence: int
    samples: np.ndarray
    result: FragmentResult = field(repr=False)
    fragment: AudioFragment = field(repr=False)  # the input these samples replace

    @property
    def input_pts(self) -> int:
        return self.fragment.start_pts

    @property
    def duration(self) -> int:
        return samples_to_ns(int(self.samples.shape[0]))

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[0])
