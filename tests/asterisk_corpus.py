"""Real English speech with human transcripts and human Spanish translations, from Debian packages.

Asterisk's prompts are recorded by one speaker (Allison Smith, ``asterisk-core-sounds-en-wav``);
``asterisk-core-sounds-en`` ships what each recording says and ``asterisk-core-sounds-es`` the Spanish
prompt text written for the same file name by the Asterisk translators (Mexican Spanish, often
without accents: compare with :func:`fold`). Together: a small parallel corpus that installs
offline, for translation-quality tests and benchmarks.
"""

from __future__ import annotations

import gzip
import unicodedata
from functools import cache
from pathlib import Path

from tests.e2e.media_analysis import SPEECH_DIR, Prompt

DOCS = Path("/usr/share/doc")
TEXTS = {"en": DOCS / "asterisk-core-sounds-en" / "core-sounds-en.txt.gz",
         "es": DOCS / "asterisk-core-sounds-es" / "core-sounds-es.txt.gz"}

# whole sentences whose Spanish text translates the English one (not a looser prompt), about 55 s of
# speech with the clip's music gaps: the translation-quality set
QUALITY_SET = ("conf-waitforleader", "confbridge-lock-no-join", "confbridge-pin-bad", "followme/sorry",
               "privacy-unident", "queue-youarenext", "ss-noservice", "vm-nobox", "vm-mismatch")


def available() -> str | None:
    """Why the corpus cannot be read here, or None."""
    for path in TEXTS.values():
        if not path.is_file():
            return f"{path} missing: apt-get install asterisk-core-sounds-en asterisk-core-sounds-es"
    if not SPEECH_DIR.is_dir():
        return f"{SPEECH_DIR} missing: apt-get install asterisk-core-sounds-en-wav"
    return None


@cache
def texts(language: str) -> dict[str, str]:
    """Prompt name -> its text in ``language``."""
    found: dict[str, str] = {}
    with gzip.open(TEXTS[language], "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith(";") or ":" not in line:
                continue
            name, text = line.split(":", 1)
            found[name.strip()] = " ".join(text.split())
    return found


def prompts(names: tuple[str, ...] = QUALITY_SET) -> tuple[Prompt, ...]:
    english, spanish = texts("en"), texts("es")
    return tuple(Prompt(name, english[name], spanish[name]) for name in names)


def fold(text: str) -> str:
    """Without accents (the Spanish references mostly omit them; hypotheses are folded the same way)."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")
