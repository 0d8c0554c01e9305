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
    run: RunRecord | None

    def summary(self) -> dict[str, Any]:
        return {
            "recording": str(self.recording),
            "input": self.input.as_dict(),
            "output": self.output.as_dict(),
            "outputLiveAfterSeconds": round(self.first_output_after_s, 2),
            "workerAddedDelayMs": self.worker_delay_ms,
            "durationDeltaSeconds": round(self.output.video_seconds - self.input.video_seconds, 3),
            "avOffsetChangeMs": round(self.output.av_start_offset_ms - self.input.av_start_offset_ms, 1),
            "worker": {k: self.worker.get(k) for k in ("state", "restarts", "failures", "lastExitCode", "settings")},
            "fragments": self.run.fragment_counts() if self.run else None,
            "dub": self.run.dub_lines() if self.run else [],
            "runBundle": str(self.run.path) if self.run else None,
        }


@dataclass(frozen=True)
class RunRecord:
    """The worker's run bundle (docs/streaming-core.md): its manifest and per-fragment results."""

    path: Path
    manifest: dict[str, Any]
    fragments: list[dict[str, Any]]

    def fragment_counts(self) -> dict[str, Any]:
        """Fragments dubbed vs fallback (by reason) vs without speech, speech segments and the quality
        rungs that voiced them. From the fragment files (the manifest's summary is only written when
        the worker ends, so a worker stopped early leaves none)."""
        fallbacks: dict[str, int] = {}
        tiers: dict[str, int] = {}
        segments: dict[str, str] = {}
        for fragment in self.fragments:
            status = fragment.get("status")
            if status == "fallback":
                reason = str(fragment.get("reason"))
                fallbacks[reason] = fallbacks.get(reason, 0) + 1
            if status in ("dubbed", "fallback"):
                segment = fragment.get("segmentId") or f"fragment-{fragment.get('sequence')}"
                if segment not in segments:
                    segments[segment] = status
                    if status == "dubbed" and fragment.get("tier"):
                        tiers[fragment["tier"]] = tiers.get(fragment["tier"], 0) + 1
        return {"total": len(self.fragments), "dubbed": sum(f.get("status") == "dubbed" for f in self.fragments),
                "fallback": sum(fallbacks.values()), "fallbackReasons": fallbacks,
                "noSpeech": sum(f.get("status") == "no-speech" for f in self.fragments),
                "segments": len(segments), "segmentsDubbed": sum(s == "dubbed" for s in segments.values()),
                "tiers": tiers, "stsMode": self.manifest.get("stsMode"), "runId": self.manifest.get("runId")}

    def dub_lines(self, limit: int = 5) -> list[dict[str, str]]:
        """The first few fragments that had speech: what was heard and what it became."""
        lines = [{"sequence": f.get("sequence"), "transcript": f["transcript"], "translation": f.get("translation") or ""}
                 for f in self.fragments if f.get("transcript")]
        return lines[:limit]


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


def read_run(data_dir: Path, run_id: str | None = None) -> RunRecord | None:
    """The run bundle of ``run_id`` (the orchestrator's id of the demo's worker run), else the newest."""
    runs_root = data_dir / "streams" / STREAM_ID / "runs"
    if run_id and (runs_root / run_id / "manifest.json").exists():
        run_dir = runs_root / run_id
    else:
        manifests = sorted(runs_root.glob("*/manifest.json"), key=lambda p: p.stat().st_mtime)
        if not manifests:
            return None  # bypass mode writes no bundle
        run_dir = manifests[-1].parent
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
        fragments = [json.loads(p.read_text()) for p in sorted((run_dir / "fragments").glob("*.json"))]
    except (OSError, ValueError):
        return None
    return RunRecord(run_dir, manifest, fragments)


def worker_start_failure(log_dir: Path) -> str | None:
    """The reason the demo's worker gave for not starting (a missing model, bad settings), if any."""
    log_file = log_dir / "orchestrator.log"
    if not log_file.exists():
        return None
    for line in log_file.read_text(errors="replace").splitlines():
        if '"cannot start the worker"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("streamId") == STREAM_ID:
            return str(record.get("reason"))
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
    run_ids: list[str] = []
    try:
        def worker_running() -> bool:
            for stream in stack.streams():
                if stream.get("streamId") == STREAM_ID and stream.get("state") == "running":
                    if stream.get("runId"):
                        run_ids.append(stream["runId"])
                    return True
            return False

        def start_failed() -> str | None:
            if publisher.poll() not in (None, 0):
                return "the publisher stopped early"
            reason = worker_start_failure(stack.log_dir)  # permanent (exit 2): the orchestrator does not retry
            return f"the worker could not start: {reason}" if reason else None

        try:
            started = wait_until(worker_running, start_timeout, interval=0.2, abort=start_failed)
        except RuntimeError as exc:
            raise DemoError(str(exc)) from None
        if not started:
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
                      run=read_run(data_dir, run_ids[-1] if run_ids else None))
