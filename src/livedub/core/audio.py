"""Small sample-level helpers shared by the core: conversions, fades, crossfade, resampling."""

from __future__ import annotations

import numpy as np

from livedub.core.messages import CHANNELS

INT16_SCALE = 32768.0


def pcm_from_bytes(data: bytes | bytearray | memoryview, channels: int = CHANNELS) -> np.ndarray:
    """Interleaved S16LE bytes (a GstBuffer's contents) -> int16 array (n, channels), copied."""
    flat = np.frombuffer(data, dtype="<i2")
    if flat.size % channels:
        raise ValueError(f"{flat.size} samples do not divide into {channels} channels")
    return flat.astype(np.int16).reshape(-1, channels)


def to_float(samples: np.ndarray) -> np.ndarray:
    """int16 or float samples -> float32 with full scale 1.0 (a copy)."""
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / INT16_SCALE
    return samples.astype(np.float32, copy=True)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float samples (full scale 1.0) -> int16, rounded and clipped."""
    scaled = np.rint(np.asarray(samples, dtype=np.float64) * INT16_SCALE)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def fade_out(samples: np.ndarray, length: int) -> None:
    """In place: linear fade to zero over the last ``length`` samples."""
    length = min(length, samples.shape[0])
    if length > 0:
        ramp = np.linspace(1.0, 0.0, length, dtype=np.float32)
        samples[-length:] *= ramp[:, None]


def crossfade(tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Linear crossfade of equal-length float blocks: ``tail`` fades out while ``head`` fades in.

    Linear (not equal-power) weights sum to exactly one, so crossfading a signal with itself
    (pass-through on both sides) gives the signal back unchanged.
    """
    count = tail.shape[0]
    fade_in = ((np.arange(count, dtype=np.float32) + 0.5) / count)[:, None]
    return tail * (1.0 - fade_in) + head * fade_in


def fit_length(samples: np.ndarray, length: int, fade: int) -> np.ndarray:
    """Trim or zero-pad float samples to ``length``, fading out where the content stops early."""
    out = np.zeros((length, samples.shape[1]), dtype=np.float32)
    kept = min(length, samples.shape[0])
    out[:kept] = samples[:kept]
    if kept < length or samples.shape[0] > length:
        fade_out(out[:kept], fade)
    return out


def remix_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """(n, c) float -> (n, channels): mono is duplicated, anything else is downmixed to mono first."""
    have = samples.shape[1]
    if have == channels:
        return samples
    mono = samples if have == 1 else samples.mean(axis=1, keepdims=True)
    return np.repeat(mono, channels, axis=1).astype(np.float32)


def resample_linear(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """(n, c) float at ``src_rate`` -> ``dst_rate`` by linear interpolation.

    A safety net for STS output at an unexpected rate, not a quality resampler: the STS stages
    resample properly themselves (see SYSTEM.md); a wrong rate here is counted as a defect.
    """
    if src_rate == dst_rate or samples.shape[0] == 0:
        return samples
    count = max(1, round(samples.shape[0] * dst_rate / src_rate))
    positions = np.arange(count, dtype=np.float64) * (src_rate / dst_rate)
    source = np.arange(samples.shape[0], dtype=np.float64)
    return np.stack(
        [np.interp(positions, source, samples[:, ch]) for ch in range(samples.shape[1])], axis=1
    ).astype(np.float32)
