"""Milestone A with real processes: ffmpeg publishes H.264/AAC to live/test-stream/in on the embedded
media server (nginx-rtmp), its hook reaches the orchestrator, which starts exactly one worker (the
stand-in); ffprobe reads the stream back. Then the lifecycle: a reconnect within the grace period
keeps the worker, leaving for good stops it after the (shortened) grace period, and a restarted
orchestrator process finds the live stream again through reconciliation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from livedub.config import load_settings
from livedub.config.settings import OrchestratorSettings
from livedub.media.base import HookTarget
from livedub.media.nginx import NginxMediaServer
from livedub.obs.metrics import free_port
from livedub.orchestrator.service import OrchestratorService
from livedub.proc.child import spawn, terminate, wait_until
from tests.unit.orchestrator.conftest import standin_command, standin_events, wait_for_standin_events

from .conftest import ffprobe_streams, requires_media

pytestmark = [pytest.mark.e2e, *requires_media]

STREAM = "test-stream"
GRACE_S = 3.0


def view(client: httpx.Client, stream_id: str = STREAM) -> dict:
    try:
        response = client.get(f"/v1/streams/{stream_id}")
    except httpx.HTTPError:  # not listening (yet)
        return {}
    return response.json() if response.status_code == 200 else {}


def test_publish_starts_one_worker_and_grace_period_governs_the_stop(
        nginx_media: NginxMediaServer, start_publisher, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(OrchestratorSettings, env={}, overrides={
        "http_addr": "127.0.0.1:0", "grace_period": f"{GRACE_S}s", "reconcile_interval": "1h",
        "worker_command": standin_command(tmp_path), "worker_stop_timeout": "5s"})
    service = OrchestratorService(settings, nginx_media)
    running = service.run_in_thread()
    client = httpx.Client(base_url=running.url, timeout=5)
    try:
        nginx_media.start(HookTarget(running.url))
        ingest = nginx_media.ingest(STREAM)
        publisher = start_publisher(ingest.ffmpeg_url, query="lang=fr&mode=mock")

        # ready -> exactly one worker, with the stream's addresses and query settings
        assert wait_until(lambda: view(client).get("state") == "running", 20,
                          abort=lambda: None if publisher.alive() else f"publisher died: {publisher.log()}")
        first = view(client)
        assert first["starts"] == 1 and first["settings"] == {"lang": "fr", "mode": "mock"}
        # running means spawned: the stand-in writes its JSON, then records its start, a moment later
        assert wait_for_standin_events(tmp_path, ["start"]), standin_events(tmp_path)
        worker = json.loads((tmp_path / f"{STREAM}.json").read_text())
        assert worker["pid"] == first["pid"]
        assert worker["env"]["WORKER_INPUT_URL"] == nginx_media.worker_input_url(STREAM)
        assert worker["env"]["WORKER_OUTPUT_URL"] == nginx_media.worker_output_url(STREAM)
        assert worker["env"]["WORKER_TARGET_LANG"] == "fr"

        # Milestone A: the stream reads back, and the media server lists the path as published
        streams = ffprobe_streams(ingest.ffmpeg_url)
        codecs = {s["codec_type"]: s["codec_name"] for s in streams}
        assert codecs == {"video": "h264", "audio": "aac"}, streams
        assert nginx_media.list_live_ingest() == {STREAM}

        # the publisher drops and comes back within the grace period: same worker
        publisher.stop()
        assert wait_until(lambda: view(client).get("graceRemainingSeconds") is not None, 10)
        assert view(client)["state"] == "running"
        publisher = start_publisher(ingest.ffmpeg_url, query="lang=fr&mode=mock")
        assert wait_until(lambda: view(client).get("graceRemainingSeconds") is None
                          and view(client).get("live") is True, 15)
        again = view(client)
        assert (again["runId"], again["pid"], again["starts"], again["state"]) == \
            (first["runId"], first["pid"], 1, "running")

        # leaving for good: the worker stops, but only once the grace period has passed
        publisher.stop()
        assert wait_until(lambda: view(client).get("graceRemainingSeconds") is not None, 10)
        not_ready_seen = time.monotonic()
        assert wait_until(lambda: view(client).get("state") == "idle", GRACE_S + 15)
        assert time.monotonic() - not_ready_seen >= GRACE_S * 0.8
        final = view(client)
        assert (final["starts"], final["stops"], final["failures"], final["pid"]) == (1, 1, 0, None)
        assert standin_events(tmp_path) == ["start", "stop"]
        assert list(tmp_path.glob("*.DUPLICATE")) == []
        metrics = client.get("/metrics").text
        assert f'orchestrator_worker_starts_total{{stream_id="{STREAM}"}} 1.0' in metrics
        assert "orchestrator_active_streams 0.0" in metrics
    finally:
        client.close()
        nginx_media.stop()
        running.stop()


def start_orchestrator_process(tmp_path: Path, media: NginxMediaServer, port: int, name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ORCH_HTTP_ADDR": f"127.0.0.1:{port}", "ORCH_GRACE_PERIOD": "2s",
           "ORCH_RECONCILE_INTERVAL": "500ms", "ORCH_WORKER_COMMAND": standin_command(tmp_path),
           "MEDIA_BACKEND": "nginx", "MEDIA_HOST": "127.0.0.1", "MEDIA_RTMP_PORT": str(media.rtmp_port),
           "MEDIA_API_PORT": str(media.api_port), "LOG_FORMAT": "json"}
    log = (tmp_path / f"{name}.log").open("wb")
    return spawn([sys.executable, "-m", "livedub.cli.main", "orchestrator"], env=env, stdout=log,
                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def test_orchestrator_process_restart_reconciles_with_the_media_server(
        nginx_media: NginxMediaServer, start_publisher, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=5)
    orchestrator = start_orchestrator_process(tmp_path, nginx_media, port, "orchestrator-1")
    try:
        assert wait_until(lambda: _ok(client, "/healthz"), 20,
                          abort=lambda: None if orchestrator.poll() is None else "orchestrator exited")
        nginx_media.start(HookTarget(url))
        start_publisher(nginx_media.ingest(STREAM).ffmpeg_url)
        assert wait_until(lambda: view(client).get("state") == "running", 20)
        first_pid = view(client)["pid"]
        # running means spawned: the stand-in records its start a moment later
        assert wait_for_standin_events(tmp_path, ["start"]), standin_events(tmp_path)

        # SIGTERM: the orchestrator stops its worker and exits cleanly
        orchestrator.send_signal(signal.SIGTERM)
        assert orchestrator.wait(timeout=30) == 0, (tmp_path / "orchestrator-1.log").read_text()[-2000:]
        assert standin_events(tmp_path) == ["start", "stop"]
        assert not _alive(first_pid)

        # a new orchestrator gets no hook event (the publisher never left): reconciliation finds it
        orchestrator = start_orchestrator_process(tmp_path, nginx_media, port, "orchestrator-2")
        assert wait_until(lambda: view(client).get("state") == "running", 20), \
            (tmp_path / "orchestrator-2.log").read_text()[-2000:]
        assert view(client)["lastCorrelationId"] == "reconcile"
        assert wait_for_standin_events(tmp_path, ["start", "stop", "start"]), standin_events(tmp_path)

        def worker_lines() -> list[dict]:  # the worker's output, relayed into the orchestrator's log
            return [json.loads(line) for line in (tmp_path / "orchestrator-2.log").read_text().splitlines()
                    if line.startswith("{") and "stand-in worker started" in line]

        assert wait_until(lambda: bool(worker_lines()), 15), (tmp_path / "orchestrator-2.log").read_text()[-2000:]
        assert worker_lines()[0]["streamId"] == STREAM and worker_lines()[0]["runId"]
    finally:
        client.close()
        nginx_media.stop()
        terminate(orchestrator, timeout=15)


def _ok(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
