"""English speech in, Spanish speech out, with the real offline models (skipped, with the install
command, when the cpu-models extra is absent). The dub is checked by ear's proxy: Whisper must
hear Spanish in it, and the words of the translation."""

from __future__ import annotations

import numpy as np
import pytest

from livedub.core.messages import AudioFragment
from livedub.sts import StsConfig, StsPipeline, registry
from livedub.sts.audio import resample, to_mono
from livedub.sts.messages import FitOutcome
from tests.require import require

NEEDED = [("asr", "whisper-base"), ("mt", "apertium"), ("tts", "kokoro"), ("separator", "deepfilternet"),
          ("stretcher", "rubberband"), ("vad", "silero")]


@pytest.fixture(scope="module")
def pipeline(load_ctx) -> StsPipeline:
    for stage, name in NEEDED:
        status = registry.spec(stage, name).availability()
        require(status.ok, f"{stage}/{name}: {status.reason} (install: {status.fix})")
    config = StsConfig(source_language="en", target_language="es", voice="es-dora", load=load_ctx)
    built = StsPipeline.build(config)
    built.warm_up()
    return built


def test_english_clip_is_dubbed_into_spanish(pipeline: StsPipeline, speech_clip) -> None:
    audio, rate = speech_clip
    speech = resample(audio, rate, 48_000)
    mono = np.concatenate([np.zeros(9_600, np.float32), speech, np.zeros(24_000, np.float32)])
    pcm = (mono * 32767).astype(np.int16)
    fragment = AudioFragment(id="real-0", stream_id="test", sequence=0, start_pts=0,
                             duration=len(pcm) * 10**9 // 48_000, samples=np.stack([pcm, pcm], axis=1))
    outcome = pipeline.process_detailed(fragment)
    assert outcome.transcript is not None and "circuits" in outcome.transcript.text.lower()
    assert outcome.translation is not None and "circuitos" in outcome.translation.text.lower()
    assert outcome.fit is not None and outcome.fit.outcome in (FitOutcome.fits, FitOutcome.borrowed)
    assert 1.0 <= outcome.fit.speed <= 2.0
    assert outcome.samples.shape == (len(pcm), 2)
    heard = pipeline.asr.transcribe(resample(to_mono(outcome.samples), 48_000, 16_000), language=None)
    assert heard.language == "es", heard
    assert "circuito" in heard.text.lower(), heard.text
