"""STS processors for mock mode, tests and benchmarks. Deterministic: same segment, same output.

* :class:`ToneSts`: a tone per speech segment, ``base_hz + step_hz * (sequence % steps)`` (audibly "dubbed").
* :class:`PassThroughSts`: the segment's own audio (exercises the whole path, output == input).
* :class:`FakeSts`: wraps another processor with latency and failures drawn from a seeded RNG per
  segment, waiting on the injected clock (virtual time under a SimulatedExecutor).
"""

from __future__ import annotations

import numpy as np

from livedub.core.audio import to_float
from livedub.core.clock import Clock
from livedub.core.messages import SAMPLE_RATE, DubbedAudio, SpeechSegment
from livedub.core.processor import StsError, StsProcessor


class ToneSts:
    def __init__(self, base_hz: float = 440.0, step_hz: float = 110.0, steps: int = 4, amplitude: float = 0.25) -> None:
        self.base_hz, self.step_hz, self.steps, self.amplitude = base_hz, step_hz, steps, amplitude

    def frequency(self, sequence: int) -> float:
        return self.base_hz + self.step_hz * (sequence % self.steps)

    def process(self, segment: SpeechSegment) -> DubbedAudio:
        t = np.arange(segment.num_samples, dtype=np.float64) / SAMPLE_RATE
        tone = (self.amplitude * np.sin(2 * np.pi * self.frequency(segment.sequence) * t)).astype(np.float32)
        return DubbedAudio(fragment_id=segment.id, sequence=segment.sequence,
                           samples=np.repeat(tone[:, None], segment.channels, axis=1),
                           transcript=f"<tone {self.frequency(segment.sequence):g} Hz>")


class PassThroughSts:
    def process(self, segment: SpeechSegment) -> DubbedAudio:
        return DubbedAudio(fragment_id=segment.id, sequence=segment.sequence, samples=to_float(segment.samples))


class FakeSts:
    """``latency_ns`` +- ``jitter_ns`` (uniform) per call, failing with probability ``failure_rate``.

    The draw for a segment depends only on ``seed`` and its sequence, not on call order, so runs
    with threads are as reproducible as runs without.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        inner: StsProcessor | None = None,
        latency_ns: int = 0,
        jitter_ns: int = 0,
        failure_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure_rate must lie in [0, 1]")
        self._clock = clock
        self._inner = inner or ToneSts()
        self._latency, self._jitter, self._failure_rate, self._seed = latency_ns, jitter_ns, failure_rate, seed

    @property
    def quality_rungs(self) -> tuple[str, ...]:
        """The wrapped processor's rungs: injecting faults changes no quality tier."""
        return tuple(getattr(self._inner, "quality_rungs", ()) or ())

    def draw(self, sequence: int) -> tuple[int, bool]:
        """(latency ns, fails) for a segment."""
        rng = np.random.default_rng([self._seed, sequence])
        latency = self._latency + int(rng.uniform(-self._jitter, self._jitter)) if self._jitter else self._latency
        return max(0, latency), bool(rng.random() < self._failure_rate)

    def process(self, segment: SpeechSegment) -> DubbedAudio:
        latency, fails = self.draw(segment.sequence)
        self._clock.sleep(latency)
        if fails:
            raise StsError(f"injected failure for segment {segment.sequence}")
        return self._inner.process(segment)
