"""The compose topology without Docker: `livedub orchestrator` (ORCH_LAUNCHER=host) and
`livedub worker-host` as two real processes talking HTTP, with the stand-in worker on the host.

Hook events reach the orchestrator -> exactly one worker process on the host; not-ready past the
grace period stops it; a worker killed on the host is restarted; stopping the orchestrator stops
its workers on the host."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from livedub.obs.metrics import free_port
from livedub.proc.child import pid_alive, spawn, terminate, wait_until
from tests.unit.orchestrator.conftest import standin_command, standin_events, wait_for_standin_events

pytestmark = [pytest.mark.e2e]

STREAM = "cam-host"
EVENT = {"path": f"live/{STREAM}/in", "query": "lang=fr", "sourceType": "rtmpConn", "sourceId": "conn-1"}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ORCH_", "MEDIA_", "WORKER_", "LOG_", "EGRESS_", "LIVEDUB_"))}
    return {**env, "LOG_FORMAT": "json", **extra}


def start(name: str, tmp_path: Path, command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"{name}.log").open("wb")
    return spawn([sys.executable, "-m", "livedub.cli.main", command], env=env, stdout=log,
                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def get(client: httpx.Client, path: str) -> dict:
    try:
        response = client.get(path)
    except httpx.HTTPError:
        return {}
    return response.json() if response.status_code == 200 else {}


def test_orchestrator_and_worker_host_as_two_processes(tmp_path: Path) -> None:
    host_port, orch_port = free_port(), free_port()
    host = start("worker-host", tmp_path, "worker-host", clean_env(
        WORKER_HOST_HTTP_ADDR=f"127.0.0.1:{host_port}", WORKER_HOST_WORKER_COMMAND=standin_command(tmp_path),
        WORKER_HOST_WORKER_STOP_TIMEOUT="5s"))
    orch = start("orchestrator", tmp_path, "orchestrator", clean_env(
        ORCH_HTTP_ADDR=f"127.0.0.1:{orch_port}", ORCH_LAUNCHER="host",
        ORCH_WORKER_HOST_URL=f"http://127.0.0.1:{host_port}", ORCH_GRACE_PERIOD="1s",
        ORCH_RECONCILE_INTERVAL="1h", ORCH_RESTART_BACKOFF_INITIAL="200ms", ORCH_RESTART_BACKOFF_MAX="500ms",
        MEDIA_BACKEND="nginx", MEDIA_HOST="media.test", MEDIA_API_PORT=str(free_port())))
    host_api = httpx.Client(base_url=f"http://127.0.0.1:{host_port}", timeout=10)
    orch_api = httpx.Client(base_url=f"http://127.0.0.1:{orch_port}", timeout=10)

    def stream() -> dict:
        return get(orch_api, f"/v1/streams/{STREAM}")

    def host_workers() -> list[dict]:
        return get(host_api, "/v1/workers").get("workers", [])

    def logs() -> str:
        return "\n".join((tmp_path / f"{n}.log").read_text(errors="replace")[-3000:]
                         for n in ("worker-host", "orchestrator"))

    def died() -> str | None:
        return None if host.poll() is None and orch.poll() is None else f"a process exited:\n{logs()}"

    try:
        assert wait_until(lambda: get(host_api, "/healthz") and get(orch_api, "/healthz"), 30, abort=died)

        # a burst of duplicate ready events -> exactly one worker process, on the host
        with ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(lambda _: orch_api.post("/v1/mediamtx/events/ready", json=EVENT).status_code,
                                  range(4)))
        assert codes == [202] * 4
        assert wait_until(lambda: stream().get("state") == "running", 20, abort=died), logs()
        first = stream()
        (worker,) = host_workers()
        assert (worker["streamId"], worker["runId"], worker["pid"], worker["state"]) == \
            (STREAM, first["runId"], first["pid"], "running")
        # running means spawned: the stand-in records its start (after its JSON) a moment later
        assert wait_for_standin_events(tmp_path, ["start"]), standin_events(tmp_path)
        standin = json.loads((tmp_path / f"{STREAM}.json").read_text())
        assert standin["pid"] == first["pid"]
        assert standin["env"]["WORKER_INPUT_URL"] == f"rtmp://media.test:1935/live/{STREAM}/in"
        assert standin["env"]["WORKER_TARGET_LANG"] == "fr"

        # not-ready: the worker on the host is stopped once the grace period has passed
        assert orch_api.post("/v1/mediamtx/events/not-ready", json=EVENT).status_code == 202
        assert wait_until(lambda: stream().get("state") == "idle", 15, abort=died), logs()
        assert [w["state"] for w in host_workers()] == ["exited"]
        assert standin_events(tmp_path) == ["start", "stop"] and not pid_alive(first["pid"])

        # a new publisher; its worker is killed on the host -> the orchestrator restarts it
        assert orch_api.post("/v1/mediamtx/events/ready", json={**EVENT, "sourceId": "conn-2"}).status_code == 202
        assert wait_until(lambda: stream().get("state") == "running", 20, abort=died), logs()
        second = stream()
        # killed before it recorded its start, it would leave no trace: wait for the start
        assert wait_for_standin_events(tmp_path, ["start", "stop", "start"]), standin_events(tmp_path)
        os.kill(second["pid"], signal.SIGKILL)
        assert wait_until(lambda: stream().get("restarts") == 1 and stream().get("state") == "running", 20,
                          abort=died), logs()
        third = stream()
        assert third["pid"] != second["pid"] and third["failures"] == 1
        assert "SIGKILL" in (third["lastError"] or "")
        running = [w for w in host_workers() if w["state"] == "running"]
        assert [(w["runId"], w["pid"]) for w in running] == [(third["runId"], third["pid"])]
        assert wait_for_standin_events(tmp_path, ["start", "stop", "start", "start"]), standin_events(tmp_path)
        assert list(tmp_path.glob("*.DUPLICATE")) == []

        # stopping the orchestrator stops its worker on the host; the host stays up
        orch.send_signal(signal.SIGTERM)
        assert orch.wait(timeout=30) == 0, logs()
        assert standin_events(tmp_path)[-1] == "stop" and not pid_alive(third["pid"])
        assert get(host_api, "/healthz")["running"] == 0
        host.send_signal(signal.SIGTERM)
        assert host.wait(timeout=30) == 0, logs()

        host_log = (tmp_path / "worker-host.log").read_text()
        started = [json.loads(line) for line in host_log.splitlines()
                   if line.startswith("{") and "stand-in worker started" in line]
        assert started and started[0]["streamId"] == STREAM and started[0]["runId"] == first["runId"]
        assert '"component": "stream-worker-host"' in host_log
    finally:
        host_api.close()
        orch_api.close()
        terminate(orch, timeout=15)
        terminate(host, timeout=15)
