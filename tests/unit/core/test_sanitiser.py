"""Sanitiser: each repair of STS output, and output no repair can save."""

from __future__ import annotations

import numpy as np
import pytest

from livedub.core.messages import DubbedAudio
from livedub.core.sanitiser import FADE_SAMPLES, InvalidStsOutput, SanitiserFix, sanitise

N = 4800


def dub(samples: np.ndarray, rate: int = 48_000) -> DubbedAudio:
    return DubbedAudio("f", 0, samples, sample_rate=rate)


def test_clean_output_passes_untouched() -> None:
    samples = np.full((N, 2), 0.25, np.float32)
    clean = sanitise(dub(samples), N)
    assert clean.fixes == ()
    np.testing.assert_array_equal(clean.samples, samples)


def test_int16_output_is_accepted_without_a_fix() -> None:
    clean = sanitise(dub(np.full((N, 2), 16384, np.int16)), N)
    assert clean.fixes == ()
    assert clean.samples.dtype == np.float32 and np.allclose(clean.samples, 0.5)


def test_short_output_is_padded_with_silence_after_a_fade() -> None:
    clean = sanitise(dub(np.full((N - 1000, 2), 0.5, np.float32)), N)
    assert clean.fixes == (SanitiserFix.padded,)
    assert clean.samples.shape == (N, 2)
    assert np.all(clean.samples[N - 1000 :] == 0)
    assert clean.samples[N - 1001, 0] == pytest.approx(0.0, abs=1e-6)  # faded to zero, no step
    assert clean.samples[N - 1000 - FADE_SAMPLES - 1, 0] == pytest.approx(0.5)


def test_long_output_is_trimmed_with_a_fade() -> None:
    clean = sanitise(dub(np.full((N + 999, 2), 0.5, np.float32)), N)
    assert clean.fixes == (SanitiserFix.trimmed,)
    assert clean.samples.shape == (N, 2)
    assert clean.samples[-1, 0] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.diff(clean.samples[-FADE_SAMPLES:, 0]) <= 0)


def test_wrong_rate_is_resampled() -> None:
    t = np.arange(N // 2) / 24_000
    tone = np.sin(2 * np.pi * 300 * t).astype(np.float32)
    clean = sanitise(dub(np.stack([tone, tone], axis=1), rate=24_000), N)
    assert clean.fixes == (SanitiserFix.resampled,)
    expected = np.sin(2 * np.pi * 300 * np.arange(N) / 48_000)
    assert np.max(np.abs(clean.samples[: N - 2, 0] - expected[: N - 2])) < 0.01


@pytest.mark.parametrize(
    ("shape", "fill"), [((N,), 0.3), ((N, 1), 0.3), ((N, 6), 0.3)], ids=["1-d", "mono", "5.1"]
)
def test_wrong_channels_are_converted(shape: tuple[int, ...], fill: float) -> None:
    clean = sanitise(dub(np.full(shape, fill, np.float32)), N)
    assert clean.fixes == (SanitiserFix.channels,)
    assert clean.samples.shape == (N, 2)
    assert np.allclose(clean.samples, fill)


def test_nan_and_inf_become_silence() -> None:
    samples = np.full((N, 2), 0.2, np.float32)
    samples[10] = np.nan
    samples[20, 1] = np.inf
    clean = sanitise(dub(samples), N)
    assert SanitiserFix.non_finite in clean.fixes
    assert np.isfinite(clean.samples).all()
    assert clean.samples[10, 0] == 0 and clean.samples[11, 0] == pytest.approx(0.2)


def test_overs_are_soft_clipped_below_full_scale_and_quiet_parts_kept() -> None:
    samples = np.linspace(-3.0, 3.0, N, dtype=np.float32)[:, None].repeat(2, axis=1)
    clean = sanitise(dub(samples), N)
    assert clean.fixes == (SanitiserFix.clipping,)
    assert np.abs(clean.samples).max() <= 1.0
    quiet = np.abs(samples) < 0.9
    np.testing.assert_array_equal(clean.samples[quiet], samples[quiet])
    assert np.all(np.diff(clean.samples[:, 0]) >= 0)  # still monotonic: no folding


def test_several_defects_are_all_reported() -> None:
    samples = np.full(N // 2, 2.0, np.float32)
    samples[0] = np.nan
    clean = sanitise(dub(samples, rate=24_000), N + 10)
    assert set(clean.fixes) == {SanitiserFix.non_finite, SanitiserFix.channels, SanitiserFix.resampled,
                                SanitiserFix.clipping, SanitiserFix.padded}
    assert clean.samples.shape == (N + 10, 2)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((0, 2), np.float32), np.full((N, 2), np.nan, np.float32), np.zeros((N, 2), np.complex64),
     np.zeros((N, 0), np.float32)],
    ids=["empty", "all-nan", "complex", "no-channels"],
)
def test_unrepairable_output_is_rejected(bad: np.ndarray) -> None:
    with pytest.raises(InvalidStsOutput):
        sanitise(dub(bad), N)


def test_impossible_rate_is_rejected() -> None:
    with pytest.raises(InvalidStsOutput):
        sanitise(dub(np.zeros((N, 2), np.float32), rate=0), N)
