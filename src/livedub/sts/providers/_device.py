"""Device choice shared by the providers: GPU when asked for and present, else CPU with a log line."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

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


def cpu_threads(requested: int, cores: int | None = None) -> int:
    """``requested`` threads, or for 0 every core but one (at least 1): the worker's media pipelines
    and the rest of the machine keep a core. CTranslate2 and ONNX Runtime split each operation over
    their threads and wait for the slowest, so a thread that loses its core stalls the whole call:
    live on 2 cores with one core busy, Whisper on 2 threads took 5-10 s a segment, on 1 thread 0.5 s."""
    if requested > 0:
        return requested
    return max(1, ((os.cpu_count() or 1) if cores is None else cores) - 1)


def onnx_session_options(requested_threads: int) -> Any:
    """ONNX Runtime session options for a CPU model: ``cpu_threads(requested_threads)`` threads, and
    idle threads that sleep: by default they spin, burning the cores the other calls and the media
    pipelines need. Measured on 2 cores, two concurrent pipeline calls through Kokoro: real-time
    factor 1.41-2.5 spinning, 1.10-1.18 without."""
    import onnxruntime as ort  # only the ONNX providers pay for it

    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_threads(requested_threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def load_on_device(device: str, load: Callable[[str], T], probe: Callable[[T], object], what: str) -> tuple[T, str]:
    """Load with ``load(device)``; on CUDA also run ``probe`` once, because GPU runtimes load their
    libraries (cuBLAS, cuDNN) lazily and a driver/runtime mismatch only shows on first use. Any
    failure on CUDA logs why and loads on the CPU instead. Returns the model and the device used."""
    if device != "cuda":
        return load(device), device
    try:
        model = load("cuda")
        probe(model)
        return model, "cuda"
    except Exception as exc:  # noqa: BLE001 -- a CUDA failure of any kind means: run on the CPU
        log.warning("%s: CUDA failed (%s: %s); falling back to CPU", what, type(exc).__name__,
                    str(exc).splitlines()[0][:200] if str(exc) else "")
        return load("cpu"), "cpu"
