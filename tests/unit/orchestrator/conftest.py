"""Shared pieces for orchestrator tests: a fake media endpoint, an in-memory launcher, the stand-in
worker command and a helper that serves an OrchestratorService on a free port."""

from __future__ import annotations

import asyncio
import itertools
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from livedub.config import load_settings
from livedub.config.settings import OrchestratorSettings
from livedub.orchestrator.service import OrchestratorService, RunningOrchestrator
from livedub.proc.child import wait_until
from livedub.proc.launcher import ExitListener, WorkerExit, WorkerSpec

STANDIN = Path(__file__).with_name("standin_worker.py")


def standin_command(lock_dir: Path, *extra: str) -> str:
    return shlex.join([sys.executable, "-I", "-S", str(STANDIN), "--lock-dir", str(lock_dir), *extra])


def standin_events(lock_dir: Path) -> list[str]:
    """What the stand-ins in ``lock_dir`` recorded, in order: start, stop, crash, duplicate."""
    path = lock_dir / "events.log"
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def wait_for_standin_events(lock_dir: Path, expected: list[str], timeout: float = 15) -> bool:
    """Wait until the stand-ins have recorded exactly ``expected``. A stream's state says running as
    soon as its worker is spawned, before the stand-in has written its marker: wait for the marker."""
    return wait_until(lambda: standin_events(lock_dir) == expected, timeout)


class FakeMedia:
    """Addresses like a media server, plus a settable set of live ingest paths."""

    def __init__(self) -> None:
        self.live: set[str] = set()
        self.fail: Exception | None = None
        self.listed = 0
        self.publish_settle_s = 0.0  # a test sets it to play a server that holds publishers

    def worker_input_url(self, stream_id: str) -> str:
        return f"rtsp://media:8554/live/{stream_id}/in"

    def worker_output_url(self, stream_id: str) -> str:
        return f"rtmp://media:1935/live/{stream_id}/out"

    def list_live_ingest(self) -> set[str]:
        self.listed += 1
        if self.fail is not None:
            raise self.fail
        return set(self.live)


@dataclass
class FakeHandle:
    stream_id: str
    run_id: str
    pid: int
    on_exit: ExitListener
    where: str = "fake host"


@dataclass
class FakeLauncher:
    """In-memory launcher; records any moment two workers of one stream exist."""

    alive: dict[str, FakeHandle] = field(default_factory=dict)  # run_id -> handle
    specs: list[WorkerSpec] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    fail_starts: int = 0
    _pids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    async def start(self, spec: WorkerSpec, on_exit: ExitListener) -> FakeHandle:
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("fake start failure")
        if any(h.stream_id == spec.stream_id for h in self.alive.values()):
            self.violations.append(spec.stream_id)
        handle = FakeHandle(spec.stream_id, spec.run_id, next(self._pids), on_exit)
        self.alive[spec.run_id] = handle
        self.specs.append(spec)
        return handle

    async def stop(self, handle: FakeHandle) -> None:
        self.exit(handle.run_id, 0)

    async def close(self) -> None:
        for run_id in list(self.alive):
            self.exit(run_id, 0)

    def exit(self, run_id: str, code: int) -> None:
        handle = self.alive.pop(run_id, None)
        if handle is not None:
            handle.on_exit(WorkerExit(handle.stream_id, run_id, code, None if code == 0 else f"code {code}"))

    def crash(self, stream_id: str, code: int = 1) -> None:
        for run_id, handle in list(self.alive.items()):
            if handle.stream_id == stream_id:
                self.exit(run_id, code)

    def streams(self) -> list[str]:
        return sorted(h.stream_id for h in self.alive.values())


def orch_settings(**overrides: object) -> OrchestratorSettings:
    base = {"http_addr": "127.0.0.1:0", "grace_period": "200ms", "reconcile_interval": "1h",
            "restart_backoff_initial": "50ms", "restart_backoff_max": "200ms", "worker_stop_timeout": "2s"}
    base.update({k: v for k, v in overrides.items()})
    return load_settings(OrchestratorSettings, env={}, overrides=base)


@pytest.fixture
def serve() -> Iterator:
    """``serve(service)`` -> RunningOrchestrator on a free port; stopped at teardown."""
    running: list[RunningOrchestrator] = []

    def _serve(service: OrchestratorService) -> RunningOrchestrator:
        handle = service.run_in_thread()
        running.append(handle)
        return handle

    yield _serve
    for handle in running:
        handle.stop()


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]
