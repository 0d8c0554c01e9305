"""The worker's Prometheus metrics, in a registry of its own (one worker per process)."""

from __future__ import annotations

from enum import Enum

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client import Enum as EnumMetric

from livedub.gst.caps import Track

STATES = ("starting", "waiting_input", "input_connected", "running", "draining", "input_lost", "stopped")


class DropReason(str, Enum):
    """Why a buffer never reached the output (the ``reason`` label of ``worker_dropped_buffers``)."""

    no_timestamp = "no-timestamp"                # the input buffer had no usable time
    before_output_start = "before-output-start"  # its output time fell before the output's start
    start_backlog_full = "start-backlog-full"    # more arrived while the output started than is held


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.bus_errors = Counter("worker_gst_bus_errors", "GStreamer bus ERROR messages (any pipeline).",
                                  registry=r)
        self.bus_warnings = Counter("worker_gst_bus_warnings", "GStreamer bus WARNING messages (any pipeline).",
                                    registry=r)
        self.av_sync_delta_ms = Gauge(
            "worker_av_sync_delta_ms",
            "A/V sync at the output: (when the last audio buffer will play - its input time) minus the same "
            "for the last video buffer, as the output pipeline stamped them (0 = in sync; positive: audio late).",
            registry=r,
        )
        self.input_position = Gauge("worker_input_position_seconds",
                                    "Input running time of the last buffer received, per track.",
                                    ["track"], registry=r)
        self.output_position = Gauge("worker_output_position_seconds",
                                     "Output running time up to which buffers were handed to the output pipeline, per track.",
                                     ["track"], registry=r)
        self.output_delay = Gauge("worker_output_delay_seconds",
                                  "Delay the worker adds to the last video buffer: when the output sends it minus when its input arrived.", registry=r)
        self.dropped_buffers = Counter("worker_dropped_buffers",
                                       "Input buffers that never reached the output, per track and reason.",
                                       ["track", "reason"], registry=r)
        self.audio_headroom = Gauge(
            "worker_output_audio_headroom_seconds",
            "How long before it plays the last audio chunk was handed to the output pipeline (negative: late).",
            registry=r,
        )
        self.audio_late = Counter(
            "worker_output_audio_late",
            "Audio chunks handed to the output pipeline after their play time (the muxer has moved on: "
            "viewers may get repeated timestamps). WORKER_OUTPUT_LEAD is the headroom they normally get.",
            registry=r,
        )
        self.audio_trimmed = Counter("worker_audio_trimmed_samples",
                                     "Input audio samples cut because the decoder stamped them over earlier ones.",
                                     registry=r)
        self.state = EnumMetric("worker_state", "Lifecycle state of the worker.", states=list(STATES),
                                registry=r)
        for track in Track:
            self.input_position.labels(track.value)
            self.output_position.labels(track.value)
            for reason in DropReason:
                self.dropped_buffers.labels(track.value, reason.value)
        self.state.state("starting")
