"""Voice activity detection, used by the fragmenter to cut in pauses. Injectable.

Any VAD works if it classifies fixed-size frames of the core's 48 kHz stereo int16 audio
(a Silero adapter would downmix/resample each frame to 16 kHz itself).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np


class Vad(Protocol):
    frame_samples: int
    """Frame size in samples at 48 kHz; fragment cuts fall on multiples of it."""

    def is_speech(self, frame: np.ndarray) -> bool:
        """``frame``: int16 (frame_samples, channels). Called once per frame, in order."""


def frame_level_db(frame: np.ndarray) -> float:
    """RMS level of an int16 frame in dBFS (-120 for digital silence)."""
    if frame.size == 0:
        return -120.0
    rms = math.sqrt(float(np.mean(np.square(frame, dtype=np.float64)))) / 32768.0
    return 20.0 * math.log10(rms) if rms > 1e-6 else -120.0


class EnergyVad:
    """Speech = frame level above both an absolute floor and the tracked noise floor + a margin.

    The noise floor drops at once to quieter frames and creeps up slowly, so steady background
    (music, crowd) raises it and only louder speech counts as speech.
    """

    def __init__(
        self,
        frame_samples: int = 960,  # 20 ms
        threshold_db: float = -50.0,
        margin_db: float = 10.0,
        floor_rise_db_per_frame: float = 0.05,
    ) -> None:
        self.frame_samples = frame_samples
        self._threshold_db = threshold_db
        self._margin_db = margin_db
        self._rise = floor_rise_db_per_frame
        self._floor_db: float | None = None

    def is_speech(self, frame: np.ndarray) -> bool:
        level = frame_level_db(frame)
        if self._floor_db is None or level < self._floor_db:
            self._floor_db = level
        else:
            self._floor_db = min(level, self._floor_db + self._rise)
        return level > max(self._threshold_db, self._floor_db + self._margin_db)
