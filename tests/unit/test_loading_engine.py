"""processors.LoadingEngine: a live worker's STS while its models load in the background."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from livedub.config import load_settings
from livedub.config.settings import WorkerSettings
from livedub.core.messages import AudioFragment, SpeechSegment
from livedub.core.mock_sts import ToneSts
from livedub.core.processor import StsError, Unavailable
from livedub.processors import DubEngine, LoadingEngine, with_faults
from livedub.sts import StsConfig, StsPipeline


def segment() -> SpeechSegment:
    fragment = AudioFragment(id="f0", stream_id="s", sequence=0, start_pts=0, duration=10**9,
                             samples=np.zeros((48_000, 2), np.int16))
    return SpeechSegment.of((fragment,), 0)


def test_a_call_made_while_loading_waits_for_the_models_and_then_dubs() -> None:
    release = threading.Event()

    def load() -> DubEngine:
        release.wait(10)
        return DubEngine(ToneSts())

    engine = LoadingEngine(load)
    result: list = []
    caller = threading.Thread(target=lambda: result.append(engine.process(segment())))
    caller.start()
    assert not engine.ready and engine.failure is None
    with pytest.raises(RuntimeError, match="loading"):  # the fallback renderer ducks meanwhile
        engine.background(segment().fragments[0])
    release.set()
    caller.join(10)
    assert engine.ready and len(result) == 1 and result[0].samples.shape == (48_000, 2)


def test_a_load_that_fails_is_a_permanent_failure_with_its_reason() -> None:
    def load() -> DubEngine:
        raise Unavailable("asr provider 'x': not installed; fix: ./scripts/install.sh --models")

    engine = LoadingEngine(load)
    assert engine.wait(10) is False
    assert engine.failure is not None and "fix: ./scripts/install.sh" in engine.failure
    with pytest.raises(StsError) as raised:
        engine.process(segment())
    assert raised.value.retryable is False


def test_a_bug_in_loading_code_still_ends_the_load_with_a_reason() -> None:
    def load() -> DubEngine:
        raise TypeError("__init__() got an unexpected keyword argument 'beam'")

    engine = LoadingEngine(load)
    assert engine.wait(10) is False
    assert engine.failure is not None and engine.failure.startswith("TypeError: ") and "a bug" in engine.failure
    with pytest.raises(StsError) as raised:
        engine.process(segment())
    assert raised.value.retryable is False


def test_planned_rungs_are_the_rungs_the_built_pipeline_offers() -> None:
    config = StsConfig.fakes(voice="fake:v")
    assert StsPipeline.planned_rungs(config) == StsPipeline.build(config).quality_rungs == ("natural", "fastest")
    ducked = StsConfig.fakes(voice="fake:v", separator="duck")
    assert StsPipeline.planned_rungs(ducked) == StsPipeline.build(ducked).quality_rungs == ("natural",)


def test_fault_injection_keeps_the_planned_rungs_so_the_load_succeeds() -> None:
    config = StsConfig.fakes(voice="fake:v")
    worker = load_settings(WorkerSettings, env={"WORKER_STS_FAULT_FAILURE_RATE": "1"})
    engine = LoadingEngine(lambda: with_faults(DubEngine(StsPipeline.build(config)), worker),
                           quality_rungs=StsPipeline.planned_rungs(config))
    assert engine.wait(10) is True and engine.failure is None
    with pytest.raises(StsError, match="injected failure"):
        engine.process(segment())


def test_the_fastest_rung_voices_the_first_segments_while_the_others_load() -> None:
    release = threading.Event()

    def full() -> DubEngine:
        release.wait(10)
        return DubEngine(ToneSts(base_hz=880.0))

    engine = LoadingEngine(full, quick_load=lambda: DubEngine(ToneSts(base_hz=220.0)), quick_tier="fastest")
    early = engine.process(segment())  # answered at once, by the quick engine
    assert early.tier == "fastest" and not engine.ready
    release.set()
    assert engine.wait(10)
    late = engine.process(segment())
    assert late.tier != "fastest" and not np.array_equal(late.samples, early.samples)


def test_a_quick_load_that_fails_only_means_waiting_for_the_full_one() -> None:
    def broken() -> DubEngine:
        raise Unavailable("pico: not installed")

    engine = LoadingEngine(lambda: DubEngine(ToneSts()), quick_load=broken)
    result = engine.process(segment())
    assert engine.ready and result.tier != "fastest"


def test_a_cold_worker_loads_the_fast_voice_over_ducking_first() -> None:
    from livedub.worker.dub_path import quick_settings

    worker = load_settings(WorkerSettings, env={"WORKER_TARGET_LANG": "es", "WORKER_STS_MODE": "real",
                                                "WORKER_TTS_VOICE": "ef_dora"})
    quick = quick_settings(worker)
    assert quick is not None and quick.separator == "duck" and quick.tts_voice == "es-pico"
    assert quick.target_lang == "es" and worker.tts_voice == "ef_dora"  # the stream's own settings unchanged
    assert quick_settings(worker.model_copy(update={"target_lang": "pt"})) is None  # Pico has no Portuguese
