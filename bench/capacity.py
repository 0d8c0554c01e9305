"""Capacity: how many streams one machine carries at once, per mode, and what each stream costs.

N streams run together, each published in real time to its own ``live/<id>/in`` on the embedded
nginx-rtmp and republished by its own ``livedub worker`` (what the process launcher runs per stream),
beside N plain ffmpeg codec-copy relays as the floor. A step of N passes when every stream

* comes out whole: a recording of its output has at least 95 % of the input's video frames;
* stays in sync: its A/V error (the marker stream's flash against its beep, as in glass_to_glass.py)
  is within 40 ms (floor and bypass; a fake STS replaces the beeps and real mode's input is speech);
* is dubbed: at least 95 % of its speech segments were dubbed (its run bundle; mock and real).

N doubles (1, 2, 4, ...) until a step fails or reaches ``--max``. Per stream: CPU (share of one core,
from /proc over the stream) and resident memory at its end. bypass, mock and the floor publish the
marker stream; real publishes recorded English speech over music (9 prompts, about a minute), dubbed
to Spanish. Results: JSON and a PNG plot in bench/results/, a table in docs/benchmarks.md (between
CAPACITY markers).

    .venv/bin/python bench/capacity.py            # floor, bypass, mock up to 16, real up to 4; 60 s streams (~25 min)
    .venv/bin/python bench/capacity.py --quick    # floor, bypass, mock up to 4, real 1; 20 s streams (~6 min)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench._common import (
    add_output_args,
    cpu_seconds,
    machine,
    parse_modes,
    pyplot,
    replace_block,
    save_figure,
    save_results,
    tree_rss_mib,
)
from bench.glass_to_glass import MODES, relay
from livedub.media.nginx import NginxMediaServer
from livedub.obs.metrics import free_port
from livedub.proc.child import terminate, wait_until
from tests.e2e.media_analysis import (
    FPS,
    NEWSCAST,
    audio_track,
    beep_onsets,
    flash_beep_pairs,
    flash_times,
    make_marker_flv,
    make_speech_clip,
    video_frames,
)
from tests.e2e.worker_harness import publish, record, wait_exit

MARK_BEGIN, MARK_END = "<!-- CAPACITY:BEGIN -->", "<!-- CAPACITY:END -->"
MIN_FRAMES_SHARE = 0.95
MIN_DUBBED_SHARE = 0.95
MAX_SYNC_MS = 40.0
SAMPLE_S = 2.0


class Usage:
    """CPU and memory of one process over a stream, sampled until :meth:`stop`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu_start = cpu_seconds(pid) or 0.0
        self.cpu_last = self.cpu_start
        self.rss_last: float | None = None
        self.started = time.monotonic()
        self.ended = self.started
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name=f"usage-{pid}", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.is_set():
            cpu, rss = cpu_seconds(self.pid), tree_rss_mib(self.pid)
            if cpu is not None:
                self.cpu_last, self.rss_last, self.ended = cpu, rss, time.monotonic()
            self._done.wait(SAMPLE_S)

    def stop(self) -> dict[str, float | None]:
        self._done.set()
        self._thread.join(SAMPLE_S + 1)
        wall = max(self.ended - self.started, 1e-3)
        return {"cpuCores": round((self.cpu_last - self.cpu_start) / wall, 3),
                "rssMiB": None if self.rss_last is None else round(self.rss_last, 1)}


def dubbed_share(data_dir: Path, stream_id: str) -> float | None:
    """Speech segments dubbed / speech segments, from the stream's latest run bundle (None: none spoken)."""
    runs = sorted((data_dir / "streams" / stream_id / "runs").glob("*/fragments"))
    if not runs:
        return 0.0
    segments: dict[str, str] = {}
    for path in sorted(runs[-1].glob("*.json")):
        fragment = json.loads(path.read_text())
        if fragment.get("speech") and fragment.get("segmentId"):
            segments.setdefault(fragment["segmentId"], fragment["status"])
    return sum(s == "dubbed" for s in segments.values()) / len(segments) if segments else None


