"""An operator can walk away: `livedub up` heals itself when its own children die.

One `livedub up` (nginx backend, bypass workers) is shared by the scenarios here; each uses its own
stream id, a publisher that reconnects like OBS and a viewer that reconnects like a player:

- the media server is SIGKILLed: `/readyz` is non-200 while it is down, `up` restarts it, and the
  reconnecting publisher's output reaches a viewer again within 10 s;
- the orchestrator is SIGKILLed (its workers die with it): `up` restarts it, reconciliation starts
  the worker again, output is back within 10 s, with exactly one worker process;
- a second publisher on a live stream id is refused and the viewer sees no gap: the worker, its
  record and the real publisher's sourceId stay;
- a publisher that drops and is back within the grace period keeps its worker (same PID, no
  restart) and a viewer that stayed connected sees less than 2 s without video.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from livedub.media.nginx import NginxMediaServer
from livedub.proc.child import spawn, terminate, wait_until

from .conftest import publisher_command, requires_media
from .test_up_and_demo import _env

pytestmark = [pytest.mark.e2e, *requires_media]

RECOVERY_S = 10.0  # the promise: output back within 10 s


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log_path: Path
    data_dir: Path

    @property
    def base(self) -> str:
        return "http://" + self.env["ORCH_HTTP_ADDR"]

    @property
    def rtmp_port(self) -> int:
        return int(self.env["MEDIA_RTMP_PORT"])

    @property
    def media(self) -> NginxMediaServer:  # a reader of its /stat page, never started
        return NginxMediaServer(rtmp_port=self.rtmp_port, api_port=int(self.env["MEDIA_API_PORT"]))

    def url(self, stream_id: str, leg: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live//{stream_id}/{leg}"

    def readyz(self) -> int:
        try:
            return httpx.get(self.base + "/readyz", timeout=1).status_code
        except httpx.HTTPError:
            return 0

    def stream(self, stream_id: str) -> dict:
        try:
            return httpx.get(f"{self.base}/v1/streams/{stream_id}", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return {}

    def children(self, needle: str) -> list[int]:
        """Pids of `livedub up`'s direct children whose command line contains ``needle``."""
        return [pid for pid in _children(self.process.pid) if needle in _cmdline(pid)]

    def workers(self, stream_id: str) -> list[int]:
        """Every live worker process of ``stream_id`` of this stack, whoever its parent is now."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
                title = (entry / "cmdline").read_bytes().split(b"\0")[0]
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            # its title names the stream (a standby worker learns its stream after it started)
            if state != "Z" and title.startswith(f"livedub worker {stream_id} run ".encode()) \
                    and f"LIVEDUB_DATA_DIR={self.data_dir}".encode() in environ:
                found.append(int(entry.name))
        return found

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _children(pid: int) -> list[int]:
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class ReconnectingPublisher:
    """ffmpeg publishing in real time, started again 0.5 s after it ends (like OBS's auto-reconnect)."""

    def __init__(self, url: str, log_path: Path) -> None:
        self.url = url
        self.log_path = log_path
        self.connections = 0
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True, name="reconnecting-publisher")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock, self.log_path.open("ab") as log:
                if self._stop.is_set():
                    return
                self._proc = spawn(publisher_command(self.url, duration_s=120), stdout=log, stderr=log,
                                   stdin=subprocess.DEVNULL)
                self.connections += 1
            self._proc.wait()
            self._stop.wait(0.5)  # the encoder's reconnect delay

    def drop(self) -> None:
        """The encoder's connection dies at once (SIGKILL: no clean RTMP close); it reconnects as usual."""
        with self._lock:
            if self._proc is not None:
                self._proc.kill()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self._proc is not None:
                terminate(self._proc, timeout=5)
        self._thread.join(10)


def viewer_sees_output(url: str, timeout_s: float = 6.0) -> bool:
    """A player connects to ``url`` and decodes one video frame (bounded: -rw_timeout and a deadline)."""
    try:
        result = subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-rw_timeout", "3000000",
             "-analyzeduration", "1000000", "-i", url, "-map", "0:v:0", "-frames:v", "1", "-f", "null", "-"],
            check=False, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def wait_for_viewer(url: str, deadline: float) -> float | None:
    """Reconnect like a player until a frame arrives; the monotonic time it did, or None past ``deadline``."""
    while time.monotonic() < deadline:
        if viewer_sees_output(url, timeout_s=max(1.0, min(6.0, deadline - time.monotonic()))):
            return time.monotonic()
    return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("up-heals")
    env = _env(tmp_path, WORKER_STS_MODE="bypass", WORKER_BUFFER_TARGET="1s", ORCH_GRACE_PERIOD="2s",
               ORCH_RESTART_BACKOFF_INITIAL="200ms", ORCH_RESTART_BACKOFF_MAX="1s")
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        up = spawn([sys.executable, "-m", "livedub.cli.main", "up", "--no-status"], env=env,
                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    stack = Stack(up, env, log_path, tmp_path / "var")
    try:
        assert wait_until(lambda: stack.readyz() == 200, 40,
                          abort=lambda: "livedub up exited" if up.poll() is not None else None), stack.log()
        yield stack
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=60)
    assert code == 0, stack.log()


