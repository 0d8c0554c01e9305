"""The STS pipeline with fakes: what the streaming core gets back for a speech segment, sentences,
run-on, quality rungs, concurrency. test_pipeline_real.py runs the same path with the real offline models."""

from __future__ import annotations

import concurrent.futures
import math
from dataclasses import replace

import numpy as np
import pytest

from livedub.config.settings import PathSettings, WorkerSettings
from livedub.core.messages import AudioFragment, DubbedAudio, SpeechSegment
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
    return StsPipeline.build(StsConfig.fakes(target_language="es", voice="fake:es-voice"))


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


def test_a_segment_where_asr_hears_no_words_keeps_its_audio_as_it_came() -> None:
    # loud music the VAD took for speech: nothing was said, so nothing is separated out or ducked
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v", asr_options={"script": ("",)}))
    frag = fragment(0, speechy(2.0))
    outcome = pipeline.process_detailed(frag)
    assert "asr" in outcome.stage_seconds and outcome.translation is None and outcome.tail is None
    np.testing.assert_allclose(outcome.samples[:, 0], frag.samples[:, 0] / 32768, atol=1e-3)


def test_a_voice_in_which_asr_hears_no_words_is_removed_when_the_vad_tells_voices_from_music() -> None:
    # Silero heard a voice, Whisper no word (a lone "Please" cut off by a pause): the viewer gets the
    # background, not a word in the source language
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v", asr_options={"script": ("",)}))
    energy = pipeline.vad

    class VoiceVad:
        tells_voice_from_music = True

        def __getattr__(self, name: str):
            return getattr(energy, name)

    pipeline.vad = VoiceVad()
    frag = fragment(0, speechy(2.0))
    outcome = pipeline.process_detailed(frag)
    assert outcome.translation is None and outcome.background is not None
    out = outcome.samples[:, 0]
    spectrum = np.abs(np.fft.rfft(out))
    freqs = np.fft.rfftfreq(len(out), 1 / RATE)
    assert spectrum[np.argmin(abs(freqs - 220))] < 0.05 * spectrum.max()  # the "speech" is gone
    lead_in = out[:int(0.15 * RATE)]  # before the "speech": only the hum, the background, which stays
    assert float(np.sqrt(np.mean(lead_in**2))) > 0.005


def test_background_serves_the_separation_the_fragment_already_had(pipeline: StsPipeline) -> None:
    frag = fragment(3, speechy(1.0))
    outcome = pipeline.process_detailed(frag)
    assert np.shares_memory(pipeline.background(frag), outcome.background)  # served, not separated again
    other = fragment(4, speechy(1.0))
    assert pipeline.background(other).shape == (other.num_samples, 2)


def test_each_sentence_is_translated_and_voiced_once_per_segment() -> None:
    script = ("Tonight we talk about the weather. And sport",)
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v", asr_options={"script": script}))
    outcome = pipeline.process_detailed(fragment(0, speechy(3.0)))
    assert outcome.spoken_text == "Tonight we talk about the weather. And sport"
    # the fake translator prefixes each call: two calls, one per sentence (the unfinished rest too)
    assert outcome.translation is not None
    assert outcome.translation.text == "es: Tonight we talk about the weather. es: And sport"
    assert outcome.speech is not None and outcome.speech.text == outcome.translation.text


def test_the_dub_runs_on_into_the_spill_before_it_is_sped_up() -> None:
    long_line = "Tonight we look at the markets, the weather in the north and a new bridge over the river."
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v", asr_options={"script": (long_line,)}))
    segment = SpeechSegment.of((fragment(0, speechy(1.0, end=0.9)),), 0, spill_ns=2 * 10**9)
    dubbed = pipeline.process(segment)
    assert dubbed.samples.shape == (segment.num_samples, 2)
    assert dubbed.tail is not None and 0 < len(dubbed.tail) <= 2 * RATE
    assert np.abs(dubbed.tail).max() > 0.01  # the voice goes on past the segment
    tight = pipeline.process(SpeechSegment.of((fragment(1, speechy(1.0, end=0.9)),), 1, spill_ns=0))
    assert tight.tail is None  # no room past the end: the dub fits inside (faster, or faded at the end)


def test_the_quality_rung_picks_the_separation() -> None:
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v"))
    assert pipeline.quality_rungs == ("natural", "fastest")  # fakes have no fast voice; ducking is the light rung
    segment = SpeechSegment.of((fragment(0, speechy(1.5)),), 0)
    natural = pipeline.process(segment.with_tier("natural"))
    fastest = pipeline.process(segment.with_tier("fastest"))
    assert natural.tier == "natural" and fastest.tier == "fastest"
    assert not np.allclose(natural.samples, fastest.samples, atol=1e-3)  # ducking keeps some original speech


