"""GPU selection: CUDA when asked for and working, otherwise the CPU with a log line, never a crash."""

from __future__ import annotations

import logging

import pytest

from livedub.sts.providers._device import cpu_threads, load_on_device, resolve_device


def test_cpu_request_never_checks_cuda() -> None:
    def boom() -> bool:
        raise AssertionError("must not be called")

    assert resolve_device("cpu", boom, "x") == "cpu"


@pytest.mark.parametrize(("requested", "has_cuda", "expected"),
                         [("cuda", True, "cuda"), ("auto", True, "cuda"), ("auto", False, "cpu"), ("cuda", False, "cpu")])
def test_resolve_device(requested: str, has_cuda: bool, expected: str) -> None:
    assert resolve_device(requested, lambda: has_cuda, "x") == expected


def test_cuda_requested_without_gpu_logs_the_fallback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert resolve_device("cuda", lambda: False, "whisper-base") == "cpu"
    assert "falling back to CPU" in caplog.text and "whisper-base" in caplog.text


def test_a_broken_cuda_check_means_cpu(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> bool:
        raise OSError("libcuda.so.1: cannot open shared object file")

    with caplog.at_level(logging.WARNING):
        assert resolve_device("auto", broken, "kokoro") == "cpu"
    assert "libcuda.so.1" in caplog.text


def test_cuda_that_fails_on_first_use_reloads_on_cpu(caplog: pytest.LogCaptureFixture) -> None:
    loads: list[str] = []

    def load(device: str) -> str:
        loads.append(device)
        return f"model@{device}"

    def probe(model: str) -> None:
        if model.endswith("cuda"):
            raise RuntimeError("Library libcublas.so.12 is not found or cannot be loaded")

    with caplog.at_level(logging.WARNING):
        model, device = load_on_device("cuda", load, probe, "whisper-base")
    assert (model, device, loads) == ("model@cpu", "cpu", ["cuda", "cpu"])
    assert "libcublas.so.12" in caplog.text and "falling back to CPU" in caplog.text


def test_working_cuda_is_kept_and_cpu_is_not_probed() -> None:
    probed: list[str] = []
    model, device = load_on_device("cuda", lambda d: d, probed.append, "x")
    assert (model, device, probed) == ("cuda", "cuda", ["cuda"])
    model, device = load_on_device("cpu", lambda d: d, probed.append, "x")
    assert (model, device, probed) == ("cpu", "cpu", ["cuda"])


@pytest.mark.parametrize(("requested", "cores", "expected"), [(0, 2, 1), (0, 1, 1), (0, 16, 15), (2, 2, 2), (4, 16, 4)])
def test_cpu_threads_leave_a_core_unless_told(requested: int, cores: int, expected: int) -> None:
    assert cpu_threads(requested, cores) == expected


def test_worker_cpu_threads_reach_the_models_load_context() -> None:
    from livedub.config import load_settings
    from livedub.config.settings import PathSettings, WorkerSettings
    from livedub.sts.pipeline import StsConfig

    worker = load_settings(WorkerSettings, env={"WORKER_CPU_THREADS": "3"})
    assert StsConfig.from_settings(worker, load_settings(PathSettings, env={})).load.cpu_threads == 3
    assert load_settings(WorkerSettings, env={}).cpu_threads == 0
