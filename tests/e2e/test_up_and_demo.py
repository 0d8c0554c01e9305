"""`livedub up` and `livedub demo` run the way a user runs them: real processes, real clients.

- up: a publisher appears, the orchestrator starts one worker, a viewer reads ``live/<id>/out``;
  the worker is killed mid-stream, the orchestrator restarts it and the output comes back; Ctrl-C
  stops everything and leaves no process behind.
- demo: the README's demo command in bypass mode gives a clean H.264/AAC recording and a summary.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from livedub.media.nginx import NginxMediaServer
from livedub.obs.metrics import free_port
from livedub.proc.child import pid_alive, spawn, wait_until

from .conftest import ffprobe_streams, requires_media

pytestmark = [pytest.mark.e2e, *requires_media]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("WORKER_", "ORCH_", "EGRESS_", "MEDIA_", "LOG_", "LIVEDUB_"))}
    return {**keep, "LIVEDUB_DATA_DIR": str(tmp_path / "var"), "MEDIA_BACKEND": "nginx",
            "MEDIA_RTMP_PORT": str(free_port()), "MEDIA_API_PORT": str(free_port()),
            "MEDIA_HLS_PORT": str(free_port()), "ORCH_HTTP_ADDR": f"127.0.0.1:{free_port()}", **extra}


def _streams(base: str) -> list[dict]:
    try:
        return httpx.get(base + "/v1/streams", timeout=2).json()["streams"]
    except (httpx.HTTPError, ValueError, KeyError):
        return []


def _stream(base: str, stream_id: str) -> dict:
    return next((s for s in _streams(base) if s["streamId"] == stream_id), {})


def test_up_restarts_a_killed_worker_and_ctrl_c_leaves_nothing(tmp_path: Path, start_publisher) -> None:
    env = _env(tmp_path, ORCH_GRACE_PERIOD="2s", ORCH_RESTART_BACKOFF_INITIAL="200ms",
               WORKER_BUFFER_TARGET="1s")
    base = "http://" + env["ORCH_HTTP_ADDR"]
    rtmp = env["MEDIA_RTMP_PORT"]
    with (tmp_path / "up.log").open("wb") as log:
        up = spawn([sys.executable, "-m", "livedub.cli.main", "up", "--no-status"], env=env,
                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: _ready(base), 30,
                          abort=lambda: "livedub up exited" if up.poll() is not None else None), (
            (tmp_path / "up.log").read_text())
        start_publisher(f"rtmp://127.0.0.1:{rtmp}/live//cam1/in", duration_s=60)
        assert wait_until(lambda: _stream(base, "cam1").get("state") == "running", 30)
        first_pid = _stream(base, "cam1")["pid"]
        out_url = f"rtmp://127.0.0.1:{rtmp}/live//cam1/out"
        media = NginxMediaServer(rtmp_port=int(rtmp), api_port=int(env["MEDIA_API_PORT"]))  # a reader of its /stat
        assert wait_until(lambda: media.path_is_live("live/cam1/out"), 30)
        kinds = {s["codec_type"]: s["codec_name"] for s in ffprobe_streams(out_url)}
        assert kinds == {"video": "h264", "audio": "aac"}
        # a browser's way in: HLS of the output, announced by `livedub up`
        hls = f"http://127.0.0.1:{env['MEDIA_HLS_PORT']}/hls"
        assert f"{hls}/test-stream/out/index.m3u8" in (tmp_path / "up.log").read_text()
        playlist = f"{hls}/cam1/out/index.m3u8"
        assert wait_until(lambda: bool(hls_segments(playlist)), 20, interval=0.5), "no HLS segments for live/cam1/out"
        segments = hls_segments(playlist)
        segment = tmp_path / "segment.ts"
        segment.write_bytes(httpx.get(f"{hls}/cam1/out/{segments[-1]}", timeout=5).content)
        assert {s["codec_type"]: s["codec_name"] for s in ffprobe_streams(str(segment))} == kinds

        os.kill(first_pid, signal.SIGKILL)  # a crash mid-stream
        assert wait_until(lambda: _stream(base, "cam1").get("pid") not in (None, first_pid)
                          and _stream(base, "cam1").get("state") == "running", 30), _stream(base, "cam1")
        assert _stream(base, "cam1")["restarts"] >= 1
        assert wait_until(lambda: media.path_is_live("live/cam1/out"), 30)
        kinds = {s["codec_type"]: s["codec_name"] for s in ffprobe_streams(out_url)}
        assert kinds == {"video": "h264", "audio": "aac"}, "the output did not come back after the restart"
        second_pid = _stream(base, "cam1")["pid"]
    finally:
        up.send_signal(signal.SIGINT)  # Ctrl-C
        code = up.wait(timeout=60)
    assert code == 0, (tmp_path / "up.log").read_text()[-3000:]
    assert not pid_alive(second_pid), "a worker outlived `livedub up`"
    leftovers = subprocess.run(["pgrep", "-f", f"listen {rtmp}|{tmp_path}"], capture_output=True, text=True,
                               check=False)
    assert leftovers.stdout.strip() == "", leftovers.stdout


def hls_segments(playlist_url: str) -> list[str]:
    """The media segments an HLS playlist lists now ([] while it is not there yet)."""
    try:
        answer = httpx.get(playlist_url, timeout=2)
    except httpx.HTTPError:
        return []
    if answer.status_code != 200 or not answer.text.startswith("#EXTM3U"):
        return []
    return [line for line in answer.text.splitlines() if line and not line.startswith("#")]


def _ready(base: str) -> bool:
    try:
        return httpx.get(base + "/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_demo_command_in_bypass_mode_records_a_clean_stream(tmp_path: Path) -> None:
    env = _env(tmp_path, WORKER_BUFFER_TARGET="1s")
    result = subprocess.run([sys.executable, "-m", "livedub.cli.main", "demo", "--sts-mode", "bypass"],
                            env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "var" / "demo" / "summary.json").read_text())
    out, clip = summary["output"], summary["input"]
    assert (out["video_codec"], out["audio_codec"], out["decode_errors"]) == ("h264", "aac", 0)
    # the worker joins the live input at a keyframe (GOP 2 s), so up to ~3 s of the start may be missing
    assert out["video_seconds"] > clip["video_seconds"] - 3.5
    assert abs(out["audio_seconds"] - out["video_seconds"]) < 0.2
    assert abs(summary["avOffsetChangeMs"]) <= 40
    assert summary["workerAddedDelayMs"] == pytest.approx(1000, abs=100)
    assert summary["worker"]["restarts"] == 0
    assert "demo summary" in result.stdout