def run_step(mode: str, n: int, server: NginxMediaServer, media: Path, reference: dict[str, Any],
             tmp: Path) -> dict[str, Any]:
    ids = [f"cap-{mode}-{n}-{i}" for i in range(n)]
    data_dir = tmp / "var"
    limit_s = reference["seconds"] + 120  # each ffmpeg child and analysis: the stream plus a margin
    relays = [relay(mode, server, sid, tmp, limit_s=limit_s, env={"LIVEDUB_DATA_DIR": str(data_dir)}) for sid in ids]
    for _, worker in relays:
        if worker is not None and mode == "real":  # warm, as `livedub up`'s standby workers are when a stream comes
            assert wait_until(lambda w=worker: w.find(msg="sts engine ready") is not None, 600), worker.log_text()
    procs = [proc for proc, _ in relays]
    usages = [Usage(p.pid) for p in procs]
    recorders = [record(server.output(sid).ffmpeg_url, tmp / f"{sid}.flv", limit_s=limit_s) for sid in ids]
    publishers = [publish(server, sid, media, tmp, limit_s=limit_s) for sid in ids]
    try:
        for child in publishers:
            wait_exit(child, limit_s)
        for proc in procs:
            proc.wait(timeout=120)  # a worker drains its delayed output, then exits with its input
        for child in recorders:
            wait_exit(child, limit_s)
    finally:
        used = [u.stop() for u in usages]
        for child in (*procs, *recorders, *publishers):
            terminate(child, 5)
    streams = []
    for sid, usage in zip(ids, used, strict=True):
        out = tmp / f"{sid}.flv"
        frames = video_frames(out, tmp, timeout_s=limit_s) if out.exists() else []
        sync = None
        if reference["beepReferenceS"] is not None and mode in ("floor", "bypass") and frames:
            pairs = flash_beep_pairs(flash_times(frames), beep_onsets(*audio_track(out, timeout_s=limit_s)))
            errors = [abs(o - reference["beepReferenceS"]) * 1000 for _, o in pairs]
            sync = round(float(max(errors)), 1) if errors else None
        dubbed = dubbed_share(data_dir, sid) if mode in ("mock", "real") else None
        frames_share = len(frames) / reference["frames"]
        ok = bool(frames_share >= MIN_FRAMES_SHARE and (sync is None or sync <= MAX_SYNC_MS)
                  and (mode not in ("mock", "real") or (dubbed is not None and dubbed >= MIN_DUBBED_SHARE)))
        streams.append({"stream": sid, "framesShare": round(frames_share, 3), "syncWorstMs": sync,
                        "dubbedShare": None if dubbed is None else round(dubbed, 3), "ok": ok, **usage})
    cpu = [s["cpuCores"] for s in streams]
    rss = [s["rssMiB"] for s in streams if s["rssMiB"] is not None]
    step = {"mode": mode, "streams": n, "ok": bool(all(s["ok"] for s in streams)), "perStream": streams,
            "cpuCoresPerStream": round(statistics.fmean(cpu), 3), "rssMiBPerStream": round(statistics.fmean(rss), 1)
            if rss else None}
    print(f"  {mode} x{n}: {'ok' if step['ok'] else 'FAILS'}; "
          f"{100 * step['cpuCoresPerStream']:.1f} % of a core and {step['rssMiBPerStream']} MiB per stream; "
          + ", ".join(f"frames {s['framesShare']:.0%} sync {s['syncWorstMs']} dubbed {s['dubbedShare']}"
                      for s in streams), flush=True)
    return step


def ladder(limit: int) -> list[int]:
    steps, n = [], 1
    while n <= limit:
        steps.append(n)
        n *= 2
    return steps


def write_docs(result: dict[str, Any], docs: Path, json_name: str) -> None:
    lines = [MARK_BEGIN, "",
             (f"Last run: {result['date']} on {result['machine']['cpu']} ({result['machine']['cores']} cores, "
              f"{result['machine']['memoryGiB']:g} GiB); {result['seconds']:g} s marker streams (real: "
              f"{result['speechSeconds']:g} s of speech over music), all at once through nginx-rtmp (raw: "
              f"`bench/results/{json_name}`). A step passes when every stream keeps 95 % of its frames, "
              "its A/V error within 40 ms (floor, bypass) and 95 % of its speech segments dubbed (mock, real); "
              "`N+`: every step up to the most tried passed, the limit is higher."), "",
             "| path | streams carried | first step that fails | CPU per stream (% of a core) | memory per stream (MiB) |",
             "| --- | ---: | --- | ---: | ---: |"]
    for mode in result["modes"]:
        steps = [s for s in result["steps"] if s["mode"] == mode]
        carried = max((s["streams"] for s in steps if s["ok"]), default=0)
        failed = next((s for s in steps if not s["ok"]), None)
        at = next((s for s in steps if s["streams"] == carried), steps[0] if steps else None)
        why = "-" if failed is None else f"{failed['streams']} ({_why(failed)})"
        name = "ffmpeg codec-copy relay (floor)" if mode == "floor" else f"livedub worker, {mode}"
        cpu = "n/a" if at is None else f"{100 * at['cpuCoresPerStream']:.1f}"
        rss = "n/a" if at is None or at["rssMiBPerStream"] is None else f"{at['rssMiBPerStream']:.0f}"
        lines.append(f"| {name} | {carried}{'' if failed else '+'} | {why} | {cpu} | {rss} |")
    if result.get("plot"):
        lines += ["", f"![CPU per stream by streams at once]({result['plot']})"]
    lines += ["", MARK_END]
    replace_block(docs, MARK_BEGIN, MARK_END, "\n".join(lines), "Capacity (bench/capacity.py)")


