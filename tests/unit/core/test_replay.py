"""File replay with real speech (espeak-ng): length preserved, joins continuous, cuts in quiet spots."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from livedub.core.clock import FakeClock
from livedub.core.config import CoreConfig, FragmenterConfig
from livedub.core.messages import SAMPLE_RATE, FallbackReason, OutputBlock
from livedub.core.mock_sts import FakeSts, PassThroughSts, ToneSts
from livedub.core.replay import Pacing, read_pcm, replay, write_pcm
from livedub.core.vad import frame_level_db
from tests.require import require
from tests.unit.core.helpers import MS

TEXT = ("Good evening and welcome to the match. The teams are coming out now, and the crowd is on its feet. "
        "It has been a long season for both sides, but tonight only one of them can win the cup.")


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real synthetic speech (espeak-ng, 22.05 kHz mono) over a faint noise floor, as 48 kHz stereo WAV."""
    require(shutil.which("espeak-ng") is not None, "espeak-ng is not installed (apt-get install espeak-ng)")
    folder = tmp_path_factory.mktemp("speech")
    raw = folder / "espeak.wav"
    subprocess.run(["espeak-ng", "-s", "165", "-w", str(raw), TEXT], check=True, timeout=60)
    audio = read_pcm(raw)  # converted from 22.05 kHz mono by the replay's reader
    rng = np.random.default_rng(0)
    audio = (audio + rng.standard_normal(audio.shape) * 10).clip(-32768, 32767).astype(np.int16)
    path = folder / "speech.wav"
    write_pcm(path, audio)
    return path


def config(overlap_ms: int) -> CoreConfig:
    return CoreConfig(fragmenter=FragmenterConfig(overlap_ns=overlap_ms * MS), delay_ns=3000 * MS)


def run(speech: Path, tmp_path: Path, processor, overlap_ms: int, **kw) -> tuple[np.ndarray, list[OutputBlock]]:
    blocks: list[OutputBlock] = []
    out = tmp_path / "out.wav"
    report = replay(speech, out, config=config(overlap_ms), processor=processor, on_block=blocks.append, **kw)
    result = read_pcm(out)
    assert report.input_samples == report.output_samples == len(result)
    return result, blocks


def join_steps(output: np.ndarray, blocks: list[OutputBlock], radius: int) -> list[float]:
    """Largest sample-to-sample step within ``radius`` of each join between blocks."""
    steps = np.abs(np.diff(output[:, 0].astype(np.float64)))
    joins = np.cumsum([b.num_samples for b in blocks])[:-1]
    return [float(steps[max(0, j - radius) : j + radius].max()) for j in joins]


def test_pass_through_replay_reproduces_the_input_exactly(speech: Path, tmp_path: Path) -> None:
    source = read_pcm(speech)
    output, blocks = run(speech, tmp_path, PassThroughSts(), overlap_ms=150)
    assert len(output) == len(source)
    np.testing.assert_array_equal(output, source)  # crossfading a signal with itself changes nothing
    assert len(blocks) >= 5
    for before, after in itertools.pairwise(blocks):
        assert after.input_pts == before.input_pts + before.duration  # no gap, no overlap
    assert all(b.result.reason is None for b in blocks)


def test_crossfade_leaves_no_click_at_fragment_joins(speech: Path, tmp_path: Path) -> None:
    tone = ToneSts()
    output, blocks = run(speech, tmp_path, tone, overlap_ms=150)
    assert len(output) == len(read_pcm(speech))
    # the steepest step a clean tone of the highest frequency makes; a join may not exceed it by much
    highest = tone.frequency(tone.steps - 1)
    tone_step = tone.amplitude * 2 * np.pi * highest / SAMPLE_RATE * 32768
    assert max(join_steps(output, blocks, radius=200)) <= 1.1 * tone_step


def test_without_overlap_the_same_joins_click(speech: Path, tmp_path: Path) -> None:
    """The control for the test above: it does detect a discontinuity where there is one."""
    tone = ToneSts()
    output, blocks = run(speech, tmp_path, tone, overlap_ms=0)
    tone_step = tone.amplitude * 2 * np.pi * tone.frequency(tone.steps - 1) / SAMPLE_RATE * 32768
    assert max(join_steps(output, blocks, radius=200)) > 2 * tone_step


def test_cuts_in_real_speech_fall_in_quiet_spots(speech: Path, tmp_path: Path) -> None:
    source = read_pcm(speech)
    _, blocks = run(speech, tmp_path, PassThroughSts(), overlap_ms=150)
    frame_levels = [frame_level_db(source[i : i + 960]) for i in range(0, len(source) - 960, 960)]
    speech_level = float(np.median([level for level in frame_levels if level > -40]))
    for block in blocks[1:]:
        cut = round(block.input_pts * SAMPLE_RATE / 1e9)
        assert frame_level_db(source[cut - 480 : cut + 480]) < speech_level - 15, f"cut at {cut / SAMPLE_RATE:.2f}s"
    for block in blocks[:-1]:
        assert 750 * MS <= block.result.duration <= 2150 * MS  # max 2 s, plus the 150 ms overlap


def test_simulated_pacing_with_fake_sts_is_deterministic(speech: Path, tmp_path: Path) -> None:
    def once() -> tuple[np.ndarray, list[OutputBlock]]:
        clock = FakeClock()
        sts = FakeSts(clock, latency_ns=700 * MS, jitter_ns=600 * MS, failure_rate=0.2, seed=4)
        return run(speech, tmp_path, sts, overlap_ms=100, pacing=Pacing.simulated, clock=clock)

    first, blocks = once()
    second, _ = once()
    np.testing.assert_array_equal(first, second)
    reasons = [b.result.reason for b in blocks]
    assert any(r is None for r in reasons) and any(r is not None for r in reasons)  # both outcomes occur


def test_raw_pcm_round_trip(tmp_path: Path) -> None:
    audio = (np.arange(9600, dtype=np.int16).reshape(-1, 2) - 2400).astype(np.int16)
    write_pcm(tmp_path / "a.pcm", audio)
    np.testing.assert_array_equal(read_pcm(tmp_path / "a.pcm"), audio)
    assert not list(tmp_path.glob(".*.tmp"))


def test_offline_pacing_waits_for_a_slow_sts_so_every_fragment_is_dubbed(speech: Path, tmp_path: Path) -> None:
    import time

    class Slow:
        """Takes real time, while the replay's clock could race through the file in a few milliseconds:
        only a replay that waits for results gets every fragment dubbed (the wait is on futures)."""

        def __init__(self) -> None:
            self.tone = ToneSts()

        def process(self, fragment):
            time.sleep(0.1)  # simulated STS work, not synchronisation
            return self.tone.process(fragment)

    _, blocks = run(speech, tmp_path, Slow(), overlap_ms=100)
    assert all(b.result.reason is None for b in blocks)


def test_offline_pacing_gives_up_on_a_hung_sts_after_the_timeout(speech: Path, tmp_path: Path) -> None:
    import threading

    never = threading.Event()

    class Hung:
        def process(self, fragment):
            if fragment.sequence == 0:
                never.wait(30)
            return ToneSts().process(fragment)

    try:
        _, blocks = run(speech, tmp_path, Hung(), overlap_ms=100, sts_timeout_s=0.2)
    finally:
        never.set()
    assert blocks[0].result.reason is FallbackReason.timeout
    assert all(b.result.reason is None for b in blocks[1:])
