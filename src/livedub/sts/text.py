"""Text between the stages: normalisation before MT and before TTS, sentence splitting, and the
decoding-loop check. The STS works on speech segments (utterances bounded by pauses), so text is
never carried from one call to the next; only the ASR prompt is (see ``sts/pipeline.py``).
"""

from __future__ import annotations

import re
import unicodedata
import zlib

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


_WORD = re.compile(r"\w+(?:'\w+)?")


def echoes_prompt(text: str, prompt: str, *, min_words: int = 3) -> bool:
    """True when a transcript of ``min_words`` or more words is word for word a stretch of the
    ``prompt`` it was decoded with: Whisper's prompt echo, which it produces on speech it cannot
    follow (heard: four segments in a row of "The number you have dialed is not in service" over
    other prompts). Case and punctuation do not count."""
    said = _WORD.findall(text.lower())
    context = _WORD.findall(prompt.lower())
    if len(said) < min_words or len(said) > len(context):
        return False
    return any(context[i:i + len(said)] == said for i in range(len(context) - len(said) + 1))


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
