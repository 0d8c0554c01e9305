"""The seed's production translator: NLLB-200 or M2M100 converted to CTranslate2, from the Hugging
Face Hub into HF_HOME on first use (gpu-models extra: ctranslate2, sentencepiece, huggingface_hub).

Offline (``HF_HUB_OFFLINE=1``) a model missing from the cache raises ModelDownloadRequired."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import ctranslate2
import sentencepiece
from huggingface_hub import snapshot_download
from huggingface_hub.utils import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

from livedub.sts.errors import ModelDownloadRequired, UnsupportedLanguage
from livedub.sts.messages import Translation
from livedub.sts.providers._device import cpu_threads, load_on_device, resolve_device
from livedub.sts.registry import LoadContext

log = logging.getLogger(__name__)

# ISO 639-1 -> NLLB's FLORES-200 codes
FLORES = {"en": "eng_Latn", "es": "spa_Latn", "pt": "por_Latn", "fr": "fra_Latn", "de": "deu_Latn",
          "it": "ita_Latn", "ca": "cat_Latn", "nl": "nld_Latn", "pl": "pol_Latn", "ru": "rus_Cyrl",
          "uk": "ukr_Cyrl", "tr": "tur_Latn", "ar": "arb_Arab", "hi": "hin_Deva", "ja": "jpn_Jpan",
          "ko": "kor_Hang", "zh": "zho_Hans", "sv": "swe_Latn", "ro": "ron_Latn", "el": "ell_Grek"}


def fetch(repo_id: str, cache: Path, *, offline: bool) -> Path:
    """A local snapshot of ``repo_id`` in ``cache``; downloads unless ``offline``."""
    if Path(repo_id).is_dir():
        return Path(repo_id)
    try:
        return Path(snapshot_download(repo_id, cache_dir=str(cache), local_files_only=offline))
    except LocalEntryNotFoundError as exc:
        # not cached, and offline or the Hub unreachable (huggingface_hub turns connection errors into this)
        raise ModelDownloadRequired(
            f"model {repo_id!r} is not in {cache} and could not be downloaded "
            f"({type(exc).__name__})"
        ) from exc
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:  # gated repositories included
        raise ModelDownloadRequired(
            f"model {repo_id!r} is not on the Hugging Face Hub, or needs a token ({type(exc).__name__})",
            fix="check WORKER_MT_MODEL"
        ) from exc


class CTranslate2Translator:
    def __init__(self, ctx: LoadContext, *, model: str = "JustFrederik/nllb-200-distilled-600M-ct2-int8",
                 family: str = "", beam_size: int = 2, **_: Any) -> None:
        path = fetch(model, Path(ctx.hf_home) / "hub", offline=ctx.downloads.hf_hub_offline)
        device = resolve_device(ctx.device, lambda: ctranslate2.get_cuda_device_count() > 0, f"translator {model}")
        self._family = family or ("m2m" if "m2m" in model.lower() else "nllb")
        self._translator, device = load_on_device(
            device,
            lambda dev: ctranslate2.Translator(str(path), device=dev,
                                               compute_type="int8_float16" if dev == "cuda" else "int8",
                                               intra_threads=cpu_threads(ctx.cpu_threads)),
            lambda translator: translator.translate_batch([["▁a"]], max_decoding_length=2),
            f"translator {model}")
        models = sorted(path.glob("*.model"))
        if not models:
            raise ModelDownloadRequired(f"{model}: no sentencepiece *.model file in {path}")
        self._sp = sentencepiece.SentencePieceProcessor(model_file=str(models[0]))
        self._beam_size = beam_size
        self._name = model

    def _code(self, language: str) -> str:
        language = language.split("-")[0]
        if self._family == "m2m":
            return f"__{language}__"
        if language not in FLORES:
            raise UnsupportedLanguage(f"no NLLB code for {language!r}")
        return FLORES[language]

    def supports(self, source: str, target: str) -> bool:
        if self._family == "m2m":
            return True
        return source.split("-")[0] in FLORES and target.split("-")[0] in FLORES

    def translate(self, text: str, *, source: str, target: str) -> Translation:
        if not text.strip():
            return Translation(text, "", source, target, "nllb")
        tokens = [self._code(source), *self._sp.encode(text.strip(), out_type=str), "</s>"]
        result = self._translator.translate_batch([tokens], target_prefix=[[self._code(target)]],
                                                  beam_size=self._beam_size, max_decoding_length=256)
        output = result[0].hypotheses[0][1:]  # drop the target-language token
        return Translation(text, self._sp.decode(output).strip(), source, target, "nllb")
