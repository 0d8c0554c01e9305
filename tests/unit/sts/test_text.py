from __future__ import annotations

import pytest

from livedub.sts.text import normalize_for_mt, normalize_for_tts, split_sentences


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  hello   world ", "hello world"),
        ("[Music] Welcome back (applause) everyone!!", "Welcome back everyone!"),
        ("- So... what now ?", "So… what now?"),
        ("♪ la la ♪ Thanks", "Thanks"),
    ],
)
def test_normalize_for_mt(raw: str, clean: str) -> None:
    assert normalize_for_mt(raw) == clean


@pytest.mark.parametrize(
    ("text", "language", "spoken"),
    [
        ("Un 50% de descuento & más", "es", "Un 50 por ciento de descuento y más"),
        ("Save 1,000 dollars #today", "en", "Save 1000 dollars today"),
        ("“Olá” <b>mundo</b>", "pt", '"Olá" b mundo b'),
    ],
)
def test_normalize_for_tts(text: str, language: str, spoken: str) -> None:
    assert normalize_for_tts(text, language) == spoken


@pytest.mark.parametrize(
    ("text", "sentences", "rest"),
    [
        ("Hello there. How are you", ["Hello there."], "How are you"),
        ("Dr. Smith is here. Yes!", ["Dr. Smith is here.", "Yes!"], ""),
        ("It costs 3.50 today", [], "It costs 3.50 today"),
        ("What? Really… ok", ["What?", "Really…"], "ok"),
        ("", [], ""),
    ],
)
def test_split_sentences(text: str, sentences: list[str], rest: str) -> None:
    assert split_sentences(text) == (sentences, rest)


def test_repetition_loops_are_recognised_and_ordinary_sentences_are_not() -> None:
    from livedub.sts.text import looks_repetitive

    assert looks_repetitive("Development of the Department of Public Health, and the Department of Public "
                            "Health, and the Department of Public Health, and the Department of")
    assert not looks_repetitive("All of our representatives are currently busy. Please stay on the line and "
                                "your call will be answered by the next available representative.")
    assert not looks_repetitive("no no no no")  # too short to judge
