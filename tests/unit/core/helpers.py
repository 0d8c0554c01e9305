"""Shared test helpers for the streaming core: signals, a core on a fake clock, feeding, collecting."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from prometheus_client import CollectorRegistry

from livedub.config.settings import Fallback
from livedub.core.clock import FakeClock
from livedub.core.config import BreakerConfig, CoreConfig, FragmenterConfig, one_fragment_segments
from livedub.core.executor import ManualExecutor
from livedub.core.messages import SAMPLE_RATE, OutputBlock, samples_to_ns
from livedub.core.metrics import CoreMetrics
from livedub.core.processor import Separator, StsProcessor
from livedub.core.quality import LadderConfig
from livedub.core.scheduler import StreamingCore
from livedub.core.segmenter import SegmenterConfig

SECOND = 1_000_000_000
MS = 1_000_000


def noise(seconds: float, seed: int = 0, level: float = 0.1) -> np.ndarray:
    """Distinct, deterministic int16 stereo audio (so pass-through can be checked sample by sample)."""
    rng = np.random.default_rng(seed)
    count = round(seconds * SAMPLE_RATE)
    return (rng.standard_normal((count, 2)) * level * 32767).clip(-32768, 32767).astype(np.int16)


def speechlike(seconds: float, seed: int = 0, word_s: float = 0.32, gap_s: float = 0.08) -> np.ndarray:
    """Noise in word-long bursts with short silent gaps: what the energy VAD hears as continuous speech."""
    audio = noise(seconds, seed)
    period = round((word_s + gap_s) * SAMPLE_RATE)
    for start in range(round(word_s * SAMPLE_RATE), len(audio), period):
        audio[start:start + round(gap_s * SAMPLE_RATE)] = 0
    return audio


def fixed_fragments(seconds: float = 1.0, overlap_s: float = 0.0) -> FragmenterConfig:
    """min = target = max: every fragment is exactly ``seconds`` long whatever the VAD says."""
    length = round(seconds * SECOND)
    return FragmenterConfig(target_ns=length, min_ns=length, max_ns=length, overlap_ns=round(overlap_s * SECOND))


@dataclass
class Rig:
    """A core on a fake clock with a manual executor; the clock equals the input's media time."""

    core: StreamingCore
    clock: FakeClock
    executor: ManualExecutor
    metrics: CoreMetrics
    audio: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int16))
    fed: int = 0  # samples pushed so far
    out: list[OutputBlock] = field(default_factory=list)

    def feed_until(self, seconds: float, block: int = 960) -> list[OutputBlock]:
        """Push the input up to ``seconds`` of media time (clock follows), pulling as a worker would."""
        target = min(round(seconds * SAMPLE_RATE), len(self.audio))
        pulled: list[OutputBlock] = []
        while self.fed < target:
            chunk = self.audio[self.fed : min(self.fed + block, target)]
            self.clock.advance_to(samples_to_ns(self.fed + len(chunk)))
            self.core.push(chunk, samples_to_ns(self.fed))
            self.fed += len(chunk)
            pulled += self.core.pull()
        self.out += pulled
        return pulled

    def advance_to(self, seconds: float) -> list[OutputBlock]:
        self.clock.advance_to(round(seconds * SECOND))
        pulled = self.core.pull()
        self.out += pulled
        return pulled

    def job(self, sequence: int):
        """The executor job that carries segment ``sequence`` (with one-fragment segments: that fragment)."""
        for job in self.executor.jobs:
            if job.call.args[0].sequence == sequence:
                return job
        raise AssertionError(f"no STS call for fragment {sequence}")

    def submitted(self) -> list[int]:
        return [job.call.args[0].sequence for job in self.executor.jobs]


def make_rig(
    processor: StsProcessor,
    audio: np.ndarray,
    *,
    delay_s: float = 3.0,
    lead_s: float = 0.0,
    soft_margin_s: float = 0.5,
    max_inflight: int = 3,
    stall_buffer: int = 6,
    fallback: Fallback = Fallback.pass_through,
    fragmenter: FragmenterConfig | None = None,
    breaker: BreakerConfig | None = None,
    separator: Separator | None = None,
    duck_gain_db: float = -12.0,
    segmenter: SegmenterConfig | None = None,
    quality: LadderConfig | None = None,
) -> Rig:
    clock = FakeClock(0)
    executor = ManualExecutor()
    metrics = CoreMetrics(CollectorRegistry())
    fragmenter = fragmenter or fixed_fragments()
    config = CoreConfig(
        fragmenter=fragmenter,
        segmenter=segmenter or one_fragment_segments(fragmenter.max_ns + fragmenter.overlap_ns),
        quality=quality or LadderConfig(),
        breaker=breaker or BreakerConfig(),
        delay_ns=round(delay_s * SECOND),
        output_lead_ns=round(lead_s * SECOND),
        soft_margin_ns=round(soft_margin_s * SECOND),
        max_inflight=max_inflight,
        stall_buffer=stall_buffer,
        fallback=fallback,
        duck_gain_db=duck_gain_db,
    )
    core = StreamingCore(config, processor, clock=clock, executor=executor, stream_id="test",
                         metrics=metrics, separator=separator)
    return Rig(core=core, clock=clock, executor=executor, metrics=metrics, audio=audio)
