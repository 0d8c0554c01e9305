"""WORKER_GLOSSARY: every sentence that says a source term carries its target term, around any
translator (the fake, and Apertium for real); the ASR hears the terms as hint words."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from livedub.config import SettingsError, load_settings
from livedub.config.settings import PathSettings, WorkerSettings
from livedub.sts import StsConfig, StsPipeline, registry
from livedub.sts.glossary import Glossary, GlossaryError
from livedub.sts.registry import Stage
from tests.require import require
from tests.unit.sts.test_pipeline import fragment, speechy

SHOW = Glossary.parse(
    "# pair\tsource\ttarget\n"
    "en-es\tGympulse Radio\n"            # a name: kept as it is
    "en-es\trepresentatives\tagentes\n"  # show vocabulary: always this word
    "en-fr\trepresentatives\tconseillers\n"
    "*\tlivedub\tLiveDub\n"
)


def test_the_file_format_and_its_errors_name_the_line(tmp_path: Path) -> None:
    assert {pair: [(t.source, t.target) for t in terms] for pair, terms in SHOW.terms.items()} == {
        "en-es": [("Gympulse Radio", "Gympulse Radio"), ("representatives", "agentes")],
        "en-fr": [("representatives", "conseillers")], "*": [("livedub", "LiveDub")]}
    with pytest.raises(GlossaryError, match=r"g.tsv:2: expected 'pair<TAB>source term"):
        Glossary.parse("en-es\tok\n just one column\n", "g.tsv")
    with pytest.raises(GlossaryError, match=r":1: pair 'english' is not like en-es"):
        Glossary.parse("english\tterm\n")
    with pytest.raises(GlossaryError, match="cannot read"):
        Glossary.load(tmp_path / "missing.tsv")


def test_terms_are_protected_whole_words_case_insensitive_longest_first() -> None:
    glossary = Glossary.parse("en-es\tRadio\tRADIO\nen-es\tGympulse Radio\n")
    protected, targets = glossary.protect("Gympulse radio and Radio, not radios.", "en", "es")
    assert protected == "ZQXAQ and ZQXBQ, not radios." and targets == ["Gympulse Radio", "RADIO"]
    assert Glossary.restore("ZQXAQ y zqxbq, no radios.", targets) == "Gympulse Radio y RADIO, no radios."


def test_a_placeholder_the_translator_dropped_is_appended_so_the_term_is_not_lost() -> None:
    assert Glossary.restore("Hola.", ["agentes"]) == "Hola. agentes"


def test_only_the_pairs_terms_and_the_any_pair_ones_apply() -> None:
    assert [t.target for t in SHOW.for_pair("en", "fr")] == ["conseillers", "LiveDub"]
    assert SHOW.hint_words("en") == "Gympulse Radio, representatives, livedub"
    assert SHOW.hint_words("de") == "livedub"


def test_the_pipeline_translates_every_sentence_with_its_terms_and_hints_the_asr() -> None:
    script = ("Welcome to Gympulse Radio. All representatives are busy. Thanks from livedub",)
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v", asr_options={"script": script}, glossary=SHOW))
    prompts: list[str] = []
    asr = pipeline.asr

    class Recording:
        def __getattr__(self, name: str):
            return getattr(asr, name)

        def transcribe(self, audio, *, language, prompt=""):
            prompts.append(prompt)
            return asr.transcribe(audio, language=language, prompt=prompt)

    pipeline.asr = Recording()
    outcome = pipeline.process_detailed(fragment(0, speechy(3.0)))
    assert outcome.translation is not None
    assert outcome.translation.text == ("es: Welcome to Gympulse Radio. es: All agentes are busy. "
                                        "es: Thanks from LiveDub")
    assert prompts and prompts[0].startswith("Gympulse Radio, representatives, livedub.")


def test_apertium_says_every_glossary_term_in_every_sentence_that_has_it() -> None:
    require(shutil.which("lt-proc") is not None, "apertium is not installed (./scripts/install.sh)")
    mt = registry.create(Stage.mt, "apertium")
    sentences = ["Welcome to Gympulse Radio.", "All of our representatives are currently busy.",
                 "Gympulse Radio thanks its representatives.", "Our representatives use livedub every day."]
    plain = [mt.translate(s, source="en", target="es").text for s in sentences]
    assert "Radiofónico" in plain[0]  # what the glossary is for: Apertium translates the name
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v", glossary=SHOW))
    for sentence in sentences:
        out = pipeline._translate(mt, sentence, "en").text  # the pipeline's translation step, Apertium in it
        for term in SHOW.for_pair("en", "es"):
            if term.source.lower() in sentence.lower():
                assert term.target in out, (sentence, out)
        assert "ZQX" not in out.upper(), out


def test_worker_glossary_is_checked_when_the_settings_load(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="WORKER_GLOSSARY.*cannot read"):
        load_settings(WorkerSettings, env={"WORKER_GLOSSARY": str(tmp_path / "nope.tsv")})
    bad = tmp_path / "bad.tsv"
    bad.write_text("en-es\n")
    with pytest.raises(SettingsError, match="WORKER_GLOSSARY.*bad.tsv:1"):
        load_settings(WorkerSettings, env={"WORKER_GLOSSARY": str(bad)})
    good = tmp_path / "show.tsv"
    good.write_text("en-es\trepresentatives\tagentes\n")
    worker = load_settings(WorkerSettings, env={"WORKER_GLOSSARY": str(good)})
    config = StsConfig.from_settings(worker, load_settings(PathSettings, env={"LIVEDUB_DATA_DIR": str(tmp_path)}))
    assert config.glossary is not None and [t.target for t in config.glossary.for_pair("en", "es")] == ["agentes"]
