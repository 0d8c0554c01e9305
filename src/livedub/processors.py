"""Choose the STS processor a worker (or `livedub dub`) runs, from WORKER_STS_MODE.

* ``bypass``: the audio passes through unchanged (``PassThroughSts``; the live worker skips the
  core entirely in this mode).
* ``mock``: a deterministic tone per fragment (``ToneSts``): shows the dub path end to end.
* ``real``: the in-process speech-to-speech pipeline (separation -> ASR -> MT -> TTS -> fit ->
  remix) from ``livedub.sts``; it also serves the core's ``background-only`` fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

from livedub.config.settings import PathSettings, StsMode, WorkerSettings
from livedub.core.mock_sts import PassThroughSts, ToneSts
from livedub.core.processor import Separator, StsError, StsProcessor


class ProcessorUnavailable(RuntimeError):
    """The requested STS mode cannot run here (a missing model package); the message says how to fix it."""


@dataclass(frozen=True)
class DubEngine:
    processor: StsProcessor
    separator: Separator | None = None


def create_engine(worker: WorkerSettings, paths: PathSettings, warm_up: bool = False) -> DubEngine:
    """Build what the core calls for ``worker.sts_mode``. Real models load here, once per process."""
    if worker.sts_mode == StsMode.bypass:
        return DubEngine(PassThroughSts())
    if worker.sts_mode == StsMode.mock:
        return DubEngine(ToneSts())
    try:
        from livedub.sts import StsConfig, StsPipeline

        pipeline = StsPipeline.build(StsConfig.from_settings(worker, paths))
        if warm_up:
            pipeline.warm_up()
    except ImportError as exc:
        raise ProcessorUnavailable(
            f"real STS is not available ({exc}); install the models with ./scripts/install.sh --models"
        ) from None
    except StsError as exc:
        raise ProcessorUnavailable(str(exc)) from None
    return DubEngine(pipeline, separator=pipeline)
