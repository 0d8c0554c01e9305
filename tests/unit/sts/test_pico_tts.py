"""SVOX Pico, the fast voice tier: its profiles, its native rate (speed without time-stretching),
thread-safety, and that Whisper hears its Spanish. The shared TTS contract is in test_contracts.py.

Provider tests skip, with the install command, when ttspico (cpu-models extra) is absent (a failure
under TESTS_REQUIRE=all)."""

from __future__ import annotations

import concurrent.futures
from dataclasses import replace

import numpy as np
import pytest

from livedub.sts import registry
from livedub.sts.errors import UnsupportedLanguage
from livedub.sts.voices import DEFAULT_VOICE, FAST_VOICE, PROFILES, fast_voice, resolve_voice
from tests.listener import reference_whisper

from .conftest import require_provider

# punctuation on purpose: Pico's rate does not shorten its phrase pauses, the provider must
SPANISH = "La reunión empieza a las diez. Después, comemos juntos; y luego, todos a casa."


@pytest.fixture(scope="module")
def pico():
    require_provider(registry.spec("tts", "pico"))
    return registry.create("tts", "pico")


# ---- profiles (no package needed) ---------------------------------------------------------------
def test_every_pico_language_has_a_fast_profile_and_pt_has_none() -> None:
    assert FAST_VOICE == {"es": "es-pico", "fr": "fr-pico", "de": "de-pico", "it": "it-pico", "en": "en-pico"}
    for language, name in FAST_VOICE.items():
        profile = fast_voice(language)
        assert profile is PROFILES[name] and profile.provider == "pico" and profile.language == language
    assert fast_voice("es-MX") is PROFILES["es-pico"]
    assert fast_voice("en-GB") is PROFILES["en-gb-pico"] and PROFILES["en-gb-pico"].speaker == "en-GB"
    assert fast_voice("en-US") is PROFILES["en-pico"]
    assert fast_voice("pt") is None and fast_voice("pt-BR") is None and fast_voice("hi") is None
    # no natural German voice ships, so German's default is the fast one
    assert resolve_voice("", "de") is PROFILES["de-pico"] and DEFAULT_VOICE["es"] != "es-pico"


def test_ad_hoc_pico_voices_resolve_and_must_speak_the_target_language() -> None:
    voice = resolve_voice("pico:es-ES", "es")
    assert (voice.provider, voice.speaker, voice.language) == ("pico", "es-ES", "es")
    assert resolve_voice("pico:en-GB", "en-US").speaker == "en-GB"
    assert resolve_voice("pico:fr", "fr").speaker == "fr-FR"
    with pytest.raises(UnsupportedLanguage, match="speaks 'fr'"):
        resolve_voice("pico:fr-FR", "es")
    with pytest.raises(UnsupportedLanguage, match="es-ES"):
        resolve_voice("pico:pt-PT", "pt")


# ---- the provider ---------------------------------------------------------------------------------
def test_pico_ships_six_voices_at_16_khz(pico) -> None:
    assert pico.sample_rate == 16_000
    assert sorted(pico.voices()) == ["de-DE", "en-GB", "en-US", "es-ES", "fr-FR", "it-IT"]
    for name in ("es-pico", "fr-pico", "de-pico", "it-pico", "en-pico", "en-gb-pico"):
        assert pico.supports(PROFILES[name]), name
        speech = pico.synthesize("Uno, dos, tres.", PROFILES[name])
        assert speech.sample_rate == 16_000 and speech.duration_s > 0.3, name
    assert not pico.supports(resolve_voice("es-dora", "es"))  # a Kokoro profile
    assert len(pico.synthesize("  <> ", PROFILES["es-pico"]).samples) == 0  # nothing speakable


@pytest.mark.parametrize("speed", [1.5, 2.0])
def test_a_higher_speed_gives_proportionally_shorter_speech(pico, speed: float) -> None:
    voice = PROFILES["es-pico"]
    normal = pico.synthesize(SPANISH, voice)
    faster = pico.synthesize(SPANISH, replace(voice, speed=speed))
    ratio = normal.duration_s / faster.duration_s
    assert abs(ratio - speed) < 0.05 * speed, (normal.duration_s, faster.duration_s)
    # native rate, not a time-stretch: the voice's pitch stays (no resampling trick either)
    assert faster.sample_rate == normal.sample_rate == 16_000


def test_concurrent_calls_give_what_one_call_gives(pico) -> None:
    jobs = [(f"Frase número {i}, dicha deprisa.", replace(PROFILES["es-pico"], speed=1.0 + i / 8))
            for i in range(6)] + [(f"Sentence number {i}.", PROFILES["en-pico"]) for i in range(4)]
    sequential = [pico.synthesize(text, voice).samples for text, voice in jobs]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        concurrent_out = list(pool.map(lambda job: pico.synthesize(*job).samples, jobs))
    for one, many in zip(sequential, concurrent_out):
        np.testing.assert_array_equal(one, many)


def test_whisper_hears_pico_spanish_as_spanish_with_its_words(pico) -> None:
    asr = reference_whisper()
    speech = pico.synthesize("Buenos días. Hoy hace sol en Madrid y vamos a la playa.", PROFILES["es-pico"])
    assert speech.sample_rate == asr.sample_rate
    heard = asr.transcribe(speech.samples, language=None)
    assert heard.language == "es", heard
    words = heard.text.lower()
    assert all(word in words for word in ("buenos", "días", "madrid", "playa")), heard.text
