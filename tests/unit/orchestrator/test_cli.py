"""`livedub orchestrator` as a process: clear exits for bad settings, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from livedub.obs.metrics import free_port
from livedub.proc.child import spawn, terminate, wait_until

from .conftest import standin_command, standin_events, wait_for_standin_events


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "MEDIA_", "WORKER_", "LOG_"))}
    return subprocess.run([sys.executable, "-m", "livedub.cli.main", "orchestrator", *args],
                          env={**clean, **(env or {})}, check=False, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--grace-period", "soon"), {}, "invalid --grace-period (setting ORCH_GRACE_PERIOD)='soon'"),
        (("--max-workers", "0"), {}, "ORCH_MAX_WORKERS"),
        (("--http-addr", "8080"), {}, "expected host:port"),
        ((), {"ORCH_GRACE_PERIDO": "1s"}, "unknown setting(s): ORCH_GRACE_PERIDO"),
        ((), {"ORCH_LAUNCHER": "host"}, "ORCH_LAUNCHER=host needs ORCH_WORKER_HOST_URL"),
        ((), {"ORCH_LAUNCHER": "host", "ORCH_WORKER_HOST_URL": "stream-worker:8090"}, "expected http://host:port"),
        ((), {"ORCH_LAUNCHER": "ray"}, "ORCH_LAUNCHER=ray needs ORCH_RAY_ADDRESS"),
        ((), {"ORCH_RAY_RESOURCES": "{models: 1}"}, "ORCH_RAY_RESOURCES"),
        ((), {"ORCH_RAY_RESOURCES": '{"CPU": 1}'}, "ORCH_RAY_NUM_CPUS"),
        ((), {"ORCH_RAY_RESOURCES": '{"models": -1}'}, "amounts >= 0"),
        ((), {"EGRESS_ENABLED": "true"}, "EGRESS_ENABLED=true needs EGRESS_URL"),
        (("--worker-command", "/nonexistent/worker --x"), {}, "'/nonexistent/worker' is not an executable"),
    ],
)
def test_invalid_settings_exit_2_with_a_clear_message(args: tuple[str, ...], env: dict[str, str],
                                                       message: str) -> None:
    result = run_cli(*args, env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_address_in_use_exits_1() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("--http-addr", f"127.0.0.1:{port}")
    assert result.returncode == 1 and "cannot listen on ORCH_HTTP_ADDR" in result.stderr


def test_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "MEDIA_", "WORKER_", "LOG_"))}
    env.update({"MEDIA_BACKEND": "nginx", "MEDIA_API_PORT": str(free_port()), "ORCH_RECONCILE_INTERVAL": "1h",
                "LIVEDUB_DATA_DIR": str(tmp_path / "data")})
    process = spawn([sys.executable, "-m", "livedub.cli.main", "orchestrator", "--http-addr", f"127.0.0.1:{port}",
                     "--worker-command", standin_command(tmp_path), "--grace-period", "1s"],
                    env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)

    def healthy() -> bool:
        try:
            return client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_until(healthy, 30, abort=lambda: None if process.poll() is None else "exited early")
        event = {"path": "live/cli/in", "query": "lang=fr", "sourceType": "rtmpConn", "sourceId": "1"}
        assert client.post("/v1/mediamtx/events/ready", json=event).status_code == 202
        assert wait_until(lambda: client.get("/v1/streams/cli").json()["state"] == "running", 20)
        # running means spawned: a SIGTERM before the stand-in recorded its start would leave no trace
        assert wait_for_standin_events(tmp_path, ["start"]), standin_events(tmp_path)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert (tmp_path / "events.log").read_text().split()[::3] == ["start", "stop"]
        # LIVEDUB_DATA_DIR holds the stream's settings for the next start (docs/orchestrator.md)
        state = json.loads((tmp_path / "data" / "orchestrator" / "streams.json").read_text())
        assert state["streams"]["cli"]["settings"] == {"lang": "fr"}
    finally:
        client.close()
        terminate(process, timeout=5)
        output = process.stdout.read().decode() if process.stdout else ""
    assert '"component": "stream-orchestration"' in output
