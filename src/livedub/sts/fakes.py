"""Deterministic stand-ins for every stage: same input, same output, no model, no thread state.

They implement the same protocols and pass the same contract tests as the real providers. Some are
useful in production too: :class:`IdentityTranslator` (same-language revoicing),
:class:`DuckingSeparator` (no separation model), :class:`OlaStretcher` (no rubberband),
:class:`EnergyVad` (no Silero).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from livedub.sts.audio import rms_db, to_mono
from livedub.sts.messages import Separation, SynthesizedSpeech, TimedText, Transcript, Translation
from livedub.sts.registry import LoadContext
from livedub.sts.voices import VoiceProfile


def _frame_levels_db(mono: np.ndarray, frame: int) -> np.ndarray:
    count = len(mono) // frame
    if count == 0:
        return np.zeros(0)
    frames = mono[: count * frame].reshape(count, frame).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return 20.0 * np.log10(np.maximum(rms, 1e-6))


class EnergyVad:
    """Speech probability from the frame level: 0.5 at ``threshold_db``, steep around it."""

    def __init__(self, ctx: LoadContext | None = None, *, threshold_db: float = -40.0, **_: Any) -> None:
        self.sample_rate = 16_000
        self.frame_samples = 512
        self._threshold_db = threshold_db

    def speech_probabilities(self, audio: np.ndarray) -> np.ndarray:
        levels = _frame_levels_db(to_mono(audio), self.frame_samples)
        return (1.0 / (1.0 + np.exp(-(levels - self._threshold_db) / 2.0))).astype(np.float32)


class FakeRecognizer:
    """Silence (below ``threshold_db``) -> ``""``; otherwise a line of ``script`` chosen by the
    audio's length, so a given clip always gets the same line."""

    SCRIPT = ("Hello everybody.", "Welcome to the show.", "This is a test of the live dubbing system.",
              "Thank you for watching", "The weather is nice today.")

    def __init__(self, ctx: LoadContext | None = None, *, script: tuple[str, ...] = SCRIPT,
                 threshold_db: float = -45.0, **_: Any) -> None:
        self.sample_rate = 16_000
        self._script = tuple(script)
        self._threshold_db = threshold_db

    def transcribe(self, audio: np.ndarray, *, language: str | None, prompt: str = "") -> Transcript:
        mono = to_mono(audio)
        duration = len(mono) / self.sample_rate
        if rms_db(mono) < self._threshold_db:
            return Transcript(text="", language=language or "en", language_probability=1.0)
        text = self._script[round(duration * 10) % len(self._script)]
        return Transcript(text=text, language=language or "en", language_probability=1.0,
                          segments=(TimedText(0.0, duration, text),))


class IdentityTranslator:
    """Same-language revoicing: the text is spoken as it was said."""

    def __init__(self, ctx: LoadContext | None = None, **_: Any) -> None:
        pass

    def supports(self, source: str, target: str) -> bool:
        return source.split("-")[0] == target.split("-")[0]

    def translate(self, text: str, *, source: str, target: str) -> Translation:
        return Translation(text, text.strip(), source, target, "identity")


class FakeTranslator:
    """Every pair; the "translation" is the text tagged with the target language."""

    def __init__(self, ctx: LoadContext | None = None, **_: Any) -> None:
        pass

    def supports(self, source: str, target: str) -> bool:
        return True

    def translate(self, text: str, *, source: str, target: str) -> Translation:
        text = text.strip()
        return Translation(text, f"{target}: {text}" if text else "", source, target, "fake")


class FakeSynthesizer:
    """A syllable-modulated tone, 65 ms per character, pitch chosen by the voice name."""

    SECONDS_PER_CHAR = 0.065

    def __init__(self, ctx: LoadContext | None = None, *, sample_rate: int = 24_000, **_: Any) -> None:
        self.sample_rate = sample_rate

    def supports(self, voice: VoiceProfile) -> bool:
        return True

    def synthesize(self, text: str, voice: VoiceProfile) -> SynthesizedSpeech:
        text = text.strip()
        n = int(len(text) * self.SECONDS_PER_CHAR * self.sample_rate / max(voice.speed, 0.1))
        seed = int(hashlib.sha256(voice.name.encode()).hexdigest()[:6], 16)
        pitch = 110.0 + seed % 120
        t = np.arange(n) / self.sample_rate
        envelope = 0.5 - 0.5 * np.cos(2 * math.pi * 4.0 * t)  # ~4 syllables a second
        samples = (0.3 * envelope * np.sin(2 * math.pi * pitch * t)).astype(np.float32)
        return SynthesizedSpeech(samples, self.sample_rate, text, voice.name)


