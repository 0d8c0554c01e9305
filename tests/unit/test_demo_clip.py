"""The demo clip's reference transcript is what its recordings say: Whisper base hears each prompt."""

from __future__ import annotations

import pytest

from livedub.demo.clip import PROMPTS, SPEECH_DIR
from livedub.sts.audio import resample
from tests.e2e.text_metrics import chrf
from tests.listener import reference_whisper
from tests.require import require
from tests.unit.sts.conftest import read_wav

# Whisper base on these clean studio prompts: 96-100 against the right text; the old, wrong transcript
# of queue-periodic-announce ("...busy assisting other callers. Please wait for...") scored 68
MIN_CHRF = 85.0


@pytest.fixture(scope="module")
def whisper():
    return reference_whisper()


@pytest.mark.parametrize(("name", "text"), PROMPTS, ids=[name for name, _ in PROMPTS])
def test_reference_transcript_is_what_the_prompt_says(whisper, name: str, text: str) -> None:
    path = SPEECH_DIR / f"{name}.wav"
    require(path.is_file(), f"{path} missing: apt-get install asterisk-core-sounds-en-wav")
    audio, rate = read_wav(path)
    heard = whisper.transcribe(resample(audio, rate, 16_000), language="en").text
    assert chrf(heard, text) >= MIN_CHRF, f"{name}: heard {heard!r}, the demo says {text!r}"
