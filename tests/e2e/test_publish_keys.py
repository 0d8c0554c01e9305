"""Per-stream publish keys with real processes: nginx-rtmp, its hook bridge, the orchestrator with
ORCH_PUBLISH_KEYS_FILE, ffmpeg publishers. A wrong or missing key is refused at publish time (ffmpeg
fails, no record exists); the right one publishes and gets its worker (the stand-in)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from livedub.config import load_settings
from livedub.config.settings import OrchestratorSettings
from livedub.media.base import HookTarget
from livedub.media.nginx import NginxMediaServer
from livedub.orchestrator.service import OrchestratorService
from livedub.proc.child import wait_until
from tests.unit.orchestrator.conftest import standin_command

from .conftest import publish_once, requires_media

pytestmark = [pytest.mark.e2e, *requires_media]

KEY = "b7e1c0ffee2a4d8e9f10"


def test_only_a_publisher_with_its_stream_key_gets_in(nginx_media: NginxMediaServer, start_publisher,
                                                      tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "publish-keys"
    keys.write_text(f"# stream key\ncam1 {KEY}\n")
    settings = load_settings(OrchestratorSettings, env={}, overrides={
        "http_addr": "127.0.0.1:0", "reconcile_interval": "1h", "worker_command": standin_command(tmp_path),
        "worker_stop_timeout": "5s", "publish_keys_file": str(keys)})
    running = OrchestratorService(settings, nginx_media).run_in_thread()
    client = httpx.Client(base_url=running.url, timeout=5)
    try:
        nginx_media.start(HookTarget(running.url))
        url = nginx_media.ingest("cam1").ffmpeg_url
        for query in ("", "?key=not-the-key-000000", f"?key={KEY}x"):
            refused = publish_once(url + query)
            assert refused.returncode != 0, f"published with {query or 'no key'}"
        assert client.get("/v1/streams/cam1").status_code == 404  # nothing recorded for them
        other = publish_once(nginx_media.ingest("cam2").ffmpeg_url + f"?key={KEY}")  # cam1's key, not cam2's
        assert other.returncode != 0
        publisher = start_publisher(url, query=f"key={KEY}")
        assert wait_until(lambda: client.get("/v1/streams/cam1").json().get("state") == "running", 20,
                          abort=lambda: None if publisher.alive() else f"publisher died: {publisher.log()}")
        metrics = client.get("/metrics").text
        assert 'orchestrator_hook_events_total{event="ready",result="refused_key"} 4.0' in metrics, metrics
    finally:
        client.close()
        nginx_media.stop()
        running.stop()