def start_streaming(stack: Stack, stream_id: str, tmp_path: Path) -> ReconnectingPublisher:
    publisher = ReconnectingPublisher(stack.url(stream_id, "in"), tmp_path / f"publisher-{stream_id}.log")
    assert wait_until(lambda: stack.stream(stream_id).get("state") == "running", 30), stack.stream(stream_id)
    assert wait_for_viewer(stack.url(stream_id, "out"), time.monotonic() + 30) is not None, stack.log()
    return publisher


def test_a_killed_media_server_is_restarted_and_not_ready_while_down(stack: Stack, tmp_path: Path) -> None:
    publisher = start_streaming(stack, "heal-media", tmp_path)
    try:
        (nginx_pid,) = stack.children("nginx")
        connections = publisher.connections
        os.kill(nginx_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        assert wait_until(lambda: stack.readyz() == 503, 2, interval=0.05), "readyz stayed 200 with nginx dead"
        back_at = wait_for_viewer(stack.url("heal-media", "out"), killed_at + RECOVERY_S)
        assert back_at is not None, (stack.stream("heal-media"), stack.log())
        assert publisher.connections > connections  # it reconnected: the old session died with nginx
        assert stack.readyz() == 200
        new_nginx = stack.children("nginx")
        assert len(new_nginx) == 1 and new_nginx != [nginx_pid]
        assert len(stack.workers("heal-media")) == 1
        print(f"media server SIGKILL -> viewer sees output again after {back_at - killed_at:.1f}s")
    finally:
        publisher.stop()


def test_a_killed_orchestrator_is_restarted_with_exactly_one_worker(stack: Stack, tmp_path: Path) -> None:
    publisher = start_streaming(stack, "heal-orch", tmp_path)
    try:
        (orch_pid,) = stack.children("orchestrator")
        (old_worker,) = stack.workers("heal-orch")
        os.kill(orch_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        # the old worker dies with its orchestrator (parent-death signal); until it has, a viewer
        # could still be watching its last delayed second
        assert wait_until(lambda: old_worker not in stack.workers("heal-orch"), RECOVERY_S), "worker outlived it"
        back_at = wait_for_viewer(stack.url("heal-orch", "out"), killed_at + RECOVERY_S)
        assert back_at is not None, (stack.stream("heal-orch"), stack.log())
        assert publisher.connections == 1  # nginx was untouched: the publisher never noticed
        new_orch = stack.children("orchestrator")
        assert len(new_orch) == 1 and new_orch != [orch_pid]
        assert wait_until(lambda: stack.stream("heal-orch").get("state") == "running", 5)
        workers = stack.workers("heal-orch")
        assert workers == [stack.stream("heal-orch")["pid"]] and workers != [old_worker], workers
        print(f"orchestrator SIGKILL -> viewer sees output again after {back_at - killed_at:.1f}s")
    finally:
        publisher.stop()


def start_recording(url: str, seconds: float, recording: Path, min_bytes: int) -> subprocess.Popen[bytes]:
    """A viewer that records ``seconds`` of ``url`` codec-copy (giving up after 3 s of nothing, as a
    player does), returned once it has written ``min_bytes``."""
    viewer = spawn(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-rw_timeout", "3000000",
                    "-i", url, "-t", f"{seconds:g}", "-c", "copy", "-y", str(recording)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    if not wait_until(lambda: recording.exists() and recording.stat().st_size > min_bytes, 15):
        terminate(viewer, timeout=5)
        raise AssertionError(f"the viewer of {url} recorded nothing within 15 s")
    return viewer


def test_a_refused_duplicate_publisher_causes_no_gap_and_keeps_the_record(stack: Stack, tmp_path: Path) -> None:
    publisher = start_streaming(stack, "dup", tmp_path)
    try:
        before = stack.stream("dup")
        recording = tmp_path / "viewer.flv"
        viewer = start_recording(stack.url("dup", "out"), 8, recording, min_bytes=10_000)
        try:
            intruder = subprocess.run(publisher_command(stack.url("dup", "in"), duration_s=2), check=False,
                                      capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
            assert intruder.returncode != 0, "a second publisher was accepted on a live stream id"
            # grace is 2 s: had the intruder's end stopped the worker, the viewer would lose it well before 8 s
            assert viewer.wait(timeout=30) == 0
        finally:
            terminate(viewer, timeout=5)
        shown = json.loads(subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(recording)],
            check=True, capture_output=True, text=True, timeout=30).stdout)
        assert float(shown["format"]["duration"]) >= 7.5, shown
        after = stack.stream("dup")
        assert (after["state"], after["pid"], after["sourceId"], after["lastCorrelationId"]) == (
            "running", before["pid"], before["sourceId"], before["lastCorrelationId"])
        assert publisher.connections == 1
    finally:
        publisher.stop()


@pytest.mark.parametrize("key", ["../in", "a b/in", "\u00fcn\u00ef/in", "k" * 297 + "/in"],
                         ids=["dotdot", "space", "unicode", "300-chars"])
def test_invalid_stream_keys_are_refused_at_publish_time_and_leave_no_record(stack: Stack, key: str) -> None:
    command = publisher_command(f"rtmp://127.0.0.1:{stack.rtmp_port}", duration_s=2)
    command[-1:-1] = ["-rtmp_app", "live", "-rtmp_playpath", key]  # the key exactly as given, no URL parsing
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode != 0, f"nginx accepted the publisher of {key[:20]!r}"
    published = stack.media.stat_xml()
    assert key[:20] not in published and "k" * 20 not in published
    streams = httpx.get(stack.base + "/v1/streams", timeout=2).json()["streams"]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", s["streamId"]) for s in streams), streams
    state = stack.data_dir / "orchestrator" / "streams.json"
    if state.exists():
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", s) for s in json.loads(state.read_text())["streams"])
    if key != "../in":  # that one nginx-rtmp's HLS writer refuses itself ("bad stream name"), before on_publish
        assert "refused a publisher: the stream key" in stack.log()


def test_hook_calls_need_the_per_run_token_and_json_and_the_token_is_never_logged(stack: Stack) -> None:
    event = {"path": "live/intruder/in", "query": "", "sourceType": "rtmpConn", "sourceId": "x"}
    hook = stack.base + "/v1/mediamtx/events/ready"
    assert httpx.post(hook, json=event, timeout=5).status_code == 401
    assert httpx.post(hook, json=event, headers={"Authorization": "Bearer guess"}, timeout=5).status_code == 401
    (orch_pid,) = stack.children("orchestrator")
    environ = Path(f"/proc/{orch_pid}/environ").read_bytes().split(b"\0")
    token = next(v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"ORCH_HOOK_TOKEN="))
    assert len(token) >= 32  # generated by `livedub up` for this run
    auth = {"Authorization": f"Bearer {token}"}
    text = httpx.post(hook, content=json.dumps(event), headers={**auth, "Content-Type": "text/plain"}, timeout=5)
    assert text.status_code == 415
    assert stack.stream("intruder") == {"error": "unknown stream 'intruder'", "correlationId": ""}
    seen = stack.log() + (stack.data_dir / "logs" / "orchestrator.log").read_text(errors="replace")
    seen += httpx.get(stack.base + "/v1/streams", timeout=5).text + httpx.get(stack.base + "/metrics", timeout=5).text
    assert token not in seen
    assert "ORCH_HOOK_TOKEN" not in _cmdline(orch_pid)


def test_the_workers_own_reason_for_refusing_an_input_reaches_the_api(stack: Stack, tmp_path: Path) -> None:
    command = publisher_command(stack.url("mp3", "in"), duration_s=30)
    at = command.index("aac")
    command[at - 1:at + 1] = ["-c:a", "libmp3lame"]
    command[command.index("48000", at)] = "44100"  # FLV carries MP3 at 44.1 kHz
    with (tmp_path / "mp3.log").open("wb") as log:
        publisher = spawn(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: stack.stream("mp3").get("state") == "degraded", 30), stack.stream("mp3")
        reason = stack.stream("mp3")["degradedReason"]
        assert "input audio is MP3; the worker needs AAC" in reason, reason
    finally:
        terminate(publisher, timeout=5)


def video_packet_times(recording: Path) -> list[float]:
    shown = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
                            "-of", "csv=p=0", str(recording)], check=True, capture_output=True, text=True, timeout=30)
    return sorted(float(line) for line in shown.stdout.split() if line.strip() not in ("", "N/A"))


