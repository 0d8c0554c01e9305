"""Apertium rule-based translation through one persistent pipeline per language pair.

A subprocess per sentence costs 130-160 ms (the pipeline's ten programs load their transducers);
a long-lived pipeline built from the pair's ``modes/<pair>.mode`` file, every program in
null-flush mode (``-z``), answers in a few ms: each request ends with ``\\0`` and every program
flushes its output at that byte.

A word outside the pair's dictionary comes back marked (``*logged``). Passed through, an English
word in a Spanish sentence is what a viewer hears most ("Agente logged en."), so each unknown
word is tried again as the forms it may be inflected from (``logged`` -> ``log``, ``dialed`` ->
``dial``, ``unidentified`` -> "no" + ``identified``) and replaced by the first one the
dictionary knows. A word none of them explains (a name, a brand) stays as it was said.
"""

from __future__ import annotations

import logging
import os
import re
import select
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from livedub.sts.errors import StsError, UnsupportedLanguage
from livedub.sts.messages import Translation
from livedub.sts.registry import LoadContext

log = logging.getLogger(__name__)

MODES_DIRS = (Path("/usr/share/apertium/modes"), Path("/usr/local/share/apertium/modes"),
              Path("/opt/homebrew/share/apertium/modes"))
# Apertium's language codes (ISO 639-3) -> the ISO 639-1 codes the rest of livedub uses
ISO3_TO_1 = {"eng": "en", "spa": "es", "por": "pt", "fra": "fr", "cat": "ca", "ita": "it", "glg": "gl",
             "deu": "de", "oci": "oc", "ron": "ro", "nld": "nl", "eus": "eu", "arg": "an", "ast": "ast"}
_RESERVED = re.compile(r"([\[\]\\^$/<>@{}*#+~])")  # Apertium stream-format characters, escaped
_UNESCAPE = re.compile(r"\\(.)")
_UNKNOWN = re.compile(r"(?<!\\)\*(\w[\w'-]*)")  # an unknown-word mark in the raw output
_SHORT_CVC = re.compile(r"^[^aeiouy]*[aeiou][^aeiouwxy]$")  # one syllable, consonant-vowel-consonant
# the negating prefix "un-" in the target language (unidentified -> no identificado)
NEGATION = {"es": "no", "pt": "não", "fr": "non", "it": "non", "ca": "no", "gl": "non", "ro": "ne"}


def discover_pairs(modes_dirs: tuple[Path, ...] = MODES_DIRS) -> dict[tuple[str, str], Path]:
    """(source, target) ISO 639-1 -> mode file, for plain ``xxx-yyy.mode`` files."""
    pairs: dict[tuple[str, str], Path] = {}
    for directory in modes_dirs:
        if not directory.is_dir():
            continue
        for mode in sorted(directory.glob("*.mode")):
            parts = mode.stem.split("-")
            if len(parts) == 2 and parts[0] in ISO3_TO_1 and parts[1] in ISO3_TO_1:
                pairs.setdefault((ISO3_TO_1[parts[0]], ISO3_TO_1[parts[1]]), mode)
    return pairs


def null_flush_command(mode_file: Path) -> str:
    """The mode's shell pipeline with ``-z`` after every program."""
    pipeline = mode_file.read_text().strip()
    stages = [stage.strip() for stage in pipeline.split("|")]
    return " | ".join(stage if re.match(r"^\S+\s+-z\b", stage) else re.sub(r"^(\S+)", r"\1 -z", stage)
                      for stage in stages)


def inflection_sources(word: str) -> list[tuple[str, bool]]:
    """English forms an unknown ``word`` may be inflected or derived from, most likely first, each
    with whether a negating ``un-`` was taken off (``logged`` -> log; ``unidentified`` -> identified)."""
    w = word.lower()
    found: list[str] = []

    def add(stem: str) -> None:
        if len(stem) >= 3 and stem != w and stem not in found:
            found.append(stem)

    for suffix, replacements in (("ied", ("y",)), ("ies", ("y",)), ("ed", ("", "e")), ("ing", ("", "e")),
                                 ("es", ("",)), ("s", ("",)), ("ly", ("",)), ("er", ("", "e")), ("est", ("", "e"))):
        if w.endswith(suffix) and len(w) > len(suffix) + 2:
            stem = w[:-len(suffix)]
            if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouls":  # logged, stopping
                add(stem[:-1])
            if len(replacements) == 2 and _SHORT_CVC.search(stem):
                replacements = replacements[::-1]  # hoped, timed: one short syllable drops an 'e'
            for tail in replacements:
                add(stem + tail)
    sources = [(stem, False) for stem in found]
    if w.startswith("un") and len(w) > 5:
        sources += [(w[2:], True)]
    return sources


