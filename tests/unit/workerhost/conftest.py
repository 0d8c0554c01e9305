"""A real worker host (FastAPI + uvicorn on a free port) whose workers are the orchestrator tests'
stand-in: ``serve_host(tmp_path, *standin_args)`` -> (RunningServer, WorkerHost)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from livedub.proc.launcher import ProcessLauncher, parse_worker_command
from livedub.proc.serve import RunningServer, bind_socket, run_in_thread
from livedub.workerhost.app import create_app
from livedub.workerhost.host import WorkerHost
from tests.unit.orchestrator.conftest import serve, standin_command  # noqa: F401 - serve: a shared fixture


def standin_host(lock_dir: Path, *extra: str, command: list[str] | None = None) -> WorkerHost:
    launcher = ProcessLauncher(command or parse_worker_command(standin_command(lock_dir, *extra)), stop_timeout=2,
                               base_env={"PATH": os.environ.get("PATH", "")}, sink=lambda spec, line: None)
    return WorkerHost(launcher)


@pytest.fixture
def serve_host() -> Iterator:
    running: list[RunningServer] = []

    def _serve(host: WorkerHost) -> RunningServer:
        server = run_in_thread(create_app(host), bind_socket("127.0.0.1:0"), "worker-host")
        running.append(server)
        return server

    yield _serve
    for server in running:
        server.stop()


def events(lock_dir: Path) -> list[str]:
    path = lock_dir / "events.log"
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []
