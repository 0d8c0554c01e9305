"""SVOX Pico TTS (Apache-2.0, PyPI ``ttspico``): the fast voice tier. 16 kHz mono; es-ES, fr-FR,
de-DE, it-IT, en-US and en-GB ship in the package (installed to ``<venv>/languages/``). Real-time
factor about 0.005-0.01 on 2 cores, 60-80x faster than Kokoro; it sounds dated but is clear.

Speed is Pico's own rate, not a time-stretch: ``rate = 100 * speed`` (Pico's normal rate is 100,
its range 20-500, so speeds 0.2-5.0). The rate scales phone durations only; Pico's phrase pauses
at punctuation keep their length, so for ``speed > 1`` the pauses are shortened by the same factor
here, and the output lasts about ``1 / speed`` of the normal one.

Thread-safe and deterministic: a Pico engine is not safe to share, and it carries state from one
call into the next (its noise generator, duration rounding), so the same text spoken twice by one
engine differs. Each call therefore gets a fresh engine: 0.3 ms with the voice files in the page
cache, against 15-35 ms for a sentence. ``ctts`` releases the GIL while it synthesises, so
concurrent calls run in parallel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import ttspico

from livedub.sts.errors import ProviderUnavailable, StsError, UnsupportedLanguage
from livedub.sts.messages import SynthesizedSpeech
from livedub.sts.registry import INSTALL, LoadContext
from livedub.sts.text import normalize_for_tts
from livedub.sts.voices import PICO_VOICES, VoiceProfile, pico_voice

SAMPLE_RATE = 16_000  # ctts's fixed output format: 16 kHz, 16-bit, mono
NORMAL_RATE = 100  # Pico's default speaking rate (tts_engine.c PICO_DEF_RATE)
MIN_RATE, MAX_RATE = 20, 500  # the engine clamps to these (PICO_MIN_RATE, PICO_MAX_RATE)

_FRAME = SAMPLE_RATE // 100  # 10 ms analysis frames for silence
_QUIET = 0.01  # frame peak below this is silence: Pico's pauses are noise under -41 dBFS
_MIN_PAUSE = int(0.15 * SAMPLE_RATE) // _FRAME  # shorter quiet runs are stop closures, not pauses
_EDGE_PAD = int(0.03 * SAMPLE_RATE)  # kept around the speech when the lead-in and tail are cut


def native_rate(speed: float) -> int:
    """Pico's ``rate`` for a profile speed: proportional, clamped to what the engine accepts."""
    return min(MAX_RATE, max(MIN_RATE, round(NORMAL_RATE * speed)))


class PicoTts:
    # speaks faster natively (VoiceProfile.speed) at almost no cost: the pipeline asks for the rate a
    # slot needs instead of time-stretching (sts/pipeline.py, StsPipeline._voice)
    native_rate = True

    def __init__(self, ctx: LoadContext | None = None, *, lang_dir: str | None = None, **_: Any) -> None:
        self.sample_rate = SAMPLE_RATE
        self._lang_dir = lang_dir
        # load every voice once, so a broken install fails at start rather than mid-stream
        self._voices = tuple(v for v in PICO_VOICES if self._loads(v))
        if not self._voices:
            raise ProviderUnavailable(
                "tts provider 'pico': ttspico is installed but none of its voices loads "
                f"(looked in {lang_dir or '/usr/share/pico/lang'} and <sys.prefix>/languages)",
                fix=f"{INSTALL} --models (pip install ttspico==0.3.2 installs the voices into the venv)")

    def voices(self) -> list[str]:
        return list(self._voices)

    def supports(self, voice: VoiceProfile) -> bool:
        return voice.provider == "pico" and pico_voice(voice) in self._voices

    def synthesize(self, text: str, voice: VoiceProfile) -> SynthesizedSpeech:
        language = pico_voice(voice)
        if language not in self._voices:
            raise UnsupportedLanguage(f"no Pico voice for {voice.name!r} ({language or voice.language!r}); "
                                      f"voices: {', '.join(self._voices)}")
        text = normalize_for_tts(text, voice.language).replace("\0", " ").strip()
        if not text:
            return SynthesizedSpeech(np.zeros(0, np.float32), SAMPLE_RATE, text, voice.name)
        engine = ttspico.TtsEngine(language, lang_dir=self._lang_dir)
        engine.set_property("rate", native_rate(voice.speed))
        chunks: list[bytes] = []
        try:
            engine.speak(text, lambda _format, audio, _final: chunks.append(audio))
        except RuntimeError as exc:  # ctts: "Text to speech failed" (the engine resets itself)
            raise StsError(f"Pico ({language}) could not speak {text[:60]!r}: {exc}") from exc
        pcm = np.frombuffer(b"".join(chunks), dtype="<i2")
        samples = _fit_pauses(pcm.astype(np.float32) / 32768.0, voice.speed)
        return SynthesizedSpeech(np.clip(samples, -1.0, 1.0), SAMPLE_RATE, text, voice.name)

    def _loads(self, language: str) -> bool:
        try:
            ttspico.TtsEngine(language, lang_dir=self._lang_dir)
        except RuntimeError:  # ttspico: "Could not instantiate TTS engine with language ..."
            return False
        return True


def _fit_pauses(audio: np.ndarray, speed: float) -> np.ndarray:
    """Cut the lead-in and tail silence; for ``speed > 1`` shorten each inner pause (a quiet run of
    at least 150 ms) to ``1 / speed`` of its length, cutting from its middle."""
    frames = len(audio) // _FRAME
    quiet = np.abs(audio[: frames * _FRAME]).reshape(frames, _FRAME).max(axis=1) < _QUIET
    loud = np.flatnonzero(~quiet)
    if len(loud) == 0:
        return audio[:0]
    start = max(0, loud[0] * _FRAME - _EDGE_PAD)
    end = min(len(audio), (loud[-1] + 1) * _FRAME + _EDGE_PAD)
    if speed <= 1.0:
        return audio[start:end]
    pieces: list[np.ndarray] = []
    cursor = start
    # quiet runs strictly between the first and the last loud frame
    edges = np.flatnonzero(np.diff(quiet[loud[0]: loud[-1] + 1].astype(np.int8))) + loud[0] + 1
    for run_start, run_end in zip(edges[0::2], edges[1::2]):  # (first quiet frame, first loud after)
        if run_end - run_start < _MIN_PAUSE:
            continue
        a, b = run_start * _FRAME, run_end * _FRAME
        keep = round((b - a) / speed)
        pieces += [audio[cursor: a + keep // 2]]
        cursor = b - (keep - keep // 2)
    pieces.append(audio[cursor:end])
    return np.concatenate(pieces)
