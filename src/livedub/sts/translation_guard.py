"""Checks on a generative translator's output before anyone hears it.

A language model asked to translate sometimes answers in the source language, copies the sentence,
adds a note ("Here is the translation: ..."), or runs on well past the sentence. :func:`clean`
takes off the wrapping a model adds around an otherwise good answer; :func:`rejection` says why an
answer must not be used (then the caller uses its rule-based translation and counts it), or
``None`` when it may. Pure functions: the language identifier is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# what a model puts before an answer it was told to give bare
_PREAMBLE = re.compile(r"^\s*(?:here is|here's|sure|translation|traducción|traduction|übersetzung|traduzione|"
                       r"tradução)\b[^:\n]{0,60}:\s*", re.IGNORECASE)
_QUOTES = "\"'«»“”„‘’"
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_PLACEHOLDER = re.compile(r"^ZQX[A-Z]{1,2}Q$", re.IGNORECASE)  # glossary placeholders (sts/glossary.py)


@dataclass(frozen=True)
class GuardLimits:
    min_length_ratio: float = 0.5  # output characters / source characters
    max_length_ratio: float = 2.2
    min_chars_for_ratio: int = 20  # a short source ("Thank you.") may fairly translate much longer
    max_copied_share: float = 0.6  # of the source's longer words still in the output
    min_words_for_checks: int = 3  # a two-word sentence says too little about its language or copying
    short_slack_chars: int = 30  # a short source may grow by this much beyond the ratio, no more
    echo_words: int = 4  # this many consecutive words of the instructions in the answer: an echo


DEFAULT_LIMITS = GuardLimits()


def clean(output: str) -> str:
    """The answer without a preamble, surrounding quotes or later lines (notes, alternatives)."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    first = _PREAMBLE.sub("", lines[0]) or (lines[1] if len(lines) > 1 else "")
    first = first.strip()
    if len(first) >= 2 and first[0] in _QUOTES and first[-1] in _QUOTES:
        first = first[1:-1].strip()
    return first


def _content_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text) if len(w) > 3 and not _PLACEHOLDER.match(w)]


def _echoes(output: str, instructions: str, source_text: str, n: int) -> bool:
    """Whether ``output`` repeats ``n`` consecutive words of ``instructions`` that the source did not say."""
    said = [w.lower() for w in _WORD.findall(instructions)]
    answer = " " + " ".join(w.lower() for w in _WORD.findall(output)) + " "
    source = " " + " ".join(w.lower() for w in _WORD.findall(source_text)) + " "
    for i in range(len(said) - n + 1):
        phrase = " " + " ".join(said[i:i + n]) + " "
        if phrase in answer and phrase not in source:
            return True
    return False


def rejection(source_text: str, output: str, *, source: str, target: str,
              identify: Callable[[str], str], instructions: str = "",
              limits: GuardLimits = DEFAULT_LIMITS) -> str | None:
    """Why ``output`` is not a usable ``target`` translation of ``source_text``: ``empty``, ``prompt``
    (it repeats the ``instructions`` the model was given), ``copy``, ``length`` or ``language``;
    ``None`` when it is usable. ``identify(text)`` -> an ISO 639-1 code."""
    if not output.strip():
        return "empty"
    if instructions and _echoes(output, instructions, source_text, limits.echo_words):
        return "prompt"
    if len(output.strip()) > limits.max_length_ratio * len(source_text.strip()) + limits.short_slack_chars:
        return "length"
    words = _WORD.findall(source_text)
    checked = len(words) >= limits.min_words_for_checks
    source_words = _content_words(source_text)
    if checked and source_words:
        kept = set(_content_words(output))
        copied = sum(1 for w in source_words if w in kept) / len(source_words)
        if copied > limits.max_copied_share:
            return "copy"
    if len(source_text.strip()) >= limits.min_chars_for_ratio:
        ratio = len(output.strip()) / len(source_text.strip())
        if not limits.min_length_ratio <= ratio <= limits.max_length_ratio:
            return "length"
    if checked and source.split("-")[0] != target.split("-")[0]:
        heard = identify(output)
        if heard != target.split("-")[0]:
            return "language"
    return None
