"""The core's Prometheus metrics, registered on a registry the caller owns (never the global one).

Names are part of the worker's contract (SYSTEM.md "Observability"); the core registers them, so
the worker must not register the same names on the same registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

MS_BUCKETS = (25, 50, 100, 250, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 30000)


class CoreMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.fragments = Counter(
            "worker_audio_fragments_total", "Fragments emitted, by status (dubbed, fallback, or no-speech: nothing to dub).",
            ["status"], registry=registry)
        self.fallbacks = Counter(
            "worker_fallback_total", "Fragments that played a fallback, by reason.", ["reason"], registry=registry)
        self.inflight = Gauge(
            "worker_inflight_fragments", "STS calls running now (late ones included).", registry=registry)
        self.breaker_state = Gauge(
            "worker_sts_breaker_state", "STS circuit breaker: 0 closed, 1 open, 2 half-open.", registry=registry)
        self.sts_rtt_ms = Histogram(
            "worker_sts_rtt_ms", "STS round trip per fragment (submit to result), ms.",
            buckets=MS_BUCKETS, registry=registry)
        self.end_to_end_ms = Histogram(
            "worker_chunk_end_to_end_latency_ms", "Fragment start arriving at input to its audio being emitted, ms.",
            buckets=MS_BUCKETS, registry=registry)
        self.soft_timeouts = Counter(
            "worker_sts_soft_timeouts_total", "Fragments still in STS at their soft deadline.", registry=registry)
        self.late_results = Counter(
            "worker_sts_late_results_total", "STS results that arrived after their fallback was emitted "
            "(discarded).", registry=registry)
        self.stalls = Counter(
            "worker_fragment_stalls_total", "Fragments that had to wait for a free STS slot.", registry=registry)
        self.stalled = Gauge(
            "worker_stalled_fragments", "Fragments waiting for a free STS slot now.", registry=registry)
        self.sanitiser_fixes = Counter(
            "worker_sts_output_fixes_total", "Repairs made to STS output, by case.", ["case"], registry=registry)
        self.forced_cuts = Counter(
            "worker_fragment_forced_cuts_total", "Fragments cut at the maximum length for want of a pause.",
            registry=registry)
        self.discontinuities = Counter(
            "worker_input_discontinuities_total", "Input timestamp jumps (a new segment started).",
            registry=registry)
        self.breaker_transitions = Counter(
            "worker_sts_breaker_transitions_total", "Breaker state changes, by new state.", ["to"],
            registry=registry)

        self.segments = Counter(
            "worker_speech_segments_total", "Speech segments (one STS call each), by outcome (dubbed or fallback).",
            ["status"], registry=registry)
        self.quality_tier = Gauge(
            "worker_quality_tier", "1 for the quality rung voicing new speech segments now, 0 for the others.",
            ["tier"], registry=registry)
        self.quality_steps = Counter(
            "worker_quality_steps_total", "Quality ladder steps, by direction (up/down) and the rung stepped to.",
            ["direction", "tier"], registry=registry)
        self.bundle_errors = Counter(
            "worker_run_bundle_write_errors_total", "Run bundle files that could not be written.",
            registry=registry)
        self.sts_bugs = Counter(
            "worker_sts_bugs_total", "STS calls that raised something other than an STS error: a bug in a stage "
            "(each falls back; the first of each kind is logged with its traceback).", registry=registry)
        self.bundle_dropped = Counter(
            "worker_run_bundle_dropped_records_total",
            "Fragment records the run-bundle writer dropped because the disk fell behind.", registry=registry)

    def value(self, name: str, **labels: str) -> float:
        """Current value of a sample (``name`` as exposed, e.g. ``worker_fallback_total``); 0 if absent."""
        found = self.registry.get_sample_value(name, labels or None)
        return 0.0 if found is None else found
