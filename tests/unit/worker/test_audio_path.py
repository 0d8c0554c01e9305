"""The audio seam: PCM chunks keep their input timestamps; bypass is the identity; unbuilt modes say so."""

from __future__ import annotations

import numpy as np
import pytest

from livedub.config import load_settings
from livedub.config.settings import WorkerSettings
from livedub.worker.audio_path import (
    AudioPath,
    AudioPathNotBuilt,
    BypassAudioPath,
    OverlapTrimmer,
    PcmChunk,
    create_audio_path,
)


def chunk(pts_ns: int, frames: int = 1024, value: int = 0) -> PcmChunk:
    return PcmChunk(pts_ns, np.full((frames, 2), value, dtype=np.int16))


def test_chunk_round_trips_s16le_bytes() -> None:
    samples = np.arange(-8, 8, dtype=np.int16).reshape(-1, 2)
    data = samples.astype("<i2").tobytes()
    parsed = PcmChunk.from_bytes(123, data)
    assert parsed.frames == 8 and parsed.pts_ns == 123
    assert np.array_equal(parsed.samples, samples)
    assert parsed.to_bytes() == data


def test_chunk_duration_follows_48k_frames() -> None:
    assert chunk(0, frames=48_000).duration_ns == 1_000_000_000
    assert chunk(0, frames=1024).duration_ns == 21_333_333


@pytest.mark.parametrize("samples", [np.zeros((4, 1), np.int16), np.zeros((4, 2), np.float32), np.zeros(8, np.int16)])
def test_chunk_rejects_anything_but_int16_stereo(samples: np.ndarray) -> None:
    with pytest.raises(ValueError):
        PcmChunk(0, samples)


def test_chunk_rejects_a_partial_frame() -> None:
    with pytest.raises(ValueError, match="whole number"):
        PcmChunk.from_bytes(0, b"\x00\x01\x02")


def test_bypass_returns_every_chunk_unchanged_and_in_order() -> None:
    path: AudioPath = BypassAudioPath()
    sent = [chunk(i * 21_333_333, value=i) for i in range(5)]
    received: list[PcmChunk] = []
    for item in sent:
        path.push(item)
        received += path.pull()
    assert path.pull() == []
    assert received == sent  # same objects: identity, timestamps untouched
    path.push(chunk(999))
    assert [c.pts_ns for c in path.finish()] == [999]


def test_bypass_is_the_default_mode() -> None:
    assert isinstance(create_audio_path(load_settings(WorkerSettings, env={})), BypassAudioPath)


@pytest.mark.parametrize("mode", ["mock", "real"])
def test_modes_without_an_audio_path_fail_clearly(mode: str) -> None:
    with pytest.raises(AudioPathNotBuilt, match=f"WORKER_STS_MODE={mode} is not built yet"):
        create_audio_path(load_settings(WorkerSettings, env={"WORKER_STS_MODE": mode}))


def test_trimmer_passes_contiguous_audio_and_gaps_untouched() -> None:
    trimmer = OverlapTrimmer()
    first, second = chunk(0, frames=1024), chunk(21_333_333, frames=1024)
    gap = chunk(1_000_000_000, frames=1024)
    assert trimmer.fix(first) is first
    assert trimmer.fix(second) is second  # within the 1 ms tolerance of the previous end
    assert trimmer.fix(gap) is gap
    assert trimmer.trimmed_frames == 0


def test_trimmer_cuts_the_overlapping_head_and_drops_a_chunk_already_played() -> None:
    trimmer = OverlapTrimmer()
    trimmer.fix(chunk(0, frames=1024, value=1))
    duplicate = trimmer.fix(chunk(0, frames=1024, value=2))  # same stamp twice (RTSP start)
    assert duplicate is None
    half = trimmer.fix(chunk(10_666_667, frames=1024, value=3))  # overlaps by 512 frames
    assert half is not None
    assert half.frames == 512 and half.pts_ns == 21_333_333
    assert trimmer.trimmed_frames == 1024 + 512
