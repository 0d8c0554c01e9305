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


def test_a_transcript_that_repeats_its_prompt_word_for_word_is_an_echo() -> None:
    from livedub.sts.text import echoes_prompt

    prompt = "The number you have dialed is not in service. Please check. The number and try again."
    assert echoes_prompt("The number you have dialed is not in service. Please check.", prompt)
    assert echoes_prompt("the NUMBER and, try again", prompt)  # case and punctuation do not count
    assert not echoes_prompt("Weasels have eaten our phone system.", prompt)
    assert not echoes_prompt("The number you have dialed is wrong.", prompt)  # a new ending is new speech
    assert not echoes_prompt("Please check.", prompt)  # two words: too short to tell an echo from speech
    assert not echoes_prompt("The number you have dialed", "")


@pytest.mark.parametrize(
    ("word", "first"),
    [("logged", ("log", False)), ("dialed", ("dial", False)), ("hoped", ("hope", False)), ("opened", ("open", False)),
     ("stopping", ("stop", False)), ("parties", ("party", False)), ("weasels", ("weasel", False)),
     ("Quickly", ("quick", False))],
)
def test_an_unknown_word_is_tried_as_the_forms_it_may_come_from(word: str, first: tuple[str, bool]) -> None:
    from livedub.sts.providers.apertium_mt import inflection_sources

    assert inflection_sources(word)[0] == first


def test_un_is_tried_as_a_negation_after_the_word_s_own_stems() -> None:
    from livedub.sts.providers.apertium_mt import inflection_sources

    sources = inflection_sources("unidentified")
    assert sources[-1] == ("identified", True) and all(not negated for _, negated in sources[:-1])
    assert inflection_sources("Zorblax") == [] and inflection_sources("cat") == []
