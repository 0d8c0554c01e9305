"""Build a :class:`StreamingCore` from the worker's settings: the one call the worker makes."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry

import livedub
from livedub.config.settings import PathSettings, WorkerSettings
from livedub.core.bundle import RunBundle, new_run_id, purge_runs, runs_dir
from livedub.core.clock import Clock, MonotonicClock
from livedub.core.config import CoreConfig
from livedub.core.executor import Executor, ThreadExecutor
from livedub.core.metrics import CoreMetrics
from livedub.core.processor import Separator, StsProcessor
from livedub.core.scheduler import StreamingCore
from livedub.core.vad import Vad

log = logging.getLogger(__name__)


def create_core(
    worker: WorkerSettings,
    paths: PathSettings,
    *,
    processor: StsProcessor,
    registry: CollectorRegistry,
    clock: Clock | None = None,
    executor: Executor | None = None,
    vad: Vad | None = None,
    separator: Separator | None = None,
    run_id: str | None = None,
    write_bundle: bool = True,
) -> StreamingCore:
    """A live worker's core: a thread pool of ``WORKER_MAX_INFLIGHT``, metrics on ``registry``, and a
    run bundle under ``LIVEDUB_DATA_DIR`` (older runs purged per ``LIVEDUB_RUN_KEEP``/``LIVEDUB_RUN_MAX_AGE``),
    written on a thread of its own (``bundle_writer.py``)."""
    if not worker.stream_id:
        raise ValueError("WORKER_STREAM_ID is required")
    config = CoreConfig.from_settings(worker)
    run_id = run_id or new_run_id()
    bundle = None
    if write_bundle:
        bundle = RunBundle(paths.data_dir, worker.stream_id, run_id, capture_audio=paths.debug_artifacts)
        bundle.start(manifest_info(worker, config))
        removed = purge_runs(runs_dir(paths.data_dir, worker.stream_id), keep=paths.run_keep,
                             max_age_s=paths.run_max_age, protect={run_id})
        if removed:
            log.info("purged %d old run bundle(s)", len(removed), extra={"streamId": worker.stream_id})
    return StreamingCore(
        config,
        processor,
        clock=clock or MonotonicClock(),
        executor=executor or ThreadExecutor(config.max_inflight),
        stream_id=worker.stream_id,
        metrics=CoreMetrics(registry),
        vad=vad,
        separator=separator,
        bundle=bundle,
        run_id=run_id,
        bundle_in_background=True,
    )


def manifest_info(worker: WorkerSettings, config: CoreConfig) -> dict[str, object]:
    """What a run bundle records about its configuration. An allow-list: URLs never go in."""
    return {
        "livedubVersion": getattr(livedub, "__version__", "unknown"),
        "stsMode": worker.sts_mode.value,
        "sourceLang": worker.source_lang,
        "targetLang": worker.target_lang,
        "ttsVoice": worker.tts_voice,
        "fallback": config.fallback.value,
        "maxInflight": config.max_inflight,
        "delayMs": config.delay_ns / 1e6,
        "outputLeadMs": config.output_lead_ns / 1e6,
        "fragment": {
            "targetMs": config.fragmenter.target_ns / 1e6,
            "minMs": config.fragmenter.min_ns / 1e6,
            "maxMs": config.fragmenter.max_ns / 1e6,
            "overlapMs": config.fragmenter.overlap_ns / 1e6,
        },
    }
