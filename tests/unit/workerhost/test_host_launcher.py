"""HostLauncher, the orchestrator's client of the worker host: the Launcher contract over HTTP
(every handle reports its exit exactly once), against a real host in-process and against a host
that is down, restarted or vanishes mid-run."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import httpx
import pytest

from livedub.config.settings import Launcher as LauncherKind
from livedub.config.stream_query import StreamSettings
from livedub.obs.metrics import free_port
from livedub.orchestrator.host_launcher import HostLauncher, HostRefused, HostUnreachable
from livedub.orchestrator.service import OrchestratorService
from livedub.proc.child import pid_alive, wait_until
from livedub.proc.launcher import LaunchError, WorkerExit, WorkerSpec
from tests.unit.orchestrator.conftest import FakeMedia, orch_settings

from .conftest import events, standin_host

SPEC = WorkerSpec("cam1", "run-1", "rtsp://media:8554/live/cam1/in", "rtmp://media:1935/live/cam1/out",
                  StreamSettings({"target_lang": "de"}))


class Exits:
    def __init__(self) -> None:
        self.items: list[WorkerExit] = []
        self.event = threading.Event()

    def __call__(self, exit_: WorkerExit) -> None:
        self.items.append(exit_)
        self.event.set()


def test_start_stop_report_the_exit_exactly_once(serve_host, tmp_path: Path) -> None:
    server = serve_host(standin_host(tmp_path))

    async def scenario() -> tuple[int | None, Exits]:
        launcher = HostLauncher(server.url, stop_timeout=2)
        exits = Exits()
        handle = await launcher.start(SPEC, exits)
        again = await launcher.start(SPEC, Exits())  # a retried start: the same process
        assert again.pid == handle.pid
        await asyncio.to_thread(wait_until, lambda: (tmp_path / "cam1.json").exists(), 10)
        await launcher.stop(handle)
        await launcher.stop(handle)  # a second stop reports nothing more
        await asyncio.sleep(0)
        await launcher.close()
        return handle.pid, exits

    pid, exits = asyncio.run(scenario())
    assert exits.items == [WorkerExit("cam1", "run-1", 0, None)]
    worker = json.loads((tmp_path / "cam1.json").read_text())
    assert worker["pid"] == pid and worker["env"]["WORKER_TARGET_LANG"] == "de"
    assert not pid_alive(pid) and events(tmp_path) == ["start", "stop"]


def test_a_crash_on_the_host_is_reported_by_the_long_poll(serve_host, tmp_path: Path) -> None:
    server = serve_host(standin_host(tmp_path, "--exit-after", "0.3", "--exit-code", "9"))

    async def scenario() -> Exits:
        launcher = HostLauncher(server.url, poll_wait=5)
        exits = Exits()
        await launcher.start(SPEC, exits)
        assert await asyncio.to_thread(exits.event.wait, 15)
        await launcher.close()
        return exits

    assert asyncio.run(scenario()).items == [WorkerExit("cam1", "run-1", 9, "worker exited with code 9")]


def test_an_unreachable_host_is_a_launch_error_not_a_crash() -> None:
    async def scenario() -> None:
        launcher = HostLauncher(f"http://127.0.0.1:{free_port()}", retry_delays=(0.01, 0.01))
        with pytest.raises(HostUnreachable, match=r"worker host http://127\.0\.0\.1:\d+ unreachable: Connect"):
            await launcher.start(SPEC, Exits())
        await launcher.close()

    asyncio.run(scenario())
    assert issubclass(HostUnreachable, LaunchError)


def scripted_host(on_poll: str) -> httpx.MockTransport:
    """Answers a start; then polls either fail to connect (``down``) or get 404 (``restarted``)."""
    attempts = {"POST": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            attempts["POST"] += 1
            if attempts["POST"] == 1:  # the first try is lost on the way: the start is retried
                raise httpx.ConnectError("connection refused")
            return httpx.Response(201, json={"streamId": "cam1", "runId": "run-1", "state": "running", "pid": 4242,
                                             "startedAt": 1.0})
        if on_poll == "down":
            raise httpx.ConnectError("connection refused")
        return httpx.Response(404, json={"error": "no worker for run run-1 of stream 'cam1'"})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(("on_poll", "error"), [
    ("down", "worker host unreachable for"),
    ("restarted", "no longer knows this worker"),
])
def test_a_worker_whose_host_is_gone_is_reported_lost_once(on_poll: str, error: str) -> None:
    async def scenario() -> Exits:
        launcher = HostLauncher("http://stream-worker:8090", lost_after=0.3, retry_delays=(0.01,),
                                transport=scripted_host(on_poll))
        exits = Exits()
        handle = await launcher.start(SPEC, exits)
        assert handle.pid == 4242
        assert await asyncio.to_thread(exits.event.wait, 10)
        await launcher.stop(handle)  # already reported: nothing more
        await launcher.close()
        return exits

    (exit_,) = asyncio.run(scenario()).items
    assert (exit_.stream_id, exit_.run_id, exit_.exit_code) == ("cam1", "run-1", None)
    assert exit_.error is not None and error in exit_.error


def test_a_host_error_answer_is_a_launch_error_with_its_message() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(503, json={"error": "cannot run worker command"}))

    async def scenario() -> None:
        launcher = HostLauncher("http://stream-worker:8090", transport=transport)
        with pytest.raises(HostRefused, match="503.*cannot run worker command"):
            await launcher.start(SPEC, Exits())
        await launcher.close()

    asyncio.run(scenario())


def test_orchestrator_with_an_unreachable_host_puts_the_stream_in_backoff(serve) -> None:  # type: ignore[no-untyped-def]
    settings = orch_settings(launcher=LauncherKind.host.value, worker_host_url=f"http://127.0.0.1:{free_port()}",
                             restart_backoff_initial="10s", restart_backoff_max="10s")
    running = serve(OrchestratorService(settings, FakeMedia(), worker_env={}))
    with httpx.Client(base_url=running.url, timeout=10) as client:
        event = {"path": "live/cam1/in", "query": "", "sourceType": "rtmpConn", "sourceId": "1"}
        assert client.post("/v1/mediamtx/events/ready", json=event).status_code == 202
        assert wait_until(lambda: client.get("/v1/streams/cam1").json()["state"] == "backoff", 15)
        view = client.get("/v1/streams/cam1").json()
        assert "unreachable" in view["lastError"] and view["failures"] == 1
        assert client.get("/healthz").status_code == 200


def test_orchestrator_restart_orphans_are_stopped_on_the_host(serve, serve_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Workers left on the host by an earlier orchestrator are stopped by the next one's sweep."""
    host = serve_host(standin_host(tmp_path))
    with httpx.Client(base_url=host.url, timeout=15) as client:
        orphan_pid = client.post("/v1/workers", json={
            "streamId": "gone", "runId": "old-run", "inputUrl": "rtsp://m/live/gone/in",
            "outputUrl": "rtmp://m/live/gone/out"}).json()["pid"]
        settings = orch_settings(launcher=LauncherKind.host.value, worker_host_url=host.url)
        serve(OrchestratorService(settings, FakeMedia(), worker_env={}))
        assert wait_until(lambda: client.get("/v1/workers/gone").json()["state"] == "exited", 15)
    assert not pid_alive(orphan_pid) and events(tmp_path) == ["start", "stop"]


