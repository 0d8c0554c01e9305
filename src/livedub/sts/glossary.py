"""A glossary: names, brands and show vocabulary translated the same way every time (WORKER_GLOSSARY).

The file is tab-separated, one term per line, ``#`` starts a comment::

    # pair    source term       target term (empty: kept as it is)
    en-es     Gympulse Radio
    en-es     representatives   agentes
    *         livedub

``pair`` is ``<source>-<target>`` (ISO 639-1) or ``*`` for every pair. Around any translator the
terms are *protected*: each occurrence in a sentence (case-insensitive, whole words, longest term
first) becomes a placeholder that translators pass through untouched (an unknown word to rule-based
MT), and the placeholder is replaced by the target term afterwards. A translator that drops a
placeholder gets the term appended to the sentence, so every sentence that says the term carries it.
The source terms are also given to the ASR as hint words (Whisper's prompt), so it spells them as
the glossary does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ANY_PAIR = "*"
_PLACEHOLDER = re.compile(r"ZQX([A-Z]{1,2})Q", re.IGNORECASE)
_PAIR = re.compile(r"[a-z]{2,3}-[a-z]{2,3}")


class GlossaryError(ValueError):
    """The glossary file cannot be used; the message names the line."""


@dataclass(frozen=True)
class Term:
    source: str
    target: str  # the source itself when the term is kept as it is


def _code(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _index(code: str) -> int:
    value = 0
    for letter in code.upper():
        value = value * 26 + ord(letter) - ord("A") + 1
    return value - 1


@dataclass(frozen=True)
class Glossary:
    terms: dict[str, tuple[Term, ...]]  # pair ("en-es" or "*") -> terms

    @classmethod
    def parse(cls, text: str, origin: str = "glossary") -> Glossary:
        terms: dict[str, list[Term]] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            columns = [c.strip() for c in line.split("\t")]
            if len(columns) not in (2, 3) or not columns[1]:
                raise GlossaryError(f"{origin}:{number}: expected 'pair<TAB>source term[<TAB>target term]'")
            pair = columns[0].lower()
            if pair != ANY_PAIR and not _PAIR.fullmatch(pair):
                raise GlossaryError(f"{origin}:{number}: pair {columns[0]!r} is not like en-es (or * for any)")
            source = columns[1]
            target = columns[2] if len(columns) == 3 and columns[2] else source
            terms.setdefault(pair, []).append(Term(source, target))
        if sum(len(t) for t in terms.values()) > 26 * 27:
            raise GlossaryError(f"{origin}: more than {26 * 27} terms")
        return cls({pair: tuple(found) for pair, found in terms.items()})

    @classmethod
    def load(cls, path: Path) -> Glossary:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GlossaryError(f"cannot read {path}: {exc}") from None
        return cls.parse(text, str(path))

    def for_pair(self, source: str, target: str) -> tuple[Term, ...]:
        """The pair's own terms, then the ones for every pair; longest source first."""
        found = (*self.terms.get(f"{source}-{target}", ()), *self.terms.get(ANY_PAIR, ()))
        return tuple(sorted(found, key=lambda term: len(term.source), reverse=True))

    def hint_words(self, source: str) -> str:
        """The source terms spoken in ``source``, for the ASR prompt ("" when there are none)."""
        seen: dict[str, None] = {}
        for pair, terms in self.terms.items():
            if pair == ANY_PAIR or pair.split("-")[0] == source:
                seen.update((term.source, None) for term in terms)
        return ", ".join(seen)

    def protect(self, text: str, source: str, target: str) -> tuple[str, list[str]]:
        """``text`` with every term replaced by a placeholder, and the target term of each placeholder."""
        targets: list[str] = []

        for term in self.for_pair(source, target):
            pattern = re.compile(rf"(?<!\w){re.escape(term.source)}(?!\w)", re.IGNORECASE)

            def placeholder(_match: re.Match[str], term: Term = term) -> str:
                targets.append(term.target)
                return f"ZQX{_code(len(targets) - 1)}Q"

            text = pattern.sub(placeholder, text)
        return text, targets

    @staticmethod
    def restore(text: str, targets: list[str]) -> str:
        """Placeholders back to their target terms; a placeholder the translator lost is appended."""
        used: set[int] = set()

        def term(match: re.Match[str]) -> str:
            index = _index(match.group(1))
            if index >= len(targets):
                return match.group(0)
            used.add(index)
            return targets[index]

        restored = _PLACEHOLDER.sub(term, text)
        lost = [targets[i] for i in range(len(targets)) if i not in used]
        return " ".join([restored.rstrip(), *lost]) if lost else restored
