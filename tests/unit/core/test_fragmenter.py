"""Fragmenter: cuts in pauses between min and max, block-size invariance, overlap, gaps, flush."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livedub.core.config import FragmenterConfig
from livedub.core.fragmenter import Fragmenter
from livedub.core.messages import SAMPLE_RATE, samples_to_ns
from livedub.core.vad import EnergyVad
from tests.unit.core.helpers import MS, SECOND, noise

FRAME = 960


def words_and_pauses(seed: int, seconds: float = 12.0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Tone bursts ("words", 150-450 ms) separated by quiet gaps (40-300 ms); returns audio and the gaps."""
    rng = np.random.default_rng(seed)
    total = round(seconds * SAMPLE_RATE)
    audio = (rng.standard_normal((total, 2)) * 30).astype(np.float64)  # a faint noise floor
    gaps: list[tuple[int, int]] = []
    pos = 0
    while pos < total:
        word = int(rng.uniform(0.15, 0.45) * SAMPLE_RATE)
        t = np.arange(min(word, total - pos)) / SAMPLE_RATE
        audio[pos : pos + len(t)] += (8000 * np.sin(2 * np.pi * rng.uniform(150, 400) * t))[:, None]
        pos += len(t)
        gap = int(rng.uniform(0.04, 0.3) * SAMPLE_RATE)
        gaps.append((pos, min(pos + gap, total)))
        pos += gap
    return audio.clip(-32768, 32767).astype(np.int16), gaps


def run(fragmenter: Fragmenter, audio: np.ndarray, blocks: list[int] | None = None, flush: bool = True):
    out, pos, sizes = [], 0, iter(blocks or [])
    while pos < len(audio):
        size = next(sizes, 960)
        out += fragmenter.push(audio[pos : pos + size], samples_to_ns(pos))
        pos += size
    if flush:
        out += fragmenter.flush()
    return out


def config(**kw) -> FragmenterConfig:
    base = {"target_ns": 1500 * MS, "min_ns": 750 * MS, "max_ns": 2000 * MS}
    return FragmenterConfig(**{**base, **kw})


def test_cuts_fall_in_pauses_between_min_and_max() -> None:
    audio, gaps = words_and_pauses(seed=3)
    fragments = run(Fragmenter(config(), EnergyVad(), "s"), audio)
    cuts = [round(f.start_pts * SAMPLE_RATE / SECOND) for f in fragments[1:]]
    assert len(cuts) >= 5
    for cut in cuts:
        assert any(start <= cut <= end for start, end in gaps), f"cut at {cut / SAMPLE_RATE:.3f}s splits a word"
    for fragment in fragments[:-1]:
        assert 750 * MS <= fragment.duration <= 2000 * MS
    assert sum(f.num_samples for f in fragments) == len(audio)


@pytest.mark.parametrize(
    ("pauses", "cut_frame"),
    [
        # 20 ms frames; target 1.5 s. A pause counts once 3 frames (60 ms) confirm it; the cut is in the
        # middle of what is known of it. Pause at 0.96-1.04 s (cut 1.0 s) vs one from 1.56 s (cut 1.58 s)
        ({48, 49, 50, 51, 78, 79, 80, 81}, 79),
        # pause at 1.40-1.48 s (cut 1.44 s) vs one from 1.76 s (cut 1.78 s): the earlier is closer
        ({70, 71, 72, 73, 88, 89, 90, 91}, 72),
    ],
)
def test_cut_prefers_the_pause_closest_to_the_target(pauses: set[int], cut_frame: int) -> None:
    class ScriptedVad:
        frame_samples = FRAME

        def __init__(self, pauses: set[int]) -> None:
            self.frame, self.pauses = 0, pauses

        def is_speech(self, frame) -> bool:
            self.frame += 1
            return (self.frame - 1) not in self.pauses

    [first, *_] = run(Fragmenter(config(), ScriptedVad(pauses), "s"), noise(3.0))
    assert first.num_samples == cut_frame * FRAME


class AlwaysSpeech:
    frame_samples = FRAME

    def is_speech(self, frame) -> bool:
        return True


def test_steady_noise_is_background_not_speech() -> None:
    vad = EnergyVad()
    verdicts = [vad.is_speech(block) for block in noise(3.0, level=0.3).reshape(-1, FRAME, 2)]
    assert not any(verdicts[50:])  # the noise floor has caught up after the first second


