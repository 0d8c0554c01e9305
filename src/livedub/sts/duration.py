"""Duration matching: fit synthesized speech into the span the original speech took.

The dub is sped up (pitch kept) by ``tts_duration / slot``, clamped to ``[min_speed, max_speed]``
(live: 1.0-2.0, only faster), resampled to the fragment's rate and placed at the slot's start.
What is still too long follows an explicit :class:`OverflowPolicy` and is counted in the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from livedub.sts.audio import apply_fades, resample
from livedub.sts.messages import FitOutcome, FittedSpeech, SynthesizedSpeech
from livedub.sts.protocols import TimeStretcher


class OverflowPolicy(str, Enum):
    fade_trim = "fade-trim"  # cut at the end of the slot with a fade-out
    borrow_silence = "borrow-silence"  # use the fragment's silence around the slot, then fade-trim at its end


@dataclass(frozen=True)
class DurationPolicy:
    min_speed: float = 1.0
    max_speed: float = 2.0
    overflow: OverflowPolicy = OverflowPolicy.borrow_silence
    fade_ms: float = 40.0
    min_slot_s: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.min_speed <= self.max_speed:
            raise ValueError("need 0 < min_speed <= max_speed")


def fit_to_slot(speech: SynthesizedSpeech, *, slot_start_s: float, slot_end_s: float, fragment_samples: int,
                sample_rate: int, stretcher: TimeStretcher, policy: DurationPolicy) -> FittedSpeech:
    """Place ``speech`` on a mono timeline of ``fragment_samples`` at ``sample_rate``."""
    timeline = np.zeros(fragment_samples, np.float32)
    if len(speech.samples) == 0:
        return FittedSpeech(timeline, sample_rate, 1.0, 1.0, slot_start_s, FitOutcome.empty)
    fragment_s = fragment_samples / sample_rate
    slot_start_s = min(max(0.0, slot_start_s), fragment_s)
    slot_end_s = min(max(slot_end_s, slot_start_s + policy.min_slot_s), fragment_s)
    slot_s = max(slot_end_s - slot_start_s, 1.0 / sample_rate)
    wanted = speech.duration_s / slot_s
    speed = min(max(wanted, policy.min_speed), policy.max_speed)
    audio = speech.samples
    if abs(speed - 1.0) > 1e-3:
        audio = stretcher.stretch(audio, speech.sample_rate, speed)
    audio = resample(audio, speech.sample_rate, sample_rate)
    length = len(audio)
    start = round(slot_start_s * sample_rate)
    slot_end = round(slot_end_s * sample_rate)
    fade = int(policy.fade_ms / 1000 * sample_rate)
    trimmed = 0
    if start + length <= slot_end:
        outcome = FitOutcome.fits
    elif policy.overflow is OverflowPolicy.borrow_silence:
        start = max(0, min(start, fragment_samples - length))
        if start + length <= fragment_samples:
            outcome = FitOutcome.borrowed
        else:
            outcome, trimmed = FitOutcome.trimmed, length - fragment_samples
            audio = apply_fades(audio[:fragment_samples], 0, fade)
    else:
        keep = max(0, slot_end - start)
        outcome, trimmed = FitOutcome.trimmed, length - keep
        audio = apply_fades(audio[:keep], 0, fade)
    timeline[start:start + len(audio)] = audio[: fragment_samples - start]
    placed = min(len(audio), fragment_samples - start)
    return FittedSpeech(timeline, sample_rate, speed, wanted, start / sample_rate, outcome,
                        trimmed_s=trimmed / sample_rate, duration_s=placed / sample_rate)
