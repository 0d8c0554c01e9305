"""Remix: ``out = background * background_gain + dub * dub_gain``, with optional sidechain ducking of
the background while the dub speaks, and the dub brought to a fixed speech level first (TTS
engines differ by 10 dB and more)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livedub.sts.audio import soft_limit


@dataclass(frozen=True)
class MixSettings:
    background_gain: float = 1.0
    dub_gain: float = 1.0
    ducking_db: float = 0.0  # background gain while the dub speaks (0: no ducking, e.g. -8)
    attack_ms: float = 30.0
    release_ms: float = 250.0
    dub_level_db: float | None = -20.0  # RMS of the dub's voiced part; None: leave the TTS level
    block_ms: float = 10.0


def level_dub(dub: np.ndarray, target_db: float | None, peak: float = 0.95) -> np.ndarray:
    if target_db is None or not np.any(dub):
        return dub
    voiced = dub[np.abs(dub) > 1e-3]
    rms = float(np.sqrt(np.mean(voiced.astype(np.float64) ** 2))) if len(voiced) else 0.0
    if rms <= 0:
        return dub
    gain = 10 ** (target_db / 20) / rms
    gain = min(gain, peak / float(np.max(np.abs(dub))))
    return (dub * gain).astype(np.float32)


def ducking_gain(dub: np.ndarray, sample_rate: int, settings: MixSettings) -> np.ndarray:
    """Per-sample background gain: ``ducking_db`` while the dub is active, 1.0 otherwise, with
    attack/release smoothing computed on short blocks."""
    n = len(dub)
    if settings.ducking_db >= 0 or n == 0:
        return np.ones(n, np.float32)
    block = max(1, int(sample_rate * settings.block_ms / 1000))
    count = -(-n // block)
    padded = np.zeros(count * block, np.float32)
    padded[:n] = np.abs(dub)
    active = padded.reshape(count, block).max(axis=1) > 1e-3
    low = 10 ** (settings.ducking_db / 20)
    attack = 1 - np.exp(-settings.block_ms / max(settings.attack_ms, 1e-3))
    release = 1 - np.exp(-settings.block_ms / max(settings.release_ms, 1e-3))
    gains = np.empty(count, np.float32)
    gain = 1.0
    for i, on in enumerate(active):
        target = low if on else 1.0
        gain += (target - gain) * (attack if target < gain else release)
        gains[i] = gain
    centres = np.arange(count) * block + block / 2
    return np.interp(np.arange(n), centres, gains).astype(np.float32)


def remix(background: np.ndarray, dub: np.ndarray, sample_rate: int, settings: MixSettings) -> np.ndarray:
    """``background`` float32 (n, c); ``dub`` float32 (n,). Returns float32 (n, c), soft-limited."""
    background = np.asarray(background, np.float32)
    dub = level_dub(np.asarray(dub, np.float32), settings.dub_level_db)
    gain = ducking_gain(dub, sample_rate, settings) * settings.background_gain
    out = background * gain[:, None] + (dub * settings.dub_gain)[:, None]
    return soft_limit(out)
