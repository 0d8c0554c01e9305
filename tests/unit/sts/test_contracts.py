"""Contract tests: every installed provider of a stage, and its fake, behave the same way.

Providers whose package is missing are skipped with the command that installs them; the install
recipe (scripts/install.sh --models, which --test includes) installs all the offline ones.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math

import numpy as np
import pytest

from livedub.sts import protocols, registry
from livedub.sts.registry import Stage
from livedub.sts.voices import VoiceProfile, resolve_voice

from .conftest import require_provider


def _ids(stage: Stage) -> list[str]:
    """One provider per class: the named Whisper sizes (whisper-small, ...) are ``whisper`` with a model."""
    seen: set[str] = set()
    names = []
    for p in registry.providers(stage):
        if p.target not in seen:
            seen.add(p.target)
            names.append(p.name)
    return names


def _load(stage: Stage, name: str, ctx: registry.LoadContext):
    provider = registry.spec(stage, name)
    require_provider(provider)
    return registry.create(stage, name, ctx)


def _tone(freq: float, seconds: float, rate: int, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * math.pi * freq * t)).astype(np.float32)


def _dominant_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * rate / len(audio))


# ---- ASR -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", _ids(Stage.asr))
def test_asr_contract(name: str, load_ctx, speech_16k: np.ndarray) -> None:
    asr = _load(Stage.asr, name, load_ctx)
    assert isinstance(asr, protocols.SpeechRecognizer)
    assert asr.sample_rate == 16_000
    transcript = asr.transcribe(speech_16k, language="en")
    assert transcript.text.strip()
    assert transcript.language == "en"
    duration = len(speech_16k) / 16_000
    for segment in transcript.segments:
        assert 0 <= segment.start_s <= segment.end_s <= duration + 0.5
    if name != "fake":
        words = transcript.text.lower()
        assert "circuits" in words and "busy" in words, transcript.text
    silence = asr.transcribe(np.zeros(16_000, np.float32), language="en")
    assert silence.text.strip() == ""
    again = asr.transcribe(speech_16k, language="en")
    assert again.text == transcript.text  # deterministic


@pytest.mark.parametrize("name", [n for n in _ids(Stage.asr) if n != "fake"])
def test_asr_detects_the_language(name: str, load_ctx, speech_16k: np.ndarray) -> None:
    asr = _load(Stage.asr, name, load_ctx)
    transcript = asr.transcribe(speech_16k, language=None)
    assert transcript.language == "en"
    assert transcript.language_probability is None or 0 < transcript.language_probability <= 1


# ---- translation -----------------------------------------------------------------------------------
PAIRS = {"apertium": ("en", "es"), "bergamot": ("en", "pt"), "nllb": ("en", "es"), "llm": ("en", "es"),
         "identity": ("es", "es"), "fake": ("en", "es")}
EXPECTED_WORD = {"apertium": "circuitos", "bergamot": "circuitos", "nllb": "circuitos", "llm": "circuitos",
                 "identity": "circuitos"}


@pytest.mark.parametrize("name", _ids(Stage.mt))
def test_translator_contract(name: str, load_ctx) -> None:
    mt = _load(Stage.mt, name, load_ctx)
    assert isinstance(mt, protocols.Translator)
    source, target = PAIRS[name]
    assert mt.supports(source, target)
    text = "Todos los circuitos están ocupados." if source == "es" else "All circuits are busy now."
    result = mt.translate(text, source=source, target=target)
    assert result.source_text == text and result.target_language == target and result.source_language == source
    assert result.text.strip()
    assert not any(mark in result.text for mark in ("\\", "^", "$", "*", "#", "\0"))
    if name in EXPECTED_WORD:
        assert EXPECTED_WORD[name] in result.text.lower(), result.text
    assert mt.translate("   ", source=source, target=target).text == ""
    # deterministic and thread-safe: concurrent calls give what one call gives
    sentences = [f"The number {i} is on the table." for i in range(8)]
    sequential = [mt.translate(s, source=source, target=target).text for s in sentences]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        concurrent_out = list(pool.map(lambda s: mt.translate(s, source=source, target=target).text, sentences))
    assert concurrent_out == sequential


def test_apertium_keeps_reserved_characters_and_survives_many_requests(load_ctx) -> None:
    mt = _load(Stage.mt, "apertium", load_ctx)
    out = mt.translate("The cat [sat] on the mat / 50% $3 <b>.", source="en", target="es").text
    assert "gato" in out and "50%" in out
    for i in range(30):  # replies stay in step with requests
        assert "casa" in mt.translate(f"The house {i}.", source="en", target="es").text.lower()


def test_apertium_speaks_an_inflection_it_does_not_list_in_the_target_language(load_ctx) -> None:
    mt = _load(Stage.mt, "apertium", load_ctx)
    # the dictionary has "log" (registro) and "identified", not "logged" nor "unidentified"
    assert mt.translate("Agent logged in.", source="en", target="es").text == "Agente registro en."
    out = mt.translate("It does not accept unidentified calls.", source="en", target="es").text
    assert "no identificado" in out and "unidentified" not in out
    # a word no form of which it knows (a name) is kept as said, without Apertium's mark
    assert mt.translate("Zorblax is here.", source="en", target="es").text.startswith("Zorblax ")
    assert mt.translate("He said *hello* twice.", source="en", target="es").text == "Dijo hola dos veces."


# ---- TTS -----------------------------------------------------------------------------------------
VOICES = {"kokoro": resolve_voice("es-dora", "es"), "piper": resolve_voice("en-joe", "en"),
          "pico": resolve_voice("es-pico", "es"),
          "fake": VoiceProfile("fake-es", "es", "fake"), "coqui": resolve_voice("es-vits", "es")}
SAY = {"es": "Hola, buenos días a todos.", "en": "Hello, good morning everybody."}


@pytest.mark.parametrize("name", _ids(Stage.tts))
def test_tts_contract(name: str, load_ctx) -> None:
    tts = _load(Stage.tts, name, load_ctx)
    assert isinstance(tts, protocols.SpeechSynthesizer)
    voice = VOICES[name]
    assert tts.supports(voice)
    speech = tts.synthesize(SAY[voice.language], voice)
    assert speech.samples.dtype == np.float32 and speech.samples.ndim == 1
    assert speech.sample_rate in (16_000, 22_050, 24_000, 44_100, 48_000)
    assert 0.5 < speech.duration_s < 6.0
    assert np.max(np.abs(speech.samples)) <= 1.0
    assert 20 * np.log10(np.sqrt(np.mean(speech.samples**2))) > -40  # audible
    assert len(tts.synthesize("", voice).samples) == 0
    longer = tts.synthesize(SAY[voice.language] + " " + SAY[voice.language], voice)
    assert longer.duration_s > speech.duration_s * 1.3  # more text, more speech


@pytest.mark.parametrize("name", ["kokoro", "piper"])
def test_onnx_voices_take_worker_cpu_threads_and_do_not_spin(name: str, load_ctx) -> None:
    tts = _load(Stage.tts, name, dataclasses.replace(load_ctx, cpu_threads=3))
    session = tts._session if name == "kokoro" else tts._voices["en_US-joe-medium"].session
    options = session.get_session_options()
    assert options.intra_op_num_threads == 3
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


# ---- separation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", _ids(Stage.separator))
def test_separator_contract(name: str, load_ctx, speech_clip) -> None:
    separator = _load(Stage.separator, name, load_ctx)
    assert isinstance(separator, protocols.SpeechSeparator)
    assert separator.sample_rate == 48_000
    from livedub.sts.audio import resample

    audio, rate = speech_clip
    speech = resample(audio, rate, 48_000)
    hum = _tone(100.0, len(speech) / 48_000, 48_000, 0.05)[: len(speech)]
    mix = np.stack([speech + hum, speech + hum], axis=1).astype(np.float32)
    result = separator.separate(mix)
    assert result.speech.shape == mix.shape and result.background.shape == mix.shape
    np.testing.assert_allclose(result.speech + result.background, mix, atol=1e-5)
    # more of the speech lands in "speech" than in "background"
    assert np.sum(result.speech**2) > np.sum(result.background**2) * 0.5
    quiet = separator.separate(np.zeros((48_000, 2), np.float32))
    assert np.max(np.abs(quiet.speech)) < 1e-3 and np.max(np.abs(quiet.background)) < 1e-3


def test_deepfilternet_speech_estimate_is_time_aligned(load_ctx, speech_clip) -> None:
    separator = _load(Stage.separator, "deepfilternet", load_ctx)
    from livedub.sts.audio import resample

    audio, rate = speech_clip
    speech = resample(audio, rate, 48_000)
    estimate = separator.enhance(speech)
    lags = range(-960, 961, 48)
    best = max(lags, key=lambda lag: float(np.dot(np.roll(estimate, -lag), speech)))
    assert abs(best) <= 48  # within 1 ms: the model's delay is compensated


# ---- time-stretch -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", _ids(Stage.stretcher))
@pytest.mark.parametrize("speed", [1.0, 1.25, 2.0])
def test_stretcher_contract(name: str, speed: float, load_ctx) -> None:
    stretcher = _load(Stage.stretcher, name, load_ctx)
    assert isinstance(stretcher, protocols.TimeStretcher)
    rate = 24_000
    tone = _tone(220.0, 2.0, rate)
    out = stretcher.stretch(tone, rate, speed)
    assert out.dtype == np.float32
    assert abs(len(out) - len(tone) / speed) <= 0.02 * len(tone) / speed
    middle = out[len(out) // 4: 3 * len(out) // 4]
    assert abs(_dominant_hz(middle, rate) - 220.0) < 220.0 * 0.03  # pitch kept


# ---- VAD -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", _ids(Stage.vad))
def test_vad_contract(name: str, load_ctx, speech_16k: np.ndarray) -> None:
    vad = _load(Stage.vad, name, load_ctx)
    assert isinstance(vad, protocols.VoiceActivityDetector)
    audio = np.concatenate([np.zeros(16_000, np.float32), speech_16k, np.zeros(16_000, np.float32)])
    probabilities = vad.speech_probabilities(audio)
    assert len(probabilities) == len(audio) // vad.frame_samples
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    frame_s = vad.frame_samples / vad.sample_rate
    lead = probabilities[: int(0.8 / frame_s)]
    assert np.max(lead) < 0.5  # silence
    assert np.max(probabilities) > 0.5  # speech
    np.testing.assert_array_equal(vad.speech_probabilities(audio), probabilities)  # stateless
