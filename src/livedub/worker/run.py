"""Start one worker from validated settings: metrics endpoint, audio path (models), lifecycle. Used by the CLI."""

from __future__ import annotations

import logging

from livedub.config.settings import PathSettings, WorkerSettings
from livedub.core.bundle import new_run_id
from livedub.obs.logging import bind_context
from livedub.obs.metrics import serve_metrics
from livedub.worker.audio_path import AudioPathContext, AudioPathUnavailable, create_audio_path
from livedub.worker.exit_codes import ExitCode
from livedub.worker.gst import GstUnavailable, require_gst

log = logging.getLogger(__name__)


def run_worker(settings: WorkerSettings, paths: PathSettings) -> ExitCode:
    """Run the worker for ``settings`` (already validated: stream id and URLs present); returns its exit code."""
    # the orchestrator's launcher sets WORKER_RUN_ID; a worker started by hand makes its own, so its
    # log lines and its run bundle always agree on the run
    run_id = settings.run_id or new_run_id()
    bind_context(streamId=settings.stream_id, runId=run_id)
    try:
        require_gst()
    except GstUnavailable as exc:
        log.error("cannot start the worker", extra={"reason": str(exc), "exitCode": int(ExitCode.MISSING_DEPENDENCY)})
        return ExitCode.MISSING_DEPENDENCY

    # imported after the GStreamer check so a missing install gives the message above
    from livedub.worker.metrics import WorkerMetrics
    from livedub.worker.timing import effective_delay_ns
    from livedub.worker.worker import Worker, WorkerConfig

    metrics = WorkerMetrics()  # the streaming core registers its metrics on this registry too
    endpoint = serve_metrics(settings.metrics_port, host=settings.metrics_host, registry=metrics.registry)
    try:
        delay_ns = effective_delay_ns(settings.buffer_target)
        log.info("worker starting", extra={"stsMode": settings.sts_mode.value, "metricsUrl": endpoint.url,
                                           "metricsPort": endpoint.port, "delayMs": delay_ns // 1_000_000})
        try:
            # settings are checked here; real models load in the background while the input connects
            audio_path = create_audio_path(AudioPathContext(settings, paths, metrics.registry, run_id))
        except AudioPathUnavailable as exc:
            log.error("cannot start the worker", extra={"reason": str(exc), "exitCode": int(ExitCode.CONFIG)})
            return ExitCode.CONFIG
        config = WorkerConfig(stream_id=settings.stream_id, input_url=settings.input_url,
                              output_url=settings.output_url, delay_ns=delay_ns,
                              input_timeout_s=settings.input_timeout)
        try:
            return Worker(config, audio_path, metrics).run()
        finally:
            audio_path.close()  # the run bundle's summary, drained or not
    finally:
        endpoint.close()
