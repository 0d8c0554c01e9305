"""`livedub worker-host` as a process: clear exits for bad settings, a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from livedub.obs.metrics import free_port
from livedub.proc.child import spawn, terminate, wait_until
from tests.unit.orchestrator.conftest import standin_command


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "MEDIA_", "WORKER_", "LOG_", "EGRESS_"))}
    return {**env, **extra}


@pytest.mark.parametrize(("env", "message"), [
    ({"WORKER_HOST_HTTP_ADDR": "8090"}, "expected host:port"),
    ({"WORKER_HOST_WORKER_COMMAND": "/nonexistent/worker"}, "'/nonexistent/worker' is not an executable"),
    ({"WORKER_HOST_WORKER_STOP_TIMEOUT": "soon"}, "invalid WORKER_HOST_WORKER_STOP_TIMEOUT='soon'"),
    ({"WORKER_HOST_HTTP_ADRR": "127.0.0.1:1"}, "unknown setting(s): WORKER_HOST_HTTP_ADRR"),
])
def test_invalid_settings_exit_2(env: dict[str, str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "livedub.cli.main", "worker-host"], env=clean_env(**env),
                            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_serves_and_stops_its_workers_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = spawn([sys.executable, "-m", "livedub.cli.main", "worker-host", "--http-addr", f"127.0.0.1:{port}",
                     "--worker-command", standin_command(tmp_path)], env=clean_env(),
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def healthy() -> bool:
        try:
            return client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_until(healthy, 30, abort=lambda: None if process.poll() is None else "exited early")
        started = client.post("/v1/workers", json={"streamId": "cli", "runId": "r1", "inputUrl": "rtsp://m/live/cli/in",
                                                   "outputUrl": "rtmp://m/live/cli/out"})
        assert started.status_code == 201, started.text
        assert wait_until(lambda: (tmp_path / "events.log").exists(), 10)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert (tmp_path / "events.log").read_text().split()[::3] == ["start", "stop"]
    finally:
        client.close()
        terminate(process, timeout=5)
        output = process.stdout.read().decode() if process.stdout else ""
    assert '"component": "stream-worker-host"' in output
