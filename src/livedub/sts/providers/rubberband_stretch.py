"""Time-stretch with the rubberband CLI (pitch kept). One short subprocess per call (~50 ms)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

from livedub.sts.errors import StsError
from livedub.sts.registry import LoadContext


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as source:
        data = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
        channels = source.getnchannels()
    audio = data.astype(np.float32) / 32768.0
    return audio.reshape(-1, channels).mean(axis=1) if channels > 1 else audio


class RubberbandStretcher:
    def __init__(self, ctx: LoadContext | None = None, *, engine: str = "fine", timeout_s: float = 10.0,
                 **_: Any) -> None:
        binary = shutil.which("rubberband")
        if binary is None:
            raise StsError("rubberband CLI not found", retryable=False)
        self._binary = binary
        self._engine = ["-3"] if engine == "fine" else []  # R3 engine: better on speech, still ~50 ms
        self._timeout_s = timeout_s

    def stretch(self, audio: np.ndarray, sample_rate: int, speed: float) -> np.ndarray:
        audio = np.asarray(audio, np.float32)
        target = round(len(audio) / speed)
        if abs(speed - 1.0) < 1e-4 or len(audio) == 0:
            return audio[:target].copy() if len(audio) >= target else np.pad(audio, (0, target - len(audio)))
        with tempfile.TemporaryDirectory(prefix="livedub-rb-") as tmp:
            source, stretched = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
            write_wav(source, audio, sample_rate)
            result = subprocess.run(
                [self._binary, "-q", *self._engine, "-t", f"{1.0 / speed:.6f}", "-p", "0", str(source), str(stretched)],
                capture_output=True, text=True, timeout=self._timeout_s, check=False,
            )
            if result.returncode != 0 or not stretched.exists():
                raise StsError(f"rubberband failed ({result.returncode}): {result.stderr.strip()[-200:]}")
            out = read_wav(stretched)
        if len(out) >= target:
            return out[:target]
        return np.concatenate([out, np.zeros(target - len(out), np.float32)])
