"""The chrF used by the real-dub end-to-end test (tests/e2e/text_metrics.py) behaves like chrF."""

from __future__ import annotations

from tests.e2e.text_metrics import chrf, normalise, wer, words


def test_identical_texts_score_100_whatever_the_case_and_punctuation() -> None:
    assert chrf("Gracias por su paciencia.", "gracias por su paciencia") == 100.0


def test_unrelated_texts_score_near_0_and_empty_scores_0() -> None:
    assert chrf("xyz qwv", "Gracias por su paciencia.") < 5
    assert chrf("", "Gracias") == 0.0


def test_closer_wording_scores_higher_and_recall_weighs_more_than_precision() -> None:
    reference = "Por favor, intente llamar de nuevo más tarde."
    assert chrf("Por favor, intente llamar otra vez más tarde.", reference) > chrf("Probar llamada tarde.", reference)
    # beta = 2: missing half the reference costs more than adding as much again
    assert chrf(reference + " " + reference, reference) > chrf("Por favor, intente", reference)


def test_normalisation_keeps_letters_and_accents() -> None:
    assert normalise("  ¿Más   tarde?  ") == "más tarde"
    assert words("Hola, mundo!") == ["hola", "mundo"]


def test_wer_counts_substitutions_insertions_and_deletions_per_reference_word() -> None:
    assert wer("Thank you for your patience.", "thank you for your patience") == 0.0
    assert wer("thank you for the patience", "thank you for your patience") == 0.2  # one substitution
    assert wer("thank you so much for your patience", "thank you for your patience") == 0.4  # two insertions
    assert wer("", "thank you") == 1.0
