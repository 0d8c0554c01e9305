"""Text similarity for checking a dub's words: chrF (character n-gram F-score, Popović 2015).

chrF compares character n-grams (n = 1..6, spaces removed) of a hypothesis with a reference; the
precision and recall, averaged over n, combine into an F-score with beta = 2 (recall weighs twice).
Both texts are normalised first (lower case, punctuation dropped, spaces collapsed), so a
transcription's casing and punctuation do not count: it measures the words that were heard. Scores
run 0..100; this implementation follows the paper's definition (sacrebleu's `CHRF` averages
per-order F-scores instead, which differs by a point or two).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

CHAR_ORDER = 6
BETA = 2.0


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def words(text: str) -> list[str]:
    return normalise(text).split()


def _ngrams(text: str, n: int) -> Counter[str]:
    return Counter(text[i:i + n] for i in range(len(text) - n + 1))


def chrf(hypothesis: str, reference: str, order: int = CHAR_ORDER, beta: float = BETA) -> float:
    """chrF of ``hypothesis`` against ``reference``, 0..100."""
    hyp, ref = normalise(hypothesis).replace(" ", ""), normalise(reference).replace(" ", "")
    precisions, recalls = [], []
    for n in range(1, order + 1):
        h, r = _ngrams(hyp, n), _ngrams(ref, n)
        if not h or not r:
            continue
        matches = sum((h & r).values())
        precisions.append(matches / sum(h.values()))
        recalls.append(matches / sum(r.values()))
    if not precisions:
        return 0.0
    p, rc = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if p + rc == 0:
        return 0.0
    return 100 * (1 + beta**2) * p * rc / (beta**2 * p + rc)


def wer(hypothesis: str, reference: str) -> float:
    """Word error rate: word-level edit distance / the reference's words (both normalised)."""
    hyp, ref = words(hypothesis), words(reference)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[len(hyp)] / max(1, len(ref))
