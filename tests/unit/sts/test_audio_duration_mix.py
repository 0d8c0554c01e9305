from __future__ import annotations

import math

import numpy as np
import pytest

from livedub.sts.audio import apply_fades, resample, soft_limit
from livedub.sts.duration import DurationPolicy, OverflowPolicy, fit_to_slot
from livedub.sts.fakes import OlaStretcher
from livedub.sts.messages import FitOutcome, SynthesizedSpeech
from livedub.sts.mix import MixSettings, ducking_gain, remix


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * math.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


@pytest.mark.parametrize(("src", "dst"), [(48_000, 16_000), (24_000, 48_000), (22_050, 48_000), (8_000, 16_000)])
def test_resample_keeps_length_and_frequency(src: int, dst: int) -> None:
    x = tone(440.0, 1.0, src)
    y = resample(x, src, dst)
    assert len(y) == math.ceil(len(x) * dst / src)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert abs(np.argmax(spectrum) * dst / len(y) - 440.0) < 2.0
    middle = y[len(y) // 4: 3 * len(y) // 4]
    assert abs(np.max(np.abs(middle)) - 0.3) < 0.01  # passband gain ~1


def test_resample_removes_what_the_new_rate_cannot_hold() -> None:
    y = resample(tone(7_000.0, 1.0, 48_000), 48_000, 16_000)  # below the new 8 kHz Nyquist: kept
    z = resample(tone(12_000.0, 1.0, 48_000), 48_000, 16_000)  # above it: filtered, not aliased to 4 kHz
    assert np.sqrt(np.mean(z[1000:-1000] ** 2)) < 0.01 * np.sqrt(np.mean(y[1000:-1000] ** 2))


def test_resample_multichannel_and_identity() -> None:
    x = np.stack([tone(300, 0.5, 24_000), tone(500, 0.5, 24_000)], axis=1)
    assert resample(x, 24_000, 48_000).shape == (24_000, 2)
    np.testing.assert_array_equal(resample(x, 24_000, 24_000), x)


def test_fades_and_soft_limit() -> None:
    ones = np.ones(100, np.float32)
    faded = apply_fades(ones, 10, 10)
    assert faded[0] == 0 and faded[-1] == 0 and faded[50] == 1
    limited = soft_limit(np.array([0.5, 1.5, -3.0], np.float32))
    assert limited[0] == 0.5 and 0.9 < limited[1] < 1.0 and -1.0 <= limited[2] < -0.9


def speech(seconds: float, rate: int = 24_000) -> SynthesizedSpeech:
    return SynthesizedSpeech(tone(200, seconds, rate), rate, "text", "voice")


POLICY = DurationPolicy()


def fit(seconds: float, start: float, end: float, fragment_s: float = 2.0, policy: DurationPolicy = POLICY):
    return fit_to_slot(speech(seconds), slot_start_s=start, slot_end_s=end, fragment_samples=int(fragment_s * 48_000),
                       sample_rate=48_000, stretcher=OlaStretcher(), policy=policy)


def test_short_dub_is_not_slowed_down_and_starts_with_the_speech() -> None:
    result = fit(0.5, 0.3, 1.5)
    assert result.outcome is FitOutcome.fits and result.speed == 1.0 and result.wanted_speed < 1.0
    assert len(result.samples) == 96_000
    first = np.flatnonzero(np.abs(result.samples) > 1e-4)[0] / 48_000
    assert abs(first - 0.3) < 0.01


def test_long_dub_is_sped_up_to_fit_its_slot() -> None:
    result = fit(1.5, 0.0, 1.0)
    assert result.outcome is FitOutcome.fits and result.speed == pytest.approx(1.5, rel=1e-3)
    assert np.max(np.abs(result.samples[int(1.01 * 48_000):])) < 1e-4


def test_speed_is_clamped_and_following_silence_is_borrowed() -> None:
    result = fit(3.0, 0.0, 1.0)  # would need 3x
    assert result.speed == 2.0 and result.wanted_speed == pytest.approx(3.0)
    assert result.outcome is FitOutcome.borrowed and result.trimmed_s == 0.0  # 1.5 s fits in the 2 s fragment


def test_borrowing_moves_the_start_earlier_when_the_end_is_reached() -> None:
    result = fit(3.0, 1.0, 1.5)
    assert result.outcome is FitOutcome.borrowed and result.offset_s == pytest.approx(0.5, abs=0.01)


def test_what_does_not_fit_even_borrowing_is_faded_out_and_counted() -> None:
    result = fit(6.0, 0.0, 2.0)
    assert result.outcome is FitOutcome.trimmed and result.trimmed_s == pytest.approx(1.0, abs=0.02)
    assert abs(result.samples[-1]) < 1e-3


def test_fade_trim_policy_cuts_at_the_slot_end() -> None:
    policy = DurationPolicy(overflow=OverflowPolicy.fade_trim)
    result = fit(3.0, 0.0, 1.0, policy=policy)
    assert result.outcome is FitOutcome.trimmed and result.trimmed_s == pytest.approx(0.5, abs=0.02)
    assert np.max(np.abs(result.samples[int(1.01 * 48_000):])) < 1e-4


def test_empty_speech_is_an_empty_fit() -> None:
    empty = SynthesizedSpeech(np.zeros(0, np.float32), 24_000, "", "voice")
    result = fit_to_slot(empty, slot_start_s=0, slot_end_s=1, fragment_samples=48_000, sample_rate=48_000,
                         stretcher=OlaStretcher(), policy=POLICY)
    assert result.outcome is FitOutcome.empty and not np.any(result.samples)


def test_remix_is_background_times_gain_plus_dub_times_gain() -> None:
    rate = 48_000
    background = np.stack([tone(100, 1, rate, 0.1)] * 2, axis=1)
    dub = tone(300, 1, rate, 0.2)
    settings = MixSettings(background_gain=0.5, dub_gain=2.0, dub_level_db=None)
    out = remix(background, dub, rate, settings)
    np.testing.assert_allclose(out, background * 0.5 + (dub * 2.0)[:, None], atol=1e-6)


def test_sidechain_ducking_lowers_the_background_only_while_the_dub_speaks() -> None:
    rate = 48_000
    dub = np.concatenate([np.zeros(rate), tone(300, 1, rate), np.zeros(rate)])
    gain = ducking_gain(dub, rate, MixSettings(ducking_db=-12))
    assert gain[rate // 2] == pytest.approx(1.0, abs=1e-3)
    assert gain[int(1.5 * rate)] == pytest.approx(10 ** (-12 / 20), abs=0.02)
    assert gain[-1] == pytest.approx(1.0, abs=0.05)


def test_dub_is_levelled() -> None:
    rate = 48_000
    out = remix(np.zeros((rate, 2), np.float32), tone(300, 1, rate, 0.01), rate, MixSettings(dub_level_db=-20))
    assert 20 * np.log10(np.sqrt(np.mean(out[:, 0] ** 2))) == pytest.approx(-20, abs=0.5)
