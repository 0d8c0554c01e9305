"""The demo clip's reference transcript is what its recordings say: Whisper base hears each prompt."""

from __future__ import annotations

import pytest

from livedub.config import load_settings
from livedub.config.settings import PathSettings
from livedub.demo.clip import PROMPTS, SPEECH_DIR
from livedub.sts import registry
from livedub.sts.audio import resample
from livedub.sts.errors import StsError
from livedub.sts.registry import LoadContext
from tests.e2e.text_metrics import chrf
from tests.require import missing, require
from tests.unit.sts.conftest import read_wav

# Whisper base on these clean studio prompts: 96-100 against the right text; the old, wrong transcript
# of queue-periodic-announce ("...busy assisting other callers. Please wait for...") scored 68
MIN_CHRF = 85.0


@pytest.fixture(scope="module")
def whisper():
    try:
        return registry.create("asr", "whisper-base", LoadContext(model_dir=load_settings(PathSettings).model_dir))
    except StsError as exc:
        missing(f"whisper-base not available: {exc}")


@pytest.mark.parametrize(("name", "text"), PROMPTS, ids=[name for name, _ in PROMPTS])
def test_reference_transcript_is_what_the_prompt_says(whisper, name: str, text: str) -> None:
    path = SPEECH_DIR / f"{name}.wav"
    require(path.is_file(), f"{path} missing: apt-get install asterisk-core-sounds-en-wav")
    audio, rate = read_wav(path)
    heard = whisper.transcribe(resample(audio, rate, 16_000), language="en").text
    assert chrf(heard, text) >= MIN_CHRF, f"{name}: heard {heard!r}, the demo says {text!r}"
