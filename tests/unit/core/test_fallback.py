"""Each fallback mode, through the core (STS failing) and at the renderer."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from livedub.config.settings import Fallback
from livedub.core.audio import db_to_gain, to_float, to_int16
from livedub.core.fallback import FallbackRenderer
from livedub.core.messages import AudioFragment, FallbackReason
from livedub.core.mock_sts import ToneSts
from tests.unit.core.helpers import make_rig, noise

ONE_S = 48_000


class FailsAfter:
    """Dubs the first ``good`` fragments with a tone, then fails."""

    def __init__(self, good: int = 0) -> None:
        self.good, self.tone = good, ToneSts()

    def process(self, fragment):
        if fragment.sequence < self.good:
            return self.tone.process(fragment)
        raise RuntimeError("STS down")


class HalfSeparator:
    def background(self, fragment: AudioFragment) -> np.ndarray:
        return to_float(fragment.samples) * 0.5


def run_failing(fallback: Fallback, good: int = 0, separator=None, seconds: int = 2):
    audio = noise(seconds, level=0.2)
    rig = make_rig(FailsAfter(good), audio, delay_s=3.0, max_inflight=seconds, fallback=fallback,
                   separator=separator, duck_gain_db=-12.0)
    rig.feed_until(seconds)
    for job in rig.executor.jobs:
        job.run()
    rig.advance_to(seconds + 3.0)
    assert [b.sequence for b in rig.out] == list(range(seconds))
    return audio, rig


def test_pass_through_plays_the_original() -> None:
    audio, rig = run_failing(Fallback.pass_through)
    np.testing.assert_array_equal(np.concatenate([b.samples for b in rig.out]), audio)
    assert {b.result.fallback for b in rig.out} == {Fallback.pass_through}
    assert rig.metrics.value("worker_fallback_total", reason="sts-error") == 2


def test_silence_plays_nothing() -> None:
    _, rig = run_failing(Fallback.silence)
    assert all(not b.samples.any() for b in rig.out)


def test_ducked_original_plays_the_original_quieter() -> None:
    audio, rig = run_failing(Fallback.ducked_original)
    expected = to_int16(to_float(audio) * db_to_gain(-12.0))
    got = np.concatenate([b.samples for b in rig.out])
    assert np.max(np.abs(got.astype(int) - expected.astype(int))) <= 1
    assert np.abs(got).max() < np.abs(audio).max() / 3


def test_background_only_plays_the_separated_background() -> None:
    audio, rig = run_failing(Fallback.background_only, separator=HalfSeparator())
    got = np.concatenate([b.samples for b in rig.out])
    assert np.max(np.abs(got.astype(int) - audio.astype(int) // 2)) <= 1
    assert {b.result.fallback for b in rig.out} == {Fallback.background_only}


def test_background_only_without_separator_ducks_and_says_so(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="livedub.core")
    audio, rig = run_failing(Fallback.background_only)
    assert any("needs a speech/background separator" in r.getMessage() for r in caplog.records)
    assert {b.result.fallback for b in rig.out} == {Fallback.ducked_original}
    assert all("no separator" in b.result.detail for b in rig.out)
    got = np.concatenate([b.samples for b in rig.out])
    assert np.max(np.abs(got.astype(int) - to_int16(to_float(audio) * db_to_gain(-12.0)).astype(int))) <= 1


def test_last_good_dub_replays_the_last_dubbed_audio() -> None:
    _, rig = run_failing(Fallback.last_good_dub, good=1)
    first, second = rig.out
    assert first.result.reason is None  # dubbed
    assert second.result.reason is FallbackReason.sts_error and second.result.fallback is Fallback.last_good_dub
    np.testing.assert_array_equal(second.samples[:-300], first.samples[:-300])


def test_last_good_dub_before_any_dub_passes_the_original_through() -> None:
    audio, rig = run_failing(Fallback.last_good_dub, good=0)
    np.testing.assert_array_equal(rig.out[0].samples, audio[:ONE_S])
    assert rig.out[0].result.fallback is Fallback.pass_through
    assert "no dubbed fragment yet" in rig.out[0].result.detail


def fragment(samples: np.ndarray) -> AudioFragment:
    return AudioFragment(id="s-0", stream_id="s", sequence=0, start_pts=0, duration=10**9, samples=samples)


def test_last_good_dub_is_fitted_to_the_fragment_length() -> None:
    renderer = FallbackRenderer(Fallback.last_good_dub)
    short_dub = np.full((1000, 2), 0.5, np.float32)
    rendered = renderer.render(fragment(noise(0.1)), short_dub)
    assert rendered.samples.shape == (4800, 2)
    assert not rendered.samples[1000:].any()


@pytest.mark.parametrize("bad", ["raise", "shape", "nan"])
def test_a_failing_separator_degrades_to_ducking(bad: str) -> None:
    class BadSeparator:
        def background(self, frag):
            if bad == "raise":
                raise RuntimeError("no GPU")
            if bad == "shape":
                return np.zeros((10, 2), np.float32)
            return np.full((frag.num_samples, 2), np.nan, np.float32)

    original = noise(0.1)
    rendered = FallbackRenderer(Fallback.background_only, separator=BadSeparator()).render(fragment(original), None)
    assert rendered.mode is Fallback.ducked_original and rendered.note
    np.testing.assert_allclose(rendered.samples, to_float(original) * db_to_gain(-12.0), rtol=1e-6)