class DuckingSeparator:
    """No model: 20 ms frames louder than ``threshold_db`` count as speech; the background is the
    mix attenuated by ``duck_db`` there, and the speech is what that removed."""

    def __init__(self, ctx: LoadContext | None = None, *, threshold_db: float = -40.0,
                 duck_db: float = -15.0, **_: Any) -> None:
        self.sample_rate = 48_000
        self._threshold_db = threshold_db
        self._duck_gain = 0.0 if duck_db == -math.inf else 10 ** (duck_db / 20)

    def separate(self, mix: np.ndarray) -> Separation:
        mix = np.asarray(mix, np.float32)
        frame = self.sample_rate // 50
        levels = _frame_levels_db(to_mono(mix), frame)
        gain_per_frame = np.where(levels > self._threshold_db, self._duck_gain, 1.0)
        gain = np.ones(len(mix), np.float32)
        if len(gain_per_frame):
            # a 10 ms ramp between frames avoids clicks
            points = np.arange(len(gain_per_frame)) * frame + frame / 2
            gain = np.interp(np.arange(len(mix)), points, gain_per_frame).astype(np.float32)
        background = mix * (gain[:, None] if mix.ndim == 2 else gain)
        return Separation(speech=mix - background, background=background)

    def duck_where(self, mix: np.ndarray, speech: np.ndarray, frame_s: float, hangover_s: float = 0.1) -> Separation:
        """Duck only where a VAD heard speech (``speech``: one flag per ``frame_s``), held ``hangover_s``
        either side: loud music between the words keeps its level, as a level threshold could not."""
        mix = np.asarray(mix, np.float32)
        flags = np.asarray(speech, bool)
        hold = max(0, round(hangover_s / frame_s))
        if hold and flags.any():
            flags = np.convolve(flags.astype(np.int32), np.ones(2 * hold + 1, np.int32), mode="same") > 0
        points = (np.arange(len(flags)) + 0.5) * frame_s * self.sample_rate
        gain = np.interp(np.arange(len(mix)), points, np.where(flags, self._duck_gain, 1.0)).astype(np.float32) \
            if len(flags) else np.ones(len(mix), np.float32)
        background = mix * (gain[:, None] if mix.ndim == 2 else gain)
        return Separation(speech=mix - background, background=background)


class FakeSeparator(DuckingSeparator):
    """Loud frames are all speech, quiet ones all background."""

    def __init__(self, ctx: LoadContext | None = None, **options: Any) -> None:
        super().__init__(ctx, duck_db=-math.inf, **{k: v for k, v in options.items() if k != "duck_db"})


class OlaStretcher:
    """WSOLA time-compression in numpy: 30 ms Hann frames, each placed where it best continues the
    previous one, so the pitch stays. Rougher than rubberband; needs no binary."""

    def __init__(self, ctx: LoadContext | None = None, *, frame_ms: float = 30.0, **_: Any) -> None:
        self._frame_ms = frame_ms

    def stretch(self, audio: np.ndarray, sample_rate: int, speed: float) -> np.ndarray:
        audio = np.asarray(audio, np.float32)
        if speed <= 0:
            raise ValueError("speed must be positive")
        target = round(len(audio) / speed)
        frame = max(16, int(sample_rate * self._frame_ms / 1000) // 2 * 2)
        if abs(speed - 1.0) < 1e-6 or len(audio) < 2 * frame:
            return _fit(audio[: len(audio)] if speed >= 1 else audio, target)
        hop_out = frame // 2
        hop_in = hop_out * speed
        tolerance = hop_out // 2
        window = np.hanning(frame).astype(np.float32)
        padded = np.concatenate([np.zeros(tolerance, np.float32), audio, np.zeros(frame + tolerance + int(hop_in) + 1, np.float32)])
        frames = math.ceil(target / hop_out) + 1
        out = np.zeros(frames * hop_out + frame, np.float32)
        norm = np.zeros_like(out)
        previous = tolerance  # position (in padded) of the last frame taken
        for k in range(frames):
            ideal = round(k * hop_in) + tolerance
            if k == 0:
                position = ideal
            else:
                natural = padded[previous + hop_out: previous + hop_out + frame]
                lo = max(0, ideal - tolerance)
                region = padded[lo: ideal + tolerance + frame]
                if len(region) < frame or not np.any(natural):
                    position = ideal
                else:
                    scores = np.correlate(region, natural, mode="valid")
                    position = lo + int(np.argmax(scores))
            chunk = padded[position: position + frame]
            if len(chunk) < frame:
                break
            out[k * hop_out: k * hop_out + frame] += chunk * window
            norm[k * hop_out: k * hop_out + frame] += window
            previous = position
        out = out / np.maximum(norm, 1e-3)
        return _fit(out, target)


def _fit(audio: np.ndarray, length: int) -> np.ndarray:
    if len(audio) >= length:
        return np.ascontiguousarray(audio[:length], dtype=np.float32)
    return np.concatenate([audio, np.zeros(length - len(audio), np.float32)])
