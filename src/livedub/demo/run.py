"""`livedub demo`: the whole system on a bundled clip, end to end, as a user would run it.

1. build the clip (real speech over music, from Debian packages);  2. start the local stack;
3. record ``live/demo/out`` once the worker runs;  4. publish the clip to ``live/demo/in`` in real
time;  5. wait for the output to end;  6. analyse what a viewer got and summarise.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livedub.demo.analyse import StreamReport, analyse
from livedub.demo.clip import DemoClip
from livedub.proc.child import spawn, terminate, wait_until
from livedub.stack import LocalStack

STREAM_ID = "demo"


class DemoError(RuntimeError):
    pass


@dataclass(frozen=True)
class DemoResult:
    recording: Path
    input: StreamReport
    output: StreamReport
    first_output_after_s: float
    worker_delay_ms: float | None
    worker: dict[str, Any]
    run_manifest: dict[str, Any] | None

    def summary(self) -> dict[str, Any]:
        manifest = self.run_manifest or {}
        return {
            "recording": str(self.recording),
            "input": self.input.as_dict(),
            "output": self.output.as_dict(),
            "outputLiveAfterSeconds": round(self.first_output_after_s, 2),
            "workerAddedDelayMs": self.worker_delay_ms,
            "durationDeltaSeconds": round(self.output.video_seconds - self.input.video_seconds, 3),
            "avOffsetChangeMs": round(self.output.av_start_offset_ms - self.input.av_start_offset_ms, 1),
            "worker": {k: self.worker.get(k) for k in ("state", "restarts", "failures", "lastExitCode", "settings")},
            "fragments": manifest.get("fragments") or manifest.get("stats"),
        }


def worker_reported_delay_ms(log_dir: Path) -> float | None:
    """The delay the worker says it adds (its "output delay" log line, relayed by the orchestrator)."""
    log_file = log_dir / "orchestrator.log"
    if not log_file.exists():
        return None
    found = None
    for line in log_file.read_text(errors="replace").splitlines():
        if '"output delay"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("streamId") == STREAM_ID and "addedDelayMs" in record:
            found = float(record["addedDelayMs"])
    return found


def _latest_manifest(data_dir: Path) -> dict[str, Any] | None:
    runs = sorted((data_dir / "streams" / STREAM_ID / "runs").glob("*/manifest.json"),
                  key=lambda p: p.stat().st_mtime)
    if not runs:
        return None
    try:
        return json.loads(runs[-1].read_text())
    except (OSError, ValueError):
        return None


def run_demo(stack: LocalStack, clip: DemoClip, out_dir: Path, data_dir: Path,
             status: Callable[[str], None] = lambda _msg: None, start_timeout: float = 60.0) -> DemoResult:
    """Run the demo on a started ``stack``; returns what the viewer got. Raises DemoError on failure."""
    assert stack.media is not None
    media = stack.media
    out_dir.mkdir(parents=True, exist_ok=True)
    recording_flv = out_dir / "demo-out.flv"
    recording = out_dir / "demo-out.mp4"
    for stale in (recording_flv, recording):
        stale.unlink(missing_ok=True)
    logs = out_dir / "logs"
    logs.mkdir(exist_ok=True)
    ingest, output = media.ingest(STREAM_ID), media.output(STREAM_ID)

    status(f"publishing {clip.path.name} ({clip.duration:.1f}s) to live/{STREAM_ID}/in")
    with (logs / "publisher.log").open("wb") as log_file:
        publisher = spawn(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-re", "-i", str(clip.path),
                           "-c", "copy", "-f", "flv", ingest.ffmpeg_url], stdout=log_file, stderr=log_file,
                          stdin=subprocess.DEVNULL)
    published_at = time.monotonic()
    recorder = None
    try:
        def worker_running() -> bool:
            return any(s.get("streamId") == STREAM_ID and s.get("state") == "running" for s in stack.streams())

        if not wait_until(worker_running, start_timeout, interval=0.2,
                          abort=lambda: "the publisher stopped early" if publisher.poll() not in (None, 0) else None):
            raise DemoError(f"no worker ran for live/{STREAM_ID}/in within {start_timeout:g}s "
                            f"(see {stack.log_dir}/orchestrator.log)")
        out_path = f"live/{STREAM_ID}/out"
        if not wait_until(lambda: media.path_is_live(out_path), start_timeout, interval=0.1):
            raise DemoError(f"the worker never published {out_path} within {start_timeout:g}s "
                            f"(see {stack.log_dir}/orchestrator.log)")
        first_output_after = time.monotonic() - published_at
        status(f"{out_path} is live {first_output_after:.1f}s after publishing started; recording it")
        with (logs / "recorder.log").open("wb") as log_file:
            # rw_timeout: give up once the output has been silent for 15 s (the worker ended)
            recorder = spawn(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-rw_timeout", "15000000",
                              "-i", output.ffmpeg_url, "-c", "copy", "-f", "flv", "-y", str(recording_flv)],
                             stdout=log_file, stderr=log_file, stdin=subprocess.DEVNULL)
        publisher.wait(timeout=clip.duration + 60)
        status("publisher finished; waiting for the worker to drain its output")

        def worker_done() -> bool:
            return not worker_running()

        if not wait_until(worker_done, 60.0, interval=0.2):
            status("the worker did not finish within 60s; stopping the recording")
        # the media server disconnects readers when the worker stops publishing: the recorder
        # then closes its file by itself; SIGINT only if it has not within a bound
        try:
            recorder.wait(timeout=20)
        except subprocess.TimeoutExpired:
            status("the recorder did not end with the stream; stopping it")
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=10)
    finally:
        terminate(publisher, timeout=5)
        if recorder is not None:
            terminate(recorder, timeout=10)
    if not recording_flv.exists():
        raise DemoError("nothing was recorded")
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(recording_flv),
                    "-c", "copy", "-movflags", "+faststart", str(recording)], check=True, timeout=120)
    recording_flv.unlink(missing_ok=True)
    worker = next((s for s in stack.streams() if s.get("streamId") == STREAM_ID), {})
    return DemoResult(recording=recording, input=analyse(clip.path), output=analyse(recording),
                      first_output_after_s=first_output_after, worker=worker,
                      worker_delay_ms=worker_reported_delay_ms(stack.log_dir),
                      run_manifest=_latest_manifest(data_dir))
