"""Text between the stages: normalisation before MT and before TTS, sentence splitting, and the
per-stream carry of unfinished sentences across fragments.

Carrying: a fragment's transcript often ends mid-sentence. The words after its last sentence end
are held back and spoken with the next fragment, unless the speaker paused at the fragment's end
(a pause is a boundary too), the held text grew too long, or it was already held once. Fragments
are processed concurrently; :class:`SentenceCarry` lets fragment k+1 wait (bounded) for fragment k
while k is still in flight, so carried text is never lost or spoken twice.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
import zlib
from dataclasses import dataclass

_BRACKETED = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|♪[^♪]*♪?")  # [Music], (applause), *laughs*
_SPACES = re.compile(r"\s+")
_REPEATED_PUNCT = re.compile(r"([!?.,;:])\1+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([!?.,;:…])")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”»)]*(?=\s|$)")
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "sra", "srta", "jr", "st", "vs", "etc", "inc", "ltd", "co",
    "no", "nr", "ud", "uds", "dra", "av", "p", "pp", "approx", "e.g", "i.e", "u.s", "u.k",
}

# spoken forms of symbols, by language, applied before TTS
_SYMBOLS: dict[str, dict[str, str]] = {
    "en": {"%": " percent", "&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "€": " euros", "$": " dollars"},
    "es": {"%": " por ciento", "&": " y ", "+": " más ", "=": " igual a ", "@": " arroba ", "€": " euros", "$": " dólares"},
    "pt": {"%": " por cento", "&": " e ", "+": " mais ", "=": " igual a ", "@": " arroba ", "€": " euros", "$": " dólares"},
    "fr": {"%": " pour cent", "&": " et ", "+": " plus ", "=": " égale ", "@": " arobase ", "€": " euros", "$": " dollars"},
    "it": {"%": " per cento", "&": " e ", "+": " più ", "=": " uguale a ", "@": " chiocciola ", "€": " euro", "$": " dollari"},
    "ca": {"%": " per cent", "&": " i ", "+": " més ", "=": " igual a ", "@": " arrova ", "€": " euros", "$": " dòlars"},
}
_UNSPEAKABLE = re.compile(r"[#*_~^<>{}\[\]|\\/`]")


def _base(language: str) -> str:
    return language.split("-")[0].lower()


def normalize_for_mt(text: str) -> str:
    """Clean an ASR transcript for translation: Unicode NFC, no sound-event tags, tidy spaces and
    punctuation runs. Never adds or removes words."""
    text = unicodedata.normalize("NFC", text)
    text = _BRACKETED.sub(" ", text)
    text = text.replace("...", "…")
    text = _REPEATED_PUNCT.sub(r"\1", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _SPACES.sub(" ", text).strip()
    return text.lstrip("-–— ").strip()


def looks_repetitive(text: str, *, min_chars: int = 40, max_ratio: float = 2.4) -> bool:
    """True for a transcript that compresses too well: Whisper's test for a decoding loop
    ("and the Department of Public Health, and the Department of ..."), which it produces on music
    or noise. Whisper's own threshold (2.4) is only acted on with its temperature fallback, which
    live decoding skips."""
    data = text.encode()
    return len(data) >= min_chars and len(data) / len(zlib.compress(data)) > max_ratio


def cap_at_word(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` at a word boundary (unchanged when it fits)."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars + 1].rsplit(" ", 1)[0] if " " in text[:max_chars + 1] else text[:max_chars]
    return cut.rstrip(" ,;:-–—")


def normalize_for_tts(text: str, language: str) -> str:
    """Make a translation speakable: symbols to words in ``language``, no markup characters,
    quotes simplified, spaces tidy. Digits are left to the phonemizer (espeak-ng reads them in the
    voice's language)."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("‘", "'").replace("’", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,000 -> 1000 (en thousands separator)
    for symbol, spoken in _SYMBOLS.get(_base(language), _SYMBOLS["en"]).items():
        text = text.replace(symbol, spoken)
    text = _UNSPEAKABLE.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


def split_sentences(text: str) -> tuple[list[str], str]:
    """Complete sentences, and the unfinished rest (``""`` when the text ends a sentence).

    An ending is ``.``, ``!``, ``?`` or ``…`` followed by a space or the end, except after a known
    abbreviation (``Dr.``) or a single initial (``J.``)."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        word = text[start:match.start()].split()[-1:] or [""]
        stem = word[0].lower().rstrip(".")
        if match.group().startswith(".") and (stem in _ABBREVIATIONS or (len(stem) == 1 and stem.isalpha())):
            continue
        sentence = text[start:match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    return sentences, text[start:].strip()


@dataclass(frozen=True)
class CarryDecision:
    speak: str  # source text to dub in this fragment (carried-in text + this fragment's)
    carried: str  # held back for the next fragment


class SentenceCarry:
    """Per-stream text carry across fragments (see the module docstring). Thread-safe."""

    def __init__(self, *, max_chars: int = 160, wait_s: float = 1.0, enabled: bool = True) -> None:
        self._max_chars = max_chars
        self._wait_s = wait_s
        self._enabled = enabled
        self._cond = threading.Condition()
        self._in_flight: set[int] = set()
        self._pending = ""  # text waiting for the fragment after ``_pending_from``
        self._pending_from = -1
        self._last_done = -1

    def begin(self, sequence: int) -> None:
        """Announce a fragment when its processing starts (before its ASR)."""
        with self._cond:
            self._in_flight.add(sequence)

    def abandon(self, sequence: int) -> None:
        """The fragment failed before :meth:`settle`: release whoever waits for it."""
        with self._cond:
            self._in_flight.discard(sequence)
            self._cond.notify_all()

    def settle(self, sequence: int, text: str, *, ends_in_pause: bool) -> CarryDecision:
        """Decide what fragment ``sequence`` speaks, given its normalised transcript."""
        with self._cond:
            deadline = time.monotonic() + self._wait_s
            # wait for the previous fragment only while it is known to be in flight
            while (sequence - 1) in self._in_flight and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            self._in_flight.discard(sequence)
            carried_in = ""
            if self._pending and self._pending_from == sequence - 1:
                carried_in = self._pending
            elif self._pending and self._pending_from < sequence - 1:
                carried_in = self._pending  # the fragment in between never came: speak it now
            if self._pending_from < sequence:
                self._pending, self._pending_from = "", -1
            if sequence <= self._last_done:
                # a later fragment already settled: carrying into it is no longer possible
                decision = CarryDecision(speak=_join(carried_in, text), carried="")
            else:
                decision = self._decide(_join(carried_in, text), ends_in_pause, bool(carried_in))
                self._last_done = sequence
                if decision.carried:
                    self._pending, self._pending_from = decision.carried, sequence
            self._cond.notify_all()
            return decision

    def flush(self) -> str:
        """Text still held back (end of stream)."""
        with self._cond:
            text, self._pending, self._pending_from = self._pending, "", -1
            return text

    def _decide(self, text: str, ends_in_pause: bool, already_carried: bool) -> CarryDecision:
        if not self._enabled or ends_in_pause or not text:
            return CarryDecision(speak=text, carried="")
        sentences, rest = split_sentences(text)
        if not rest or len(rest) > self._max_chars or (already_carried and not sentences):
            return CarryDecision(speak=text, carried="")
        return CarryDecision(speak=" ".join(sentences), carried=rest)


def _join(a: str, b: str) -> str:
    return f"{a} {b}".strip() if a and b else (a or b)