def _why(step: dict[str, Any]) -> str:
    bad = [s for s in step["perStream"] if not s["ok"]]
    reasons = set()
    for s in bad:
        if s["framesShare"] < MIN_FRAMES_SHARE:
            reasons.add(f"frames {s['framesShare']:.0%}")
        if s["syncWorstMs"] is not None and s["syncWorstMs"] > MAX_SYNC_MS:
            reasons.add(f"A/V {s['syncWorstMs']:.0f} ms")
        if s["dubbedShare"] is not None and s["dubbedShare"] < MIN_DUBBED_SHARE:
            reasons.add(f"dubbed {s['dubbedShare']:.0%}")
        if s["dubbedShare"] is None and step["mode"] in ("mock", "real"):
            reasons.add("no run bundle")
    return ", ".join(sorted(reasons))


def plot(result: dict[str, Any], path: Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for mode in result["modes"]:
        steps = [s for s in result["steps"] if s["mode"] == mode]
        axis.plot([s["streams"] for s in steps], [100 * s["cpuCoresPerStream"] for s in steps], "o-", label=mode)
        for s in steps:
            if not s["ok"]:
                axis.plot([s["streams"]], [100 * s["cpuCoresPerStream"]], "x", color="red", markersize=9)
    axis.set_xscale("log", base=2)
    counts = sorted({s["streams"] for s in result["steps"]})
    axis.set_xticks(counts, [str(n) for n in counts])
    axis.set_xlabel("streams at once (x: the step fails)")
    axis.set_ylabel("CPU per stream (% of a core)")
    axis.grid(alpha=0.3)
    axis.legend()
    return save_figure(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--max", type=int, default=16, help="most streams at once (floor, bypass, mock)")
    parser.add_argument("--max-real", type=int, default=4, help="most streams at once in real mode")
    parser.add_argument("--seconds", type=float, default=60.0, help="marker stream length")
    parser.add_argument("--quick", action="store_true", help="up to 4 streams (real: 1), 20 s marker streams")
    add_output_args(parser, keep=True)
    args = parser.parse_args()
    modes = parse_modes(parser, args.modes, MODES)
    limit, limit_real, seconds = (4, 1, 20.0) if args.quick else (args.max, args.max_real, args.seconds)
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
                              "seconds": seconds, "modes": modes, "steps": []}
    with tempfile.TemporaryDirectory(prefix="livedub-capacity-") as name:
        tmp = args.keep or Path(name)
        tmp.mkdir(parents=True, exist_ok=True)
        marker = make_marker_flv(tmp / "marker.flv", duration_s=seconds)
        inputs: dict[str, Path] = {"marker": marker}
        if "real" in modes:
            print("building the speech clip ...", flush=True)
            inputs["speech"] = make_speech_clip(tmp / "speech.flv", NEWSCAST, gap_s=1.2).path
        references = {kind: _reference(path, tmp, with_beeps=kind == "marker") for kind, path in inputs.items()}
        result["speechSeconds"] = references["speech"]["seconds"] if "speech" in references else 0.0
        server = NginxMediaServer(rtmp_port=free_port(), api_port=free_port())
        server.start(None)
        try:
            for mode in modes:
                kind = "speech" if mode == "real" else "marker"
                for n in ladder(limit_real if mode == "real" else limit):
                    print(f"[{mode}] {n} stream(s) at once, {references[kind]['seconds']:.0f} s ...", flush=True)
                    step = run_step(mode, n, server, inputs[kind], references[kind], tmp)
                    result["steps"].append(step)
                    if not step["ok"]:
                        break
        finally:
            server.stop()
    save_results(result, name="capacity", results=args.results, docs=args.docs, write_docs=not args.no_docs,
                 plot=plot, render=write_docs)


def _reference(path: Path, tmp: Path, *, with_beeps: bool) -> dict[str, Any]:
    """The input's frame count, length and (marker) flash-to-beep offset, which outputs are held to."""
    frames = video_frames(path, tmp)
    beep = None
    if with_beeps:
        offsets = [o for _, o in flash_beep_pairs(flash_times(frames), beep_onsets(*audio_track(path)))]
        beep = statistics.median(offsets) if offsets else None
    return {"frames": len(frames), "seconds": len(frames) / FPS, "beepReferenceS": beep}


if __name__ == "__main__":
    main()