def test_without_a_pause_the_cut_is_forced_at_most_at_max_and_counted() -> None:
    fragmenter = Fragmenter(config(), AlwaysSpeech(), "s")
    audio = noise(7.0, level=0.1)
    audio[57_600 - FRAME : 57_600 + FRAME] //= 100  # the quietest spot between min and max: 1.2 s
    fragments = run(fragmenter, audio)
    assert fragments[0].num_samples == 57_600
    assert all(f.duration <= 2000 * MS for f in fragments)
    assert all(f.duration >= 750 * MS for f in fragments[:-1])
    assert fragmenter.stats.forced_cuts == len(fragments) - 1


@settings(max_examples=25, deadline=None)
@given(blocks=st.lists(st.integers(min_value=1, max_value=9000), min_size=1, max_size=60))
def test_block_sizes_do_not_change_the_fragments(blocks: list[int]) -> None:
    audio, _ = words_and_pauses(seed=5, seconds=6.0)
    reference = run(Fragmenter(config(overlap_ns=100 * MS), EnergyVad(), "s"), audio)
    fragments = run(Fragmenter(config(overlap_ns=100 * MS), EnergyVad(), "s"), audio, blocks)
    assert [(f.start_pts, f.num_samples, f.overlap_samples) for f in fragments] == [
        (f.start_pts, f.num_samples, f.overlap_samples) for f in reference
    ]
    for got, want in zip(fragments, reference):
        np.testing.assert_array_equal(got.samples, want.samples)


def test_overlap_is_shared_with_the_next_fragment_and_nothing_is_lost() -> None:
    audio, _ = words_and_pauses(seed=7, seconds=8.0)
    fragments = run(Fragmenter(config(overlap_ns=150 * MS), EnergyVad(), "s"), audio)
    overlap = 150 * SAMPLE_RATE // 1000
    for current, following in itertools.pairwise(fragments):
        assert current.overlap_samples == overlap
        np.testing.assert_array_equal(current.samples[-overlap:], following.samples[:overlap])
        assert following.start_pts == current.start_pts + samples_to_ns(current.num_samples - overlap)
    assert fragments[-1].overlap_samples == 0
    assert sum(f.num_samples - f.overlap_samples for f in fragments) == len(audio)
    assert [f.sequence for f in fragments] == list(range(len(fragments)))


def test_a_timestamp_jump_ends_the_segment_and_starts_a_new_one() -> None:
    fragmenter = Fragmenter(config(overlap_ns=100 * MS), EnergyVad(), "s")
    audio = noise(1.2)
    out = fragmenter.push(audio, 0)
    assert out == []
    out = fragmenter.push(noise(0.5, seed=1), 10 * SECOND)  # 8.8 s of input missing
    assert [(f.start_pts, f.num_samples, f.overlap_samples) for f in out] == [(0, len(audio), 0)]
    assert fragmenter.stats.discontinuities == 1
    [rest] = fragmenter.flush()
    assert rest.start_pts == 10 * SECOND and rest.num_samples == 24_000


def test_small_timestamp_jitter_is_not_a_discontinuity() -> None:
    fragmenter = Fragmenter(config(), EnergyVad(), "s")
    fragmenter.push(noise(0.5), 0)
    fragmenter.push(noise(0.5, seed=1), 500 * MS + 3 * MS)
    assert fragmenter.stats.discontinuities == 0
    [whole] = fragmenter.flush()
    assert whole.num_samples == 48_000


def test_fragment_ids_and_timestamps() -> None:
    fragments = run(Fragmenter(config(), EnergyVad(), "cam-1"), noise(4.0, level=0.3))
    assert [f.id for f in fragments[:2]] == ["cam-1-000000", "cam-1-000001"]
    assert all(f.stream_id == "cam-1" and f.sample_rate == 48_000 and f.channels == 2 for f in fragments)
    assert fragments[1].start_pts == fragments[0].end_pts
    assert not fragments[0].samples.flags.writeable


def test_bad_input_is_refused_loudly() -> None:
    fragmenter = Fragmenter(config(), EnergyVad(), "s")
    with pytest.raises(ValueError):
        fragmenter.push(np.zeros((10, 2), np.float32), 0)
    with pytest.raises(ValueError):
        fragmenter.push(np.zeros((10, 1), np.int16), 0)
    with pytest.raises(TypeError):
        fragmenter.push(np.zeros((10, 2), np.int16), 0.5)  # seconds instead of nanoseconds


def test_pcm_from_bytes_reads_interleaved_s16le() -> None:
    from livedub.core.audio import pcm_from_bytes

    pcm = pcm_from_bytes(np.array([1, -2, 3, -4], dtype="<i2").tobytes())
    np.testing.assert_array_equal(pcm, [[1, -2], [3, -4]])
    with pytest.raises(ValueError):
        pcm_from_bytes(b"\x00\x00\x01\x00\x02\x00")
