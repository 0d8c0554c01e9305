"""Make STS output safe to play: right rate, channels and length, finite values, no overs.

Each repair is named (label of ``worker_sts_output_fixes_total``); output that cannot be repaired
(empty, or nothing finite in it) raises :class:`InvalidStsOutput` and the fragment falls back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from livedub.core.audio import INT16_SCALE, fit_length, remix_channels, resample_linear
from livedub.core.messages import CHANNELS, SAMPLE_RATE, DubbedAudio

FADE_SAMPLES = 240  # 5 ms at 48 kHz: short enough to keep speech, long enough to avoid a click
SOFT_CLIP_KNEE = 0.9


class SanitiserFix(str, Enum):
    resampled = "resampled"
    channels = "channels"
    non_finite = "non-finite"
    clipping = "clipping"
    padded = "padded"
    trimmed = "trimmed"


class InvalidStsOutput(ValueError):
    """STS output that no repair can turn into audio."""


@dataclass(frozen=True, eq=False)
class SanitisedAudio:
    samples: np.ndarray  # float32 (expected_samples, 2)
    fixes: tuple[SanitiserFix, ...]


def sanitise(audio: DubbedAudio, expected_samples: int, fade_samples: int = FADE_SAMPLES) -> SanitisedAudio:
    fixes: list[SanitiserFix] = []
    samples = np.asarray(audio.samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or samples.shape[0] == 0 or samples.shape[1] == 0:
        raise InvalidStsOutput(f"no audio in STS output (shape {samples.shape})")
    if audio.sample_rate <= 0:
        raise InvalidStsOutput(f"impossible sample rate {audio.sample_rate}")
    if samples.dtype == np.int16:
        data = samples.astype(np.float32) / INT16_SCALE
    elif np.issubdtype(samples.dtype, np.floating):
        data = samples.astype(np.float32)
    else:
        raise InvalidStsOutput(f"unsupported sample type {samples.dtype}")

    finite = np.isfinite(data)
    if not finite.all():
        if not finite.any():
            raise InvalidStsOutput("STS output holds no finite sample")
        data = np.where(finite, data, 0.0).astype(np.float32)
        fixes.append(SanitiserFix.non_finite)
    if data.shape[1] != CHANNELS:
        data = remix_channels(data, CHANNELS)
        fixes.append(SanitiserFix.channels)
    if audio.sample_rate != SAMPLE_RATE:
        data = resample_linear(data, audio.sample_rate, SAMPLE_RATE)
        fixes.append(SanitiserFix.resampled)
    if np.abs(data).max() > 1.0:
        data = _soft_clip(data)
        fixes.append(SanitiserFix.clipping)
    if data.shape[0] != expected_samples:
        fixes.append(SanitiserFix.padded if data.shape[0] < expected_samples else SanitiserFix.trimmed)
        data = fit_length(data, expected_samples, fade_samples)
    return SanitisedAudio(samples=data, fixes=tuple(fixes))


def _soft_clip(data: np.ndarray) -> np.ndarray:
    """Leave samples below the knee alone and bend the rest smoothly into (knee, 1)."""
    magnitude = np.abs(data)
    over = magnitude > SOFT_CLIP_KNEE
    headroom = 1.0 - SOFT_CLIP_KNEE
    bent = SOFT_CLIP_KNEE + headroom * np.tanh((magnitude - SOFT_CLIP_KNEE) / headroom)
    return np.where(over, np.sign(data) * bent, data).astype(np.float32)
