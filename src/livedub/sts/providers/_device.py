"""Device choice shared by the providers: GPU when asked for and present, else CPU with a log line."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

log = logging.getLogger("livedub.sts.device")


def resolve_device(requested: str, cuda_available: Callable[[], bool], what: str) -> str:
    """``requested``: cpu, cuda or auto. Never raises: an absent GPU means CPU."""
    if requested == "cpu":
        return "cpu"
    try:
        has_cuda = cuda_available()
    except Exception as exc:  # noqa: BLE001 -- a broken CUDA install reports itself here; CPU still works
        log.warning("%s: CUDA check failed (%s); using CPU", what, exc)
        has_cuda = False
    if has_cuda:
        return "cuda"
    if requested == "cuda":
        log.warning("%s: WORKER_DEVICE=cuda but no CUDA device is available; falling back to CPU", what)
    return "cpu"


def cpu_threads(requested: int) -> int:
    return requested if requested > 0 else (os.cpu_count() or 1)
