"""Start one worker from validated settings: metrics endpoint, audio path (models), lifecycle. Used by the CLI.

A worker either starts for its stream (``run_worker``) or as a standby (``prepare_standby``, then
``run_worker`` with what it prepared once the launcher assigns a stream): GStreamer imported and
the models loading before any stream exists, so the first seconds of a new stream are dubbed.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livedub.config.settings import PathSettings, WorkerSettings
from livedub.core.bundle import new_run_id
from livedub.core.processor import Unavailable
from livedub.gst import GstUnavailable, require_gst
from livedub.obs.logging import bind_context
from livedub.obs.metrics import serve_metrics
from livedub.proc.exit_codes import ExitCode
from livedub.proc.standby import STANDBY_KEY, StandbyState
from livedub.proc.title import set_title, worker_title
from livedub.worker.audio_path import AudioPathContext, create_audio_path, start_sts

if TYPE_CHECKING:
    from livedub.processors import DubEngine, LoadingEngine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """What a standby worker made ready before its stream was known."""

    engine: DubEngine | LoadingEngine | None  # None: bypass needs none


def _gst_or_exit() -> ExitCode | None:
    try:
        require_gst()
    except GstUnavailable as exc:
        log.error("cannot start the worker", extra={"reason": str(exc), "exitCode": int(ExitCode.MISSING_DEPENDENCY)})
        return ExitCode.MISSING_DEPENDENCY
    return None


def prepare_standby(settings: WorkerSettings, paths: PathSettings) -> Prepared | ExitCode:
    """Import the pipeline and start the STS engine (models load in the background) for a stream
    not known yet; the exit code the worker would have failed with otherwise."""
    set_title(worker_title("", ""))
    failed = _gst_or_exit()
    if failed is not None:
        return failed
    import livedub.worker.worker  # noqa: F401  (GStreamer and the pipelines, imported while nothing waits)

    try:
        engine = start_sts(settings, paths)
    except Unavailable as exc:
        log.error("cannot start the worker", extra={"reason": str(exc), "exitCode": int(ExitCode.CONFIG)})
        return ExitCode.CONFIG
    log.info("worker standing by", extra={"stsMode": settings.sts_mode.value})
    _report_when_loaded(engine)
    return Prepared(engine)


def _report_when_loaded(engine: DubEngine | LoadingEngine | None) -> None:
    """Say once that the standby's models are loaded (``standby``: ready or failed): its launcher
    reads this line (``livedub.proc.standby.STANDBY_KEY``) and ``livedub up`` waits for it."""
    from livedub.processors import LoadingEngine

    def report() -> None:
        loaded = engine.wait() if isinstance(engine, LoadingEngine) else True
        if loaded:
            log.info("standby worker ready", extra={STANDBY_KEY: StandbyState.ready.value})
        else:
            log.error("standby worker cannot dub", extra={STANDBY_KEY: StandbyState.failed.value,
                                                          "reason": engine.failure if engine else None})

    if isinstance(engine, LoadingEngine):
        threading.Thread(target=report, name="standby-report", daemon=True).start()
    else:
        report()


def run_worker(settings: WorkerSettings, paths: PathSettings, prepared: Prepared | None = None) -> ExitCode:
    """Run the worker for ``settings`` (already validated: stream id and URLs present); returns its exit code."""
    # the orchestrator's launcher sets WORKER_RUN_ID; a worker started by hand makes its own, so its
    # log lines and its run bundle always agree on the run
    run_id = settings.run_id or new_run_id()
    bind_context(streamId=settings.stream_id, runId=run_id)
    set_title(worker_title(settings.stream_id, run_id))
    if prepared is None:
        failed = _gst_or_exit()
        if failed is not None:
            return failed

    # imported after the GStreamer check so a missing install gives the message above
    from livedub.worker.metrics import WorkerMetrics
    from livedub.worker.timing import effective_delay_ns
    from livedub.worker.worker import Worker, WorkerConfig

    metrics = WorkerMetrics()  # the streaming core registers its metrics on this registry too
    endpoint = serve_metrics(settings.metrics_port, host=settings.metrics_host, registry=metrics.registry)
    try:
        delay_ns = effective_delay_ns(settings.buffer_target)
        log.info("worker starting", extra={"stsMode": settings.sts_mode.value, "metricsUrl": endpoint.url,
                                           "metricsPort": endpoint.port, "delayMs": delay_ns // 1_000_000,
                                           "warm": prepared is not None})
        try:
            # settings are checked here; real models load in the background while the input connects
            audio_path = create_audio_path(AudioPathContext(settings, paths, metrics.registry, run_id,
                                                            engine=prepared.engine if prepared else None))
        except Unavailable as exc:
            log.error("cannot start the worker", extra={"reason": str(exc), "exitCode": int(ExitCode.CONFIG)})
            return ExitCode.CONFIG
        config = WorkerConfig(stream_id=settings.stream_id, input_url=settings.input_url,
                              output_url=settings.output_url, delay_ns=delay_ns,
                              input_timeout_s=settings.input_timeout, reconnect_s=settings.input_reconnect)
        try:
            return Worker(config, audio_path, metrics).run()
        finally:
            audio_path.close()  # the run bundle's summary, drained or not
    finally:
        endpoint.close()