class HeldStartAnswers(httpx.AsyncBaseTransport):
    """The real host over HTTP, except that the answer to a start (POST) is held until released: the
    host already runs the worker, the orchestrator does not know it yet."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.start_answered = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.method == "POST":
            await response.aread()
            self.start_answered.set()
            await self.release.wait()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def test_the_orphan_sweep_spares_a_run_whose_start_answer_is_in_flight(serve_host, tmp_path: Path) -> None:
    """At orchestrator start the sweep and the first reconciliation run concurrently: a run of the new
    orchestrator listed by the host before its start answer arrived is not an orphan."""
    server = serve_host(standin_host(tmp_path))

    async def scenario() -> tuple[str, int | None, Exits]:
        transport = HeldStartAnswers()
        launcher = HostLauncher(server.url, stop_timeout=2, transport=transport)
        exits = Exits()
        start = asyncio.create_task(launcher.start(SPEC, exits))
        await asyncio.wait_for(transport.start_answered.wait(), 15)  # run-1 runs on the host
        await asyncio.wait_for(launcher.start_sweep(), 15)  # lists run-1 before its handle exists
        transport.release.set()
        handle = await asyncio.wait_for(start, 15)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            view = (await client.get("/v1/workers/cam1", params={"runId": "run-1"})).json()
        await launcher.stop(handle)
        await launcher.close()
        return view["state"], handle.pid, exits

    state, pid, exits = asyncio.run(scenario())
    assert state == "running", "the sweep stopped a run of this orchestrator"
    assert exits.items == [WorkerExit("cam1", "run-1", 0, None)]  # ended by our stop, reported once
    assert pid is not None and not pid_alive(pid)
