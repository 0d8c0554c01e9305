"""The worker host's HTTP API with real worker processes (the stand-in): one process per stream,
idempotent starts, stops that answer once the process is gone, long polls that end on exit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from livedub.proc.child import pid_alive, wait_until

from .conftest import events, standin_host


def spec(run_id: str = "run-a", stream_id: str = "cam1", **env: str) -> dict:
    return {"streamId": stream_id, "runId": run_id, "inputUrl": f"rtsp://media:8554/live/{stream_id}/in",
            "outputUrl": f"rtmp://media:1935/live/{stream_id}/out", "env": env}


def test_start_is_idempotent_per_run_and_a_new_run_replaces_the_old(serve_host, tmp_path: Path) -> None:
    server = serve_host(standin_host(tmp_path))
    with httpx.Client(base_url=server.url, timeout=15) as client:
        first = client.post("/v1/workers", json=spec("run-a", WORKER_TARGET_LANG="de"))
        assert first.status_code == 201, first.text
        pid_a = first.json()["pid"]
        assert wait_until(lambda: (tmp_path / "cam1.json").exists(), 10)
        worker = json.loads((tmp_path / "cam1.json").read_text())
        assert worker["pid"] == pid_a
        assert worker["env"]["WORKER_TARGET_LANG"] == "de"
        assert worker["env"]["WORKER_INPUT_URL"] == "rtsp://media:8554/live/cam1/in"

        # the orchestrator retrying the same start (a lost answer): same process, 200
        again = client.post("/v1/workers", json=spec("run-a", WORKER_TARGET_LANG="de"))
        assert (again.status_code, again.json()["pid"]) == (200, pid_a)
        # the same run id with another spec is a bug on the caller's side
        assert client.post("/v1/workers", json=spec("run-a", WORKER_TARGET_LANG="fr")).status_code == 409

        # a new run of the stream: the old process is stopped first, never two at once
        second = client.post("/v1/workers", json=spec("run-b"))
        assert second.status_code == 201
        assert second.json()["pid"] != pid_a and not pid_alive(pid_a)
        old = client.get("/v1/workers/cam1", params={"runId": "run-a"}).json()
        assert (old["state"], old["exitCode"]) == ("exited", 0)
        listing = client.get("/v1/workers").json()
        assert [(w["runId"], w["state"]) for w in listing["workers"]] == [("run-b", "running")]
        assert wait_until(lambda: events(tmp_path) == ["start", "stop", "start"], 10), events(tmp_path)
        assert list(tmp_path.glob("*.DUPLICATE")) == []
        assert 'worker_host_workers{state="running"} 1.0' in client.get("/metrics").text


def test_delete_answers_once_the_worker_is_gone(serve_host, tmp_path: Path) -> None:
    server = serve_host(standin_host(tmp_path, "--stop-delay", "0.3"))
    with httpx.Client(base_url=server.url, timeout=15) as client:
        pid = client.post("/v1/workers", json=spec()).json()["pid"]
        assert wait_until(lambda: events(tmp_path) == ["start"], 10)
        stopped = client.delete("/v1/workers/cam1", params={"runId": "run-a"})
        assert stopped.status_code == 200
        assert (stopped.json()["state"], stopped.json()["exitCode"]) == ("exited", 0)
        assert not pid_alive(pid) and events(tmp_path) == ["start", "stop"]
        # idempotent; unknown streams and runs are 404
        assert client.delete("/v1/workers/cam1", params={"runId": "run-a"}).json()["state"] == "exited"
        assert client.delete("/v1/workers/cam1", params={"runId": "run-x"}).status_code == 404
        assert client.delete("/v1/workers/nobody").status_code == 404
        assert client.get("/v1/workers/nobody").status_code == 404


def test_sigkill_when_the_worker_ignores_sigterm(serve_host, tmp_path: Path) -> None:
    server = serve_host(standin_host(tmp_path, "--ignore-term"))
    with httpx.Client(base_url=server.url, timeout=15) as client:
        client.post("/v1/workers", json=spec())
        assert wait_until(lambda: events(tmp_path) == ["start"], 10)
        stopped = client.delete("/v1/workers/cam1").json()
        assert (stopped["exitCode"], stopped["error"]) == (-9, "worker killed by SIGKILL")


def test_long_poll_returns_as_soon_as_the_worker_exits(serve_host, tmp_path: Path) -> None:
    server = serve_host(standin_host(tmp_path, "--exit-after", "0.5", "--exit-code", "7"))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post("/v1/workers", json=spec())
        begun = time.monotonic()
        view = client.get("/v1/workers/cam1", params={"runId": "run-a", "wait": 20}).json()
        assert (view["state"], view["exitCode"], view["error"]) == ("exited", 7, "worker exited with code 7")
        assert time.monotonic() - begun < 10
        # without wait: answers at once with the current state
        assert client.get("/v1/workers/cam1").json()["state"] == "exited"


def test_only_worker_settings_may_be_set_per_stream(serve_host, tmp_path: Path) -> None:
    server = serve_host(standin_host(tmp_path))
    with httpx.Client(base_url=server.url, timeout=15) as client:
        for env in ({"LD_PRELOAD": "/tmp/evil.so"}, {"PATH": "/tmp"}, {"WORKER_HOST_WORKER_COMMAND": "sh"},
                    {"WORKER_INPUT_URL": "rtsp://elsewhere/x"}, {"EGRESS_URL": "rtmp://x/app/key"}):
            response = client.post("/v1/workers", json=spec(**env))
            assert response.status_code == 422, (env, response.text)
        bad = [spec(stream_id="a/b"), spec(run_id="x" * 65), {**spec(), "inputUrl": "file:///etc/passwd"},
               {**spec(), "extra": 1}]
        for body in bad:
            assert client.post("/v1/workers", json=body).status_code == 422, body
        assert client.get("/v1/workers").json()["workers"] == []
        assert not (tmp_path / "events.log").exists()


def test_a_worker_that_cannot_be_run_is_503(serve_host, tmp_path: Path) -> None:
    server = serve_host(standin_host(tmp_path, command=["/nonexistent/livedub-worker"]))
    with httpx.Client(base_url=server.url, timeout=15) as client:
        response = client.post("/v1/workers", json=spec())
        assert response.status_code == 503
        assert "cannot run worker command" in response.json()["error"]
        assert client.get("/healthz").json()["status"] == "ok"


def test_stopping_the_host_stops_its_workers(serve_host, tmp_path: Path) -> None:
    server = serve_host(standin_host(tmp_path))
    with httpx.Client(base_url=server.url, timeout=15) as client:
        pids = [client.post("/v1/workers", json=spec(f"run-{s}", s)).json()["pid"] for s in ("s1", "s2")]
    assert wait_until(lambda: events(tmp_path).count("start") == 2, 10)
    server.stop()
    assert not any(pid_alive(pid) for pid in pids)
    assert events(tmp_path).count("stop") == 2


def test_prometheus_discovers_each_running_worker_by_the_port_it_announced(serve_host, tmp_path: Path) -> None:
    server = serve_host(standin_host(tmp_path, "--metrics-port", "9123"))
    with httpx.Client(base_url=server.url, timeout=15) as client:
        assert client.get("/v1/metrics-targets").json() == []
        assert client.post("/v1/workers", json=spec("run-a")).status_code == 201

        def targets() -> list:
            return client.get("/v1/metrics-targets").json()

        # the port is read from the worker's log line, a moment after the start answered
        assert wait_until(lambda: targets() != [], 10)
        assert targets() == [{"targets": ["127.0.0.1:9123"], "labels": {"stream_id": "cam1", "run_id": "run-a"}}]
        # addressed by the name the request came to (Prometheus asks for http://stream-worker:8090/...)
        named = client.get("/v1/metrics-targets", headers={"Host": "stream-worker:8090"}).json()
        assert named[0]["targets"] == ["stream-worker:9123"]
        client.delete("/v1/workers/cam1")
        assert targets() == []