def test_concurrent_fragments_give_the_same_results_as_sequential_ones() -> None:
    fragments = [fragment(i, speechy(1.0 + 0.1 * i)) for i in range(6)]
    sequential = StsPipeline.build(StsConfig.fakes(voice="fake:v"))
    expected = [sequential.process(f) for f in fragments]
    concurrent_pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v"))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        got = list(pool.map(concurrent_pipeline.process, fragments))
    for a, b in zip(expected, got):
        assert a.transcript == b.transcript
        np.testing.assert_allclose(a.samples, b.samples, atol=1e-6)
    assert concurrent_pipeline.stats.fragments == 6


def test_same_language_revoicing_skips_translation() -> None:
    pipeline = StsPipeline.build(StsConfig.fakes(source_language="es", target_language="es", translator="auto",
                                                 voice="fake:v"))
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
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v", asr_options={"script": (loop,)}))
    outcome = pipeline.process_detailed(fragment(0, speechy(1.5)))
    assert outcome.transcript is not None and outcome.transcript.text == loop  # kept for the record
    assert outcome.spoken_text == "" and outcome.translation is None and "tts" not in outcome.stage_seconds
    assert pipeline.stats.silent == 1  # the fragment plays its background


def test_ducking_lowers_the_background_only_where_the_vad_heard_speech() -> None:
    from livedub.sts.fakes import DuckingSeparator

    separator = DuckingSeparator(duck_db=-20.0)
    mix = np.full((RATE, 2), 0.3, np.float32)  # loud enough for the level threshold everywhere
    flags = np.zeros(10, bool)
    flags[4:6] = True  # speech from 0.4 to 0.6 s
    separation = separator.duck_where(mix, flags, 0.1, hangover_s=0.0)
    assert separation.background[RATE // 10, 0] == pytest.approx(0.3)  # music before the words: untouched
    assert separation.background[RATE // 2, 0] == pytest.approx(0.03, abs=1e-3)  # under the words: -20 dB
    assert separation.background[9 * RATE // 10, 0] == pytest.approx(0.3)
    np.testing.assert_allclose(separation.speech + separation.background, mix, atol=1e-6)
    assert separator.separate(mix).background.max() < 0.1  # the level rule alone would duck it all


class PromptedRecognizer(FakeRecognizer):
    """Records the prompt of each call; ``echo``: Whisper's prompt echo, the prompt's last sentence
    returned instead of the speech whenever there is a prompt."""

    def __init__(self, *, echo: bool, **options) -> None:
        super().__init__(**options)
        self.echo = echo
        self.prompts: list[str] = []

    def transcribe(self, audio: np.ndarray, *, language: str | None, prompt: str = ""):
        self.prompts.append(prompt)
        heard = super().transcribe(audio, language=language)
        if prompt and self.echo:
            return replace(heard, text=prompt.rsplit(". ", 1)[-1])
        return heard


def test_an_asr_echo_of_its_prompt_is_transcribed_again_without_the_prompt() -> None:
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v"))
    echoing = PromptedRecognizer(echo=True, script=("The number you have dialed is not in", "service."))
    pipeline.asr = echoing
    first = pipeline.process_detailed(fragment(0, speechy(2.0)))  # script line 0 (2.0 s -> index 0)
    second = pipeline.process_detailed(fragment(1, speechy(2.1)))  # line 1, decoded with the open sentence
    assert first.spoken_text == "The number you have dialed is not in"
    assert second.spoken_text == "service."
    assert echoing.prompts == ["", first.spoken_text, ""]  # the echo was heard again without its prompt


def test_only_a_sentence_still_open_is_the_next_segment_s_asr_prompt() -> None:
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v"))
    recording = PromptedRecognizer(echo=False, script=("Good evening. Tonight we", "look at the weather.", "And then"))
    pipeline.asr = recording
    for i, seconds in enumerate((3.0, 3.1, 3.2, 3.0)):  # script lines 0, 1, 2, 0
        pipeline.process_detailed(fragment(i, speechy(seconds)))
    assert recording.prompts == ["", "Tonight we", "", "And then"]


def test_speech_that_really_repeats_is_kept_when_heard_again_without_the_prompt() -> None:
    pipeline = StsPipeline.build(StsConfig.fakes(voice="fake:v", asr_options={"script": ("Thank you all for coming.",)}))
    pipeline.process_detailed(fragment(0, speechy(2.0)))
    again = pipeline.process_detailed(fragment(1, speechy(2.0)))
    assert again.spoken_text == "Thank you all for coming."
