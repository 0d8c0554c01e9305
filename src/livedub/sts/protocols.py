"""One small protocol per STS stage. Real providers and the fakes implement the same ones and
pass the same contract tests (tests/unit/sts/test_contracts.py).

Every provider is thread-safe: the core calls the pipeline from several executor threads.
Audio is float32 in [-1, 1]; mono is shape (n,), multichannel (n, c).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from livedub.sts.messages import Separation, SynthesizedSpeech, Transcript, Translation
from livedub.sts.voices import VoiceProfile


@runtime_checkable
class SpeechRecognizer(Protocol):
    sample_rate: int  # what ``transcribe`` expects (16 kHz for Whisper)

    def transcribe(self, audio: np.ndarray, *, language: str | None, prompt: str = "") -> Transcript:
        """Mono audio at ``sample_rate``. ``language`` None: detect it. ``prompt``: preceding text.
        Silence gives an empty text."""
        ...


@runtime_checkable
class Translator(Protocol):
    def supports(self, source: str, target: str) -> bool: ...

    def translate(self, text: str, *, source: str, target: str) -> Translation:
        """Empty (whitespace) text gives an empty translation, without calling a model."""
        ...


@runtime_checkable
class SpeechSynthesizer(Protocol):
    def supports(self, voice: VoiceProfile) -> bool: ...

    def synthesize(self, text: str, voice: VoiceProfile) -> SynthesizedSpeech:
        """Empty text gives zero samples. Output float32 mono in [-1, 1]."""
        ...


@runtime_checkable
class SpeechSeparator(Protocol):
    sample_rate: int  # the rate ``separate`` expects (48 kHz: the core's rate)

    def separate(self, mix: np.ndarray) -> Separation:
        """``mix`` float32 (n, c). ``speech + background == mix``, same shape."""
        ...


@runtime_checkable
class TimeStretcher(Protocol):
    def stretch(self, audio: np.ndarray, sample_rate: int, speed: float) -> np.ndarray:
        """Mono audio played ``speed`` times faster, pitch kept: about ``len(audio) / speed`` samples."""
        ...


@runtime_checkable
class VoiceActivityDetector(Protocol):
    sample_rate: int
    frame_samples: int

    def speech_probabilities(self, audio: np.ndarray) -> np.ndarray:
        """One probability in [0, 1] per ``frame_samples`` of mono audio (a trailing partial frame
        is dropped). Stateless between calls."""
        ...
