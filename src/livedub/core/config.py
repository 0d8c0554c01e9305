"""The core's own configuration, built from :class:`WorkerSettings` (or directly in tests)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from livedub.config.settings import Fallback, StsMode, WorkerSettings
from livedub.core.messages import NS_PER_S, SAMPLE_RATE
from livedub.core.quality import LadderConfig
from livedub.core.segmenter import SegmenterConfig


def _ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)


@dataclass(frozen=True)
class FragmenterConfig:
    """Fragment lengths exclude the overlap (they are the distance between two cuts)."""

    target_ns: int = _ns(1.5)
    min_ns: int = _ns(0.75)
    max_ns: int = _ns(2.0)
    overlap_ns: int = 0
    min_pause_ns: int = _ns(0.06)  # a pause this long between words is a cut candidate
    discontinuity_tolerance_ns: int = _ns(0.02)  # PTS jumps beyond this start a new segment

    def __post_init__(self) -> None:
        if not 0 < self.min_ns <= self.target_ns <= self.max_ns:
            raise ValueError("fragment lengths need 0 < min <= target <= max")
        if self.overlap_ns * 2 > self.min_ns:
            raise ValueError("fragment overlap must be at most half of the minimum fragment length")

    def samples(self, duration_ns: int) -> int:
        return duration_ns * SAMPLE_RATE // NS_PER_S


def one_fragment_segments(longest_fragment_ns: int) -> SegmenterConfig:
    """Every fragment a speech segment of its own, whatever the VAD heard: mock mode, where each
    fragment gets its own deterministic tone (one STS call per fragment, measurable end to end).
    (CoreConfig fills in the fragmenter's real lengths; a maximum of zero closes every segment.)"""
    return SegmenterConfig(max_ns=0, min_speech_ns=0, fragment_max_ns=longest_fragment_ns,
                           fragment_target_ns=0)


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 3
    latency_p95_ns: int = _ns(2.0)
    latency_window: int = 20  # p95 over the last N round trips
    latency_min_samples: int = 5  # no latency verdict on fewer round trips
    max_backlog: int = 8  # fragments waiting for or in STS
    cooldown_ns: int = _ns(10.0)
    half_open_probes: int = 1  # fragments let through to test a half-open breaker


@dataclass(frozen=True)
class CoreConfig:
    """Timing rules: a fragment arriving at input PTS ``p`` plays at output PTS ``p + delay``, and
    is handed to the caller ``output_lead`` earlier; that moment is its (hard) deadline."""

    fragmenter: FragmenterConfig = field(default_factory=FragmenterConfig)
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    quality: LadderConfig = field(default_factory=LadderConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    delay_ns: int = _ns(3.0)
    output_lead_ns: int = _ns(0.2)
    soft_margin_ns: int = _ns(0.5)
    max_inflight: int = 3
    stall_buffer: int = 6
    fallback: Fallback = Fallback.pass_through
    duck_gain_db: float = -12.0

    def __post_init__(self) -> None:
        if self.max_inflight < 1 or self.stall_buffer < 1:
            raise ValueError("max_inflight and stall_buffer must be at least 1")
        budget = self.delay_ns - self.output_lead_ns - self.fragmenter.max_ns - self.fragmenter.overlap_ns
        if budget <= 0:
            raise ValueError(
                "WORKER_BUFFER_TARGET must exceed WORKER_FRAGMENT_MAX_DUR + WORKER_FRAGMENT_OVERLAP + "
                "WORKER_OUTPUT_LEAD, or the longest fragments could never be dubbed in time"
            )
        # a segment's dub is due when its first fragment plays: it may not outgrow what the delay allows
        longest_fragment = self.fragmenter.max_ns + self.fragmenter.overlap_ns
        typical_fragment = self.fragmenter.target_ns + self.fragmenter.overlap_ns
        allowed = self.delay_ns - self.output_lead_ns - self.soft_margin_ns  # the longest segment the delay covers
        capped = max(typical_fragment,
                     min(self.segmenter.max_ns, allowed - (longest_fragment - typical_fragment)))
        object.__setattr__(self, "segmenter", replace(self.segmenter, max_ns=capped, fragment_max_ns=longest_fragment,
                                                      fragment_target_ns=typical_fragment))

    @classmethod
    def from_settings(cls, worker: WorkerSettings) -> CoreConfig:
        return cls(
            fragmenter=FragmenterConfig(
                target_ns=_ns(worker.fragment_target_dur),
                min_ns=_ns(worker.fragment_min_dur),
                max_ns=_ns(worker.fragment_max_dur),
                overlap_ns=_ns(worker.fragment_overlap),
            ),
            segmenter=SegmenterConfig(
                max_ns=_ns(worker.segment_max_dur),
                pause_ns=_ns(worker.segment_pause),
                spill_ns=_ns(worker.segment_spill),
                fragment_max_ns=_ns(worker.fragment_max_dur + worker.fragment_overlap),
            ) if worker.sts_mode is not StsMode.mock else one_fragment_segments(
                _ns(worker.fragment_max_dur + worker.fragment_overlap)),
            quality=LadderConfig(mode=worker.quality.value),
            breaker=BreakerConfig(
                failure_threshold=worker.breaker_failures,
                latency_p95_ns=_ns(worker.breaker_latency_p95),
                max_backlog=worker.breaker_max_backlog,
                cooldown_ns=_ns(worker.breaker_cooldown),
            ),
            delay_ns=_ns(worker.buffer_target),
            output_lead_ns=_ns(worker.output_lead),
            soft_margin_ns=_ns(worker.deadline_soft_margin),
            max_inflight=worker.max_inflight,
            stall_buffer=worker.stall_buffer,
            fallback=worker.fallback,
            duck_gain_db=worker.fallback_duck_db,
        )