def _clean(raw: str) -> str:
    """Apertium's stream format to plain text: unescaped, its marks gone ('*' an unknown word kept,
    '#' a generation gap, '@' an untranslated lemma)."""
    cleaned = _UNESCAPE.sub(r"\1", _UNKNOWN.sub(r"\1", raw)).replace("#", "").replace("@", "")
    return re.sub(r"\s+", " ", cleaned).strip()


class _Pipeline:
    def __init__(self, mode_file: Path, timeout_s: float) -> None:
        self._command = null_flush_command(mode_file)
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            # $1 = -g (generation with unknown-word marks), $2 = "" (tagger option), as the `apertium`
            # script passes them
            self._process = subprocess.Popen(
                ["bash", "-c", self._command, "apertium", "-g", ""], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, "LC_ALL": "C.UTF-8"},
            )
        return self._process

    def translate(self, text: str) -> str:
        with self._lock:
            process = self._start()
            assert process.stdin is not None and process.stdout is not None
            try:
                # a trailing newline lets the last word and its punctuation through before the flush
                process.stdin.write(_RESERVED.sub(r"\\\1", text).encode() + b"\n\0")
                process.stdin.flush()
                return self._read_reply(process)
            except (OSError, TimeoutError) as exc:
                self._kill()
                raise StsError(f"apertium pipeline failed: {exc}", retryable=True) from exc

    def _read_reply(self, process: subprocess.Popen[bytes]) -> str:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        deadline = time.monotonic() + self._timeout_s
        reply = b""
        while not reply.endswith(b"\0"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError(f"no reply within {self._timeout_s} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise OSError("pipeline exited")
            reply += chunk
        return reply[:-1].decode("utf-8", errors="replace")

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, 9)
            self._process.wait(timeout=5)
        self._process = None

    def close(self) -> None:
        with self._lock:
            if self._process is not None and self._process.stdin is not None:
                self._process.stdin.close()
            self._kill()


class ApertiumTranslator:
    def __init__(self, ctx: LoadContext | None = None, *, modes_dir: str = "", timeout_s: float = 5.0,
                 **_: Any) -> None:
        if shutil.which("lt-proc") is None:
            raise StsError("apertium (lt-proc) is not installed", retryable=False)
        self._pairs = discover_pairs((Path(modes_dir),) if modes_dir else MODES_DIRS)
        self._timeout_s = timeout_s
        self._pipelines: dict[tuple[str, str], _Pipeline] = {}
        self._lock = threading.Lock()

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return sorted(self._pairs)

    def supports(self, source: str, target: str) -> bool:
        return (source.split("-")[0], target.split("-")[0]) in self._pairs

    def _pipeline(self, source: str, target: str) -> _Pipeline:
        pair = (source.split("-")[0], target.split("-")[0])
        with self._lock:
            if pair not in self._pipelines:
                if pair not in self._pairs:
                    raise UnsupportedLanguage(f"no Apertium pair {pair[0]}->{pair[1]} installed "
                                              f"(installed: {', '.join(f'{a}-{b}' for a, b in self.pairs)})")
                self._pipelines[pair] = _Pipeline(self._pairs[pair], self._timeout_s)
            return self._pipelines[pair]

    def translate(self, text: str, *, source: str, target: str) -> Translation:
        pipeline = self._pipeline(source, target)
        if not text.strip():
            return Translation(text, "", source, target, "apertium")
        # a '*' of the text would read as an unknown-word mark in the reply (and is not spoken anyway)
        raw = pipeline.translate(text.replace("*", " ").strip())
        raw = _UNKNOWN.sub(lambda m: self._unknown(pipeline, m.group(1), target), raw)
        return Translation(text, _clean(raw), source, target, "apertium")

    def _unknown(self, pipeline: _Pipeline, word: str, target: str) -> str:
        """A replacement for a word the dictionary does not know: the translation of the first form it
        may come from that the dictionary knows, else the word itself."""
        negation = NEGATION.get(target.split("-")[0])
        for candidate, prefix in inflection_sources(word):
            if prefix and negation is None:
                continue  # no word for the "un-" it stands for: not worth a lookup
            raw = pipeline.translate(candidate)
            if "*" in raw or "#" in raw or not raw.strip():
                continue
            translated = _clean(raw).strip(" .,;:!?")
            if not translated or len(translated.split()) > 3:
                continue
            if not word[:1].isupper():  # alone, the candidate came back capitalised as a sentence
                translated = translated[:1].lower() + translated[1:]
            if prefix:
                translated = f"{negation} {translated}"
            return translated
        log.debug("word not in the dictionary, kept as said", extra={"chars": len(word)})
        return word

    def close(self) -> None:
        with self._lock:
            for pipeline in self._pipelines.values():
                pipeline.close()
            self._pipelines.clear()
