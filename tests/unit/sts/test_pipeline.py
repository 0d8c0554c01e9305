"""The STS pipeline with fakes: what the streaming core gets back, carry across fragments,
concurrency. test_pipeline_real.py runs the same path with the real offline models."""

from __future__ import annotations

import concurrent.futures
import math

import numpy as np
import pytest

from livedub.config.settings import PathSettings, WorkerSettings
from livedub.core.messages import AudioFragment, DubbedAudio
from livedub.core.sanitiser import sanitise
from livedub.sts import StsConfig, StsPipeline
from livedub.sts.errors import ProviderUnavailable, UnsupportedLanguage
from livedub.sts.fakes import FakeRecognizer

RATE = 48_000


def fragment(sequence: int, audio: np.ndarray) -> AudioFragment:
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    stereo = np.stack([pcm, pcm], axis=1)
    return AudioFragment(id=f"frag-{sequence}", stream_id="test", sequence=sequence, start_pts=sequence * 10**9,
                         duration=len(pcm) * 10**9 // RATE, samples=stereo)


def speechy(seconds: float, start: float = 0.2, end: float | None = None) -> np.ndarray:
    """Loud 'speech' between start and end over a quiet hum (the background)."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    audio = 0.01 * np.sin(2 * math.pi * 60 * t)
    end = seconds - 0.1 if end is None else end
    mask = (t >= start) & (t < end)
    audio[mask] += 0.3 * np.sin(2 * math.pi * 220 * t[mask])
    return audio.astype(np.float32)


@pytest.fixture()
def pipeline() -> StsPipeline:
    return StsPipeline.build(StsConfig.fakes(target_language="es", voice="fake:es-voice", carry=False))


def test_process_returns_what_the_core_expects(pipeline: StsPipeline) -> None:
    frag = fragment(0, speechy(1.5))
    dubbed = pipeline.process(frag)
    assert isinstance(dubbed, DubbedAudio)
    assert dubbed.fragment_id == frag.id and dubbed.sequence == 0 and dubbed.sample_rate == RATE
    assert dubbed.samples.shape == (frag.num_samples, 2) and dubbed.samples.dtype == np.float32
    assert dubbed.transcript in FakeRecognizer.SCRIPT
    assert dubbed.translation == f"es: {dubbed.transcript}"
    assert sanitise(dubbed, frag.num_samples).fixes == ()  # nothing for the core's sanitiser to repair


def test_outcome_has_every_stage_and_the_dub_replaces_the_speech(pipeline: StsPipeline) -> None:
    outcome = pipeline.process_detailed(fragment(0, speechy(2.0)))
    assert set(outcome.stage_seconds) >= {"separate", "vad", "asr", "translate", "tts", "stretch", "mix"}
    assert outcome.transcript is not None and outcome.transcript.key.fragment_id == "frag-0"
    assert outcome.translation is not None and outcome.translation.key.sequence == 0
    assert outcome.fit is not None and 1.0 <= outcome.fit.speed <= 2.0
    assert outcome.fit.offset_s == pytest.approx(0.2, abs=0.05)  # the dub starts where the speech did
    # the 220 Hz "speech" is gone from the output; the fake TTS voice is there instead
    out = outcome.samples[:, 0]
    spectrum = np.abs(np.fft.rfft(out))
    freqs = np.fft.rfftfreq(len(out), 1 / RATE)
    assert spectrum[np.argmin(abs(freqs - 220))] < 0.05 * spectrum.max()


def test_silence_gives_the_background_without_calling_asr(pipeline: StsPipeline) -> None:
    quiet = 0.01 * np.sin(2 * math.pi * 60 * np.arange(RATE) / RATE).astype(np.float32)
    frag = fragment(0, quiet)
    outcome = pipeline.process_detailed(frag)
    assert outcome.transcript is None and outcome.translation is None and "asr" not in outcome.stage_seconds
    np.testing.assert_allclose(outcome.samples[:, 0], frag.samples[:, 0] / 32768, atol=1e-3)
    assert pipeline.stats.silent == 1


def test_background_serves_the_separation_the_fragment_already_had(pipeline: StsPipeline) -> None:
    frag = fragment(3, speechy(1.0))
    outcome = pipeline.process_detailed(frag)
    assert pipeline.background(frag) is outcome.background
    other = fragment(4, speechy(1.0))
    assert pipeline.background(other).shape == (other.num_samples, 2)


def test_unfinished_sentences_are_carried_across_fragments() -> None:
    script = ("Tonight we talk about", "the weather. And", "sport.")
    config = StsConfig.fakes(voice="fake:v", asr_options={"script": script})
    pipeline = StsPipeline.build(config)
    # the fake ASR picks its line by duration (x10 mod 3): 1.5 s -> 0, 1.6 s -> 1, 1.7 s -> 2
    first = pipeline.process_detailed(fragment(0, speechy(1.5, end=1.5)))
    second = pipeline.process_detailed(fragment(1, speechy(1.6, end=1.6)))
    third = pipeline.process_detailed(fragment(2, speechy(1.7, end=1.55)))  # ends in a pause
    assert first.spoken_text == "" and first.carried_text == "Tonight we talk about"
    assert second.spoken_text == "Tonight we talk about the weather." and second.carried_text == "And"
    assert third.spoken_text == "And sport." and third.carried_text == ""


def test_concurrent_fragments_give_the_same_results_as_sequential_ones() -> None:
    fragments = [fragment(i, speechy(1.0 + 0.1 * i)) for i in range(6)]
    sequential = StsPipeline.build(StsConfig.fakes(voice="fake:v", carry=False))
    expected = [sequential.process(f) for f in fragments]
    concurrent_pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v", carry=False))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        got = list(pool.map(concurrent_pipeline.process, fragments))
    for a, b in zip(expected, got):
        assert a.transcript == b.transcript
        np.testing.assert_allclose(a.samples, b.samples, atol=1e-6)
    assert concurrent_pipeline.stats.fragments == 6


def test_same_language_revoicing_skips_translation() -> None:
    pipeline = StsPipeline.build(StsConfig.fakes(source_language="es", target_language="es", translator="auto",
                                                 voice="fake:v", carry=False))
    outcome = pipeline.process_detailed(fragment(0, speechy(1.5)))
    assert outcome.translation is not None and outcome.translation.provider == "identity"
    assert outcome.translation.text == outcome.spoken_text


def test_config_from_worker_settings() -> None:
    worker = WorkerSettings(source_lang="en", target_lang="pt", tts_voice="pt-alex", device="cuda")
    paths = PathSettings(model_dir="/tmp/m", hf_home="/tmp/hf", tts_home="/tmp/tts")
    config = StsConfig.from_settings(worker, paths, asr="fake")
    assert (config.source_language, config.target_language, config.voice) == ("en", "pt", "pt-alex")
    assert config.load.device == "cuda" and str(config.load.model_dir) == "/tmp/m"
    assert str(config.load.hf_home) == "/tmp/hf" and str(config.load.tts_home) == "/tmp/tts" and config.asr == "fake"


def test_unknown_voice_and_provider_fail_clearly() -> None:
    with pytest.raises(UnsupportedLanguage, match="unknown voice"):
        StsPipeline.build(StsConfig.fakes(voice="nobody"))
    with pytest.raises(ProviderUnavailable, match="use one of"):
        StsPipeline.build(StsConfig.fakes(voice="fake:v", asr="nope"))
    error = None
    try:
        StsPipeline.build(StsConfig.fakes(voice="fake:v", asr="nope"))
    except ProviderUnavailable as exc:
        error = exc
    assert error is not None and error.retryable is False  # the core opens its breaker at once


def test_an_asr_decoding_loop_is_not_spoken() -> None:
    loop = "and the Department of Public Health, " * 8
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v", carry=False, asr_options={"script": (loop,)}))
    outcome = pipeline.process_detailed(fragment(0, speechy(1.5)))
    assert outcome.transcript is not None and outcome.transcript.text == loop  # kept for the record
    assert outcome.spoken_text == "" and outcome.translation is None and "tts" not in outcome.stage_seconds
    assert pipeline.stats.silent == 1  # the fragment plays its background


def test_the_tts_never_gets_more_text_than_the_fragment_could_play() -> None:
    long_line = ("Tonight we look at the markets, the weather in the north, a new bridge over the river, "
                 "three goals in the cup final and the price of bread, which rose again this week while "
                 "wages stood still for most of the people who wrote to us about it.")  # ~240 chars in 1 s
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v", carry=False, asr_options={"script": (long_line,)}))
    outcome = pipeline.process_detailed(fragment(0, speechy(1.0)))
    assert outcome.translation is not None and outcome.translation.text == f"es: {long_line}"
    assert outcome.speech is not None
    limit = 1.0 * pipeline.config.duration.max_speed * 24  # MAX_TTS_CHARS_PER_S
    assert 0 < len(outcome.speech.text) <= limit
    assert outcome.translation.text.startswith(outcome.speech.text)  # cut at a word, from the start