def test_a_publisher_back_within_grace_keeps_its_worker_and_the_viewer_barely_notices(
        stack: Stack, tmp_path: Path) -> None:
    publisher = start_streaming(stack, "back", tmp_path)
    try:
        before = stack.stream("back")
        recording = tmp_path / "viewer.flv"
        # a viewer connected across the drop, as a player stays connected
        viewer = start_recording(stack.url("back", "out"), 10, recording, min_bytes=20_000)
        try:
            publisher.drop()  # the encoder's connection dies; it reconnects 0.5 s later (grace is 2 s)
            assert wait_until(lambda: publisher.connections == 2, 10)
            assert viewer.wait(timeout=40) == 0, viewer.stderr.read() if viewer.stderr else ""
        finally:
            terminate(viewer, timeout=5)
        times = video_packet_times(recording)
        assert times[-1] - times[0] >= 9.0, (times[0], times[-1])
        gap = max(b - a for a, b in itertools.pairwise(times))
        assert gap < 2.0, f"the viewer saw {gap:.2f}s without video"
        after = stack.stream("back")
        assert (after["state"], after["pid"], after["restarts"]) == ("running", before["pid"], before["restarts"])
        assert stack.workers("back") == [before["pid"]]
        print(f"publisher dropped and back: longest gap between video frames for the viewer {gap:.2f}s, same worker")
    finally:
        publisher.stop()
