"""Whisper's shorter encoder window (WORKER_ASR_WINDOW): what is cut, and that the packaged model
still hears the same words through it while encoding a third of the frames."""

from __future__ import annotations

import numpy as np
import pytest

from livedub.sts import registry
from livedub.sts.providers.faster_whisper_asr import FRAMES_PER_SECOND, WINDOW_MARGIN_S, encoder_frames
from livedub.sts.registry import LoadContext
from tests.listener import reference_whisper

from .conftest import require_provider

MARGIN = round(WINDOW_MARGIN_S * FRAMES_PER_SECOND)


def padded(content: int, total: int = 3000, batch: int | None = None) -> np.ndarray:
    """Log-mel features as faster-whisper pads them: the audio's frames, then exact zeros."""
    features = np.zeros((80, total), np.float32)
    features[:, :content] = np.random.default_rng(content).uniform(-1.5, 1.0, (80, content))
    return features if batch is None else np.repeat(features[None], batch, axis=0)


@pytest.mark.parametrize(("content", "window", "expected"), [
    (150, 1000, 1000),            # 1.5 s of speech: the 10 s window
    (950, 1000, 950 + MARGIN),    # speech near the window's end keeps a margin of padding after it
    (2500, 1000, 2500 + MARGIN),  # longer speech: all of it, plus the margin
    (2950, 1000, 3000),           # never more than the 30 s there are
    (0, 1000, 1000),              # silence: the window
    (150, 3000, 3000),            # a 30 s window is Whisper's own behaviour: nothing cut
])
def test_the_window_covers_the_audio_and_drops_only_padding(content: int, window: int, expected: int) -> None:
    assert encoder_frames(padded(content), window) == expected
    assert encoder_frames(padded(content, batch=2), window) == expected


def test_a_frame_of_zeros_inside_the_audio_does_not_end_it() -> None:
    features = padded(2000)
    features[:, 1200:1300] = 0.0  # a gap in the middle (cannot come out of a log-mel, but must not cut)
    assert encoder_frames(features, 1000) == 2000 + MARGIN


@pytest.fixture(scope="module")
def whisper_pair(load_ctx: LoadContext):
    """The product's 10 s window (its own instance: the test swaps its encoder) and the tests'
    full-window listener, shared with the other tests through the model cache."""
    require_provider(registry.spec("asr", "whisper-base"))
    from livedub.sts.providers.faster_whisper_asr import PackagedWhisper

    return PackagedWhisper(load_ctx, window_s=10.0), reference_whisper()


class RecordingEncoder:
    """Stands in for the CTranslate2 model inside faster-whisper: records each encode's frame count."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.frames: list[int] = []

    def encode(self, features, **kwargs):
        self.frames.append(features.shape[-1])
        return self.inner.encode(features, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_the_packaged_whisper_hears_the_same_words_through_a_10_s_window(whisper_pair, speech_16k) -> None:
    short, full = whisper_pair
    recorder = RecordingEncoder(short._model.model)
    short._model.model = recorder
    try:
        heard = short.transcribe(speech_16k, language="en")
    finally:
        short._model.model = recorder.inner
    assert recorder.frames == [1000], recorder.frames  # one call, 10 s of frames instead of 30 s
    reference = full.transcribe(speech_16k, language="en")

    def words(text: str) -> list[str]:
        return [w.strip(".,!?").lower() for w in text.split()]

    assert words(heard.text) == words(reference.text), (heard.text, reference.text)
    assert "circuits" in words(heard.text)


def test_the_load_log_line_names_the_cpu_threads() -> None:
    from livedub.sts.providers.faster_whisper_asr import _where
    from livedub.sts.registry import LoadContext

    assert _where("cpu", LoadContext(cpu_threads=1)) == "cpu (1 thread)"
    assert _where("cpu", LoadContext(cpu_threads=3)) == "cpu (3 threads)"
    assert _where("cuda", LoadContext(cpu_threads=3)) == "cuda"
