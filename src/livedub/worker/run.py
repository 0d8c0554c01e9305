"""Start one worker from validated settings: metrics endpoint, audio path, lifecycle. Used by the CLI."""

from __future__ import annotations

import logging

from livedub.config.settings import WorkerSettings
from livedub.obs.logging import bind_context
from livedub.obs.metrics import serve_metrics
from livedub.worker.audio_path import AudioPathNotBuilt, create_audio_path
from livedub.worker.exit_codes import ExitCode
from livedub.worker.gst import GstUnavailable, require_gst

log = logging.getLogger(__name__)


def run_worker(settings: WorkerSettings, *, run_id: str | None = None, metrics_host: str = "127.0.0.1") -> ExitCode:
    """Run the worker for ``settings`` (already validated: stream id and URLs present); returns its exit code."""
    # without a run id the launcher (orchestrator, worker host) tags each line with the one it owns
    bind_context(streamId=settings.stream_id, **({"runId": run_id} if run_id else {}))
    try:
        require_gst()
    except GstUnavailable as exc:
        log.error("cannot start the worker", extra={"reason": str(exc), "exitCode": int(ExitCode.MISSING_DEPENDENCY)})
        return ExitCode.MISSING_DEPENDENCY
    try:
        audio_path = create_audio_path(settings)
    except AudioPathNotBuilt as exc:
        log.error("cannot start the worker", extra={"reason": str(exc), "exitCode": int(ExitCode.CONFIG)})
        return ExitCode.CONFIG

    # imported after the GStreamer check so a missing install gives the message above
    from livedub.worker.metrics import WorkerMetrics
    from livedub.worker.timing import effective_delay_ns
    from livedub.worker.worker import Worker, WorkerConfig

    metrics = WorkerMetrics()
    endpoint = serve_metrics(settings.metrics_port, host=metrics_host, registry=metrics.registry)
    delay_ns = effective_delay_ns(settings.buffer_target)
    log.info("worker starting", extra={"stsMode": settings.sts_mode.value, "metricsUrl": endpoint.url,
                                       "metricsPort": endpoint.port, "delayMs": delay_ns // 1_000_000})
    config = WorkerConfig(stream_id=settings.stream_id, input_url=settings.input_url,
                          output_url=settings.output_url, delay_ns=delay_ns,
                          input_timeout_s=settings.input_timeout)
    try:
        return Worker(config, audio_path, metrics).run()
    finally:
        endpoint.close()
