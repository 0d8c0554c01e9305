"""Audio helpers for the STS stages: band-limited resampling, channel layout, fades, levels.

The resampler is a windowed-sinc polyphase filter in numpy (no SciPy dependency): good enough for
speech between 8, 16, 22.05, 24 and 48 kHz, and exact in length: ``ceil(n * out / in)`` samples.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

_MAX_OUTPUTS_PER_BLOCK = 65_536  # bounds the gather matrix (outputs x taps) to a few MB


def as_float(samples: np.ndarray) -> np.ndarray:
    """int16 -> float32 in [-1, 1); float arrays become float32."""
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    return np.asarray(samples, dtype=np.float32)


def to_mono(samples: np.ndarray) -> np.ndarray:
    samples = as_float(samples)
    return samples if samples.ndim == 1 else samples.mean(axis=1, dtype=np.float32)


@lru_cache(maxsize=32)
def _filter_bank(up: int, down: int, zero_crossings: int, beta: float) -> tuple[np.ndarray, np.ndarray]:
    cutoff = min(1.0, up / down)  # relative to the input Nyquist: anti-alias when downsampling
    half = math.ceil(zero_crossings / cutoff)
    taps = np.arange(-half + 1, half + 1)
    fraction = np.arange(up)[:, None] / up
    distance = fraction - taps[None, :]  # input-sample distance from the output instant
    window = np.i0(beta * np.sqrt(np.clip(1.0 - (distance / half) ** 2, 0.0, 1.0))) / np.i0(beta)
    bank = (cutoff * np.sinc(cutoff * distance) * window).astype(np.float32)
    return bank, taps


def resample(samples: np.ndarray, src_rate: int, dst_rate: int, *, zero_crossings: int = 16) -> np.ndarray:
    """Band-limited resampling of (n,) or (n, c) audio; returns float32."""
    samples = as_float(samples)
    if src_rate == dst_rate or len(samples) == 0:
        return samples.copy() if src_rate == dst_rate else samples[:0].copy()
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError("sample rates must be positive")
    g = math.gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    bank, taps = _filter_bank(up, down, zero_crossings, 8.0)
    half = int(-taps[0]) + 1
    n = len(samples)
    padded = np.concatenate([np.zeros((half,) + samples.shape[1:], np.float32), samples,
                             np.zeros((half + 1,) + samples.shape[1:], np.float32)])
    n_out = -(-n * up // down)
    out = np.empty((n_out,) + samples.shape[1:], np.float32)
    for start in range(0, n_out, _MAX_OUTPUTS_PER_BLOCK):
        j = np.arange(start, min(n_out, start + _MAX_OUTPUTS_PER_BLOCK), dtype=np.int64)
        position = j * down
        base, phase = position // up, position % up
        index = base[:, None] + taps[None, :] + half
        weights = bank[phase]
        if samples.ndim == 1:
            out[j] = np.einsum("ij,ij->i", weights, padded[index])
        else:
            out[j] = np.einsum("ij,ijc->ic", weights, padded[index])
    return out


def rms_db(samples: np.ndarray) -> float:
    samples = as_float(samples)
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * math.log10(rms) if rms > 1e-6 else -120.0


def apply_fades(samples: np.ndarray, fade_in: int, fade_out: int) -> np.ndarray:
    """Linear fades, in place on a copy; lengths are clamped to the signal."""
    out = np.array(samples, dtype=np.float32, copy=True)
    n = len(out)
    fade_in, fade_out = min(fade_in, n), min(fade_out, n)
    if fade_in:
        ramp = np.linspace(0.0, 1.0, fade_in, endpoint=False, dtype=np.float32)
        out[:fade_in] *= ramp if out.ndim == 1 else ramp[:, None]
    if fade_out:
        ramp = np.linspace(1.0, 0.0, fade_out, endpoint=True, dtype=np.float32)
        out[n - fade_out:] *= ramp if out.ndim == 1 else ramp[:, None]
    return out


def soft_limit(samples: np.ndarray, threshold: float = 0.9) -> np.ndarray:
    """Leave samples below ``threshold`` alone and bend louder ones smoothly towards 1.0."""
    out = np.asarray(samples, dtype=np.float32).copy()
    over = np.abs(out) > threshold
    if np.any(over):
        head = 1.0 - threshold
        excess = (np.abs(out[over]) - threshold) / head
        out[over] = np.sign(out[over]) * (threshold + head * np.tanh(excess))
    return out
