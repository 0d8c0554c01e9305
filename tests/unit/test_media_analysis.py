"""The end-to-end tests' A/V measurement (tests/e2e/media_analysis.py) finds an offset to the sample."""

from __future__ import annotations

import numpy as np
import pytest

from tests.e2e.media_analysis import RATE, best_lag_s


def _music(seconds: float, seed: int = 3) -> np.ndarray:
    """Tonal and periodic like the test music: a chord with harmonics, a beat, a little noise."""
    t = np.arange(round(seconds * RATE)) / RATE
    chord = sum(np.sin(2 * np.pi * f * k * t) / k for f in (220.0, 277.2, 329.6) for k in range(1, 8))
    beat = 0.5 + 0.5 * (np.sin(2 * np.pi * 2.0 * t) > 0)
    return (chord * beat + 0.05 * np.random.default_rng(seed).standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("offset", [0, 34, 9600 - 14, 9600 + 34, 19_199])
def test_the_offset_of_a_stretch_of_music_is_found_to_the_sample(offset: int) -> None:
    search = _music(1.2)
    reference = search[offset:offset + RATE * 4 // 5]
    assert best_lag_s(search, reference) == offset / RATE


def test_a_reference_longer_than_the_search_is_refused() -> None:
    with pytest.raises(ValueError, match="at least as long"):
        best_lag_s(np.zeros(10), np.zeros(11))
