from __future__ import annotations

import threading

import pytest

from livedub.sts.text import SentenceCarry, normalize_for_mt, normalize_for_tts, split_sentences


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


def test_unfinished_sentence_is_carried_to_the_next_fragment() -> None:
    carry = SentenceCarry()
    carry.begin(0)
    first = carry.settle(0, "Good evening. Tonight we talk about", ends_in_pause=False)
    assert first.speak == "Good evening." and first.carried == "Tonight we talk about"
    carry.begin(1)
    second = carry.settle(1, "the weather in Spain.", ends_in_pause=False)
    assert second.speak == "Tonight we talk about the weather in Spain." and second.carried == ""


def test_a_pause_ends_the_sentence_and_text_is_carried_only_once() -> None:
    carry = SentenceCarry()
    assert carry.settle(0, "and then", ends_in_pause=True).speak == "and then"
    assert carry.settle(1, "we went", ends_in_pause=False).carried == "we went"
    # carried text with no sentence end in the next fragment is spoken, not carried again
    decision = carry.settle(2, "to the", ends_in_pause=False)
    assert decision == type(decision)(speak="we went to the", carried="")


def test_carry_waits_for_the_previous_fragment_in_flight() -> None:
    carry = SentenceCarry(wait_s=5.0)
    carry.begin(0)
    carry.begin(1)
    results: dict[int, object] = {}
    later = threading.Thread(target=lambda: results.__setitem__(1, carry.settle(1, "is here.", ends_in_pause=False)))
    later.start()
    later.join(0.2)
    assert later.is_alive()  # fragment 1 waits for fragment 0
    results[0] = carry.settle(0, "The train", ends_in_pause=False)
    later.join(5)
    assert results[0].speak == "" and results[0].carried == "The train"
    assert results[1].speak == "The train is here."


def test_a_failed_fragment_releases_the_next_and_late_fragments_speak_everything() -> None:
    carry = SentenceCarry(wait_s=5.0)
    carry.begin(0)
    carry.begin(1)
    carry.abandon(0)
    assert carry.settle(1, "Hello there", ends_in_pause=False).carried == "Hello there"
    # fragment 0 settling after 1 cannot carry forward any more
    assert carry.settle(0, "Late words", ends_in_pause=False).speak == "Late words"
    assert carry.flush() == "Hello there"
    assert carry.flush() == ""


def test_carry_can_be_disabled() -> None:
    carry = SentenceCarry(enabled=False)
    assert carry.settle(0, "Half a sentence", ends_in_pause=False).speak == "Half a sentence"


def test_repetition_loops_are_recognised_and_ordinary_sentences_are_not() -> None:
    from livedub.sts.text import looks_repetitive

    assert looks_repetitive("Development of the Department of Public Health, and the Department of Public "
                            "Health, and the Department of Public Health, and the Department of")
    assert not looks_repetitive("All of our representatives are currently busy. Please stay on the line and "
                                "your call will be answered by the next available representative.")
    assert not looks_repetitive("no no no no")  # too short to judge


def test_cap_at_word_cuts_between_words() -> None:
    from livedub.sts.text import cap_at_word

    assert cap_at_word("Gracias por su paciencia.", 100) == "Gracias por su paciencia."
    assert cap_at_word("Gracias por su paciencia.", 16) == "Gracias por su"
    assert cap_at_word("Gracias, por su paciencia.", 9) == "Gracias"
    assert cap_at_word("Supercalifragilistic", 5) == "Super"
