"""Choose the STS processor a worker (or `livedub dub`) runs, from WORKER_STS_MODE.

* ``bypass``: the audio passes through unchanged (``PassThroughSts``; the live worker skips the
  core entirely in this mode).
* ``mock``: a deterministic tone per fragment (``ToneSts``): shows the dub path end to end.
* ``real``: the in-process speech-to-speech pipeline (ASR -> MT -> TTS) from ``livedub.sts``.
"""

from __future__ import annotations

from livedub.config.settings import PathSettings, StsMode, WorkerSettings
from livedub.core.mock_sts import PassThroughSts, ToneSts
from livedub.core.processor import StsProcessor


class ProcessorUnavailable(RuntimeError):
    """The requested STS mode cannot run here (a missing model package); the message says how to fix it."""


def create_processor(worker: WorkerSettings, paths: PathSettings) -> StsProcessor:
    if worker.sts_mode == StsMode.bypass:
        return PassThroughSts()
    if worker.sts_mode == StsMode.mock:
        return ToneSts()
    try:
        from livedub.sts.factory import create_sts_processor
    except ImportError as exc:
        raise ProcessorUnavailable(
            f"real STS is not available ({exc}); install the models with ./scripts/install.sh --models"
        ) from None
    return create_sts_processor(worker, paths)
