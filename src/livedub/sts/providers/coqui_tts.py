"""The seed's production TTS: Coqui ``coqui-tts==0.27.2`` (gpu-models extra). XTTS-v2 clones a voice
from a reference sample; a VITS model is the fast path. Weights download into TTS_HOME on first use.

XTTS-v2 weights are under the Coqui Public Model License: set ``COQUI_TOS_AGREED=1`` to accept it
(livedub does not accept it for you; without it Coqui would prompt on stdin and a worker would hang).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import numpy as np

from livedub.sts.errors import ModelDownloadRequired, ProviderUnavailable, StsError
from livedub.sts.messages import SynthesizedSpeech
from livedub.sts.providers._device import resolve_device
from livedub.sts.registry import LoadContext
from livedub.sts.text import normalize_for_tts
from livedub.sts.voices import VoiceProfile

log = logging.getLogger(__name__)


class CoquiSynthesizer:
    def __init__(self, ctx: LoadContext, **_: Any) -> None:
        ctx.tts_home.mkdir(parents=True, exist_ok=True)
        self._home = ctx.tts_home.resolve()
        self._tos_agreed = ctx.downloads.coqui_tos_agreed
        # Coqui reads both from the environment when it loads a model: hand it our settings there
        os.environ["TTS_HOME"] = str(self._home)
        if self._tos_agreed:
            os.environ["COQUI_TOS_AGREED"] = "1"  # Coqui accepts only "1"; the setting also takes true/yes
        try:
            from TTS.api import TTS
        except ImportError as exc:
            raise ProviderUnavailable(f"coqui-tts is not importable ({exc})", fix="pip install -e '.[gpu-models]'") from exc
        self._tts_class = TTS
        self._device = resolve_device(ctx.device, _torch_cuda, "coqui")
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()  # Coqui models are not thread-safe: one synthesis at a time

    def supports(self, voice: VoiceProfile) -> bool:
        return voice.provider == "coqui" and bool(voice.model)

    def _model(self, name: str) -> Any:
        if name not in self._models:
            if "xtts" in name and not self._tos_agreed:
                raise StsError("XTTS-v2 needs COQUI_TOS_AGREED=1 (accepting the Coqui Public Model License)",
                               retryable=False)
            try:
                self._models[name] = self._tts_class(model_name=name, progress_bar=False).to(self._device)
            except (OSError, ConnectionError, RuntimeError) as exc:
                raise ModelDownloadRequired(
                    f"Coqui model {name!r} is not in {self._home} and could not be downloaded "
                    f"({type(exc).__name__}: {str(exc)[:200]})") from exc
            log.info("loaded coqui %s on %s", name, self._device)
        return self._models[name]

    def synthesize(self, text: str, voice: VoiceProfile) -> SynthesizedSpeech:
        text = normalize_for_tts(text, voice.language)
        with self._lock:
            model = self._model(voice.model)
            rate = int(model.synthesizer.output_sample_rate)
            if not text:
                return SynthesizedSpeech(np.zeros(0, np.float32), rate, text, voice.name)
            kwargs: dict[str, Any] = {}
            if getattr(model, "is_multi_lingual", False):
                kwargs["language"] = voice.language
            if voice.reference_sample is not None:
                if not voice.reference_sample.is_file():
                    raise StsError(f"reference sample {voice.reference_sample} not found", retryable=False)
                kwargs["speaker_wav"] = str(voice.reference_sample)
            elif getattr(model, "is_multi_speaker", False) and voice.speaker:
                kwargs["speaker"] = voice.speaker
            samples = np.asarray(model.tts(text=text, **kwargs), dtype=np.float32)
        return SynthesizedSpeech(np.clip(samples, -1.0, 1.0), rate, text, voice.name)


def _torch_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())
