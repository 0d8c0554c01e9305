#!/usr/bin/env python3
"""Live dubbing on this machine: how much of the speech gets dubbed, at which delay and quality rung.

    .venv/bin/python bench/live_dub.py                      # delays 4, 5, 6 s; then 5 s with a CPU hog
    .venv/bin/python bench/live_dub.py --quick              # one delay (5 s), no hog (about 2 minutes)
    .venv/bin/python bench/live_dub.py --delays 5 --hog     # one core kept busy by a busy loop

Real recorded English speech (11 Asterisk prompts, Allison Smith, CC-BY-SA-3.0) over music, about
45 s, fed in real time (20 ms blocks on the wall clock, as the worker's GStreamer thread pushes them)
through the streaming core with the real offline STS (en->es: Whisper base, Apertium, Kokoro/Pico),
exactly as the live worker runs it minus the media pipelines. Per run: the share of speech segments
dubbed (not fallen back), the fallbacks by reason, which quality rung voiced each segment and the
ladder's steps, and each segment's STS cost by stage against its length. One full run takes about
(45 s + model load) per configuration; the default grid about 5 minutes.

Results: JSON in bench/results/live_dub-*.json (with the machine), the table between the LIVE_DUB
markers in docs/benchmarks.md (rewritten), and a PNG plot next to the JSON (when matplotlib is
installed: pip install matplotlib).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench._common import machine, pyplot, replace_block, save_figure, save_results
from livedub.config import load_settings
from livedub.config.settings import PathSettings, WorkerSettings
from livedub.core import CoreConfig, MonotonicClock, StreamingCore, ThreadExecutor
from livedub.core.messages import FragmentStatus, samples_to_ns
from livedub.sts import StsConfig, StsPipeline
from livedub.sts.frame_vad import segment_vad
from tests.e2e.media_analysis import NEWSCAST, audio_track, make_speech_clip

MARK_BEGIN, MARK_END = "<!-- LIVE_DUB:BEGIN -->", "<!-- LIVE_DUB:END -->"
BLOCK = 960  # 20 ms, what the worker's decoder delivers


class Recording:
    """Wraps the STS processor: what each segment cost, by stage, and which rung voiced it."""

    def __init__(self, inner: StsPipeline) -> None:
        self.inner = inner
        self.quality_rungs = inner.quality_rungs
        self.calls: list[dict[str, Any]] = []

    def process(self, segment):
        started = time.perf_counter()
        dubbed = self.inner.process(segment)
        self.calls.append({"segment": segment.id, "seconds": round(segment.duration / 1e9, 3),
                           "fragments": len(segment.fragments), "tier": dubbed.tier,
                           "wallS": round(time.perf_counter() - started, 3),
                           "stages": {k: round(v, 3) for k, v in dubbed.stage_seconds.items()}})
        return dubbed


def run_live(audio: np.ndarray, worker: WorkerSettings, pipeline: StsPipeline) -> dict[str, Any]:
    processor = Recording(pipeline)
    config = CoreConfig.from_settings(worker)
    clock = MonotonicClock()
    core = StreamingCore(config, processor, clock=clock, executor=ThreadExecutor(config.max_inflight),
                         stream_id="bench", separator=pipeline, vad=segment_vad(worker))  # as the worker does
    results = []
    start = clock.now()
    for offset in range(0, len(audio), BLOCK):
        due = start + samples_to_ns(offset + BLOCK)
        while (wait := due - clock.now()) > 0:
            time.sleep(min(wait / 1e9, 0.005))
        core.push(audio[offset:offset + BLOCK], samples_to_ns(offset))
        results += [b.result for b in core.pull()]
    core.flush()
    while not core.finished:
        due = core.next_due_ns()
        if due is not None and due > clock.now():
            time.sleep(min((due - clock.now()) / 1e9, 0.01))
        results += [b.result for b in core.pull()]
    stats = core.stats()
    core.close()
    speech = [r for r in results if r.speech]
    segments: dict[str, str] = {}
    for r in speech:
        segments.setdefault(r.segment_id or r.fragment_id, r.status.value)
    dubbed_segments = sum(1 for s in segments.values() if s == FragmentStatus.dubbed.value)
    return {
        "delayS": worker.buffer_target, "segmentMaxS": config.segmenter.max_ns / 1e9,
        "maxInflight": worker.max_inflight, "quality": worker.quality.value,
        "segments": len(segments), "segmentsDubbed": dubbed_segments,
        "dubbedShare": round(dubbed_segments / len(segments), 3) if segments else None,
        "speechFragments": len(speech), "speechFragmentsDubbed": sum(r.status is FragmentStatus.dubbed for r in speech),
        "fallbacks": dict(Counter(r.reason.value for r in results if r.reason is not None)),
        "tiers": stats.tiers, "qualitySteps": [f"{s.step.value} {s.old}->{s.new} ({s.reason})" for s in stats.quality_steps],
        "calls": processor.calls,
    }


def cost_by_length(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median STS cost per stage for segments of 0-1.5, 1.5-2.5, 2.5-3.5, 3.5+ s."""
    bins = ((0, 1.5), (1.5, 2.5), (2.5, 3.5), (3.5, 99))
    rows = []
    for lo, hi in bins:
        inside = [c for c in calls if lo <= c["seconds"] < hi]
        if not inside:
            continue
        stages = sorted({k for c in inside for k in c["stages"]})
        rows.append({"lengthS": f"{lo:g}-{hi:g}" if hi < 99 else f"{lo:g}+", "segments": len(inside),
                     "wallS": round(statistics.median(c["wallS"] for c in inside), 3),
                     **{k: round(statistics.median(c["stages"].get(k, 0.0) for c in inside), 3) for k in stages}})
    return rows


def write_docs(result: dict[str, Any], docs: Path, json_name: str) -> None:
    lines = [MARK_BEGIN, "",
             (f"Last run: {result['date']} on {result['machine']['cpu']} ({result['machine']['cores']} cores); "
              f"clip: {result['clipSeconds']} s of recorded English speech over music, {result['prompts']} prompts, "
              f"en->es, fed in real time (raw: `bench/results/{json_name}`)."), "",
             "| delay (s) | segment max (s) | CPU hog | speech segments dubbed | fallbacks | rungs used | ladder steps |",
             "| ---: | ---: | --- | ---: | --- | --- | ---: |"]
    for run in result["runs"]:
        share = "n/a" if run["dubbedShare"] is None else f"{run['segmentsDubbed']}/{run['segments']} ({run['dubbedShare']:.0%})"
        fallbacks = ", ".join(f"{k} {v}" for k, v in run["fallbacks"].items()) or "none"
        tiers = ", ".join(f"{k} {v}" for k, v in (run["tiers"] or {}).items()) or "-"
        lines.append(f"| {run['delayS']:g} | {run['segmentMaxS']:g} | {'yes' if run['hog'] else 'no'} | {share} | "
                     f"{fallbacks} | {tiers} | {len(run['qualitySteps'])} |")
    lines += ["", "STS cost per segment (median seconds, idle machine, all runs pooled):", "",
              "| segment length (s) | segments | wall | separate | asr | translate | tts | stretch |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in result["costByLength"]:
        lines.append(f"| {row['lengthS']} | {row['segments']} | {row['wallS']:.2f} | {row.get('separate', 0):.2f} | "
                     f"{row.get('asr', 0):.2f} | {row.get('translate', 0):.3f} | {row.get('tts', 0):.2f} | "
                     f"{row.get('stretch', 0):.2f} |")
    if result.get("plot"):
        lines += ["", f"![dubbed share by delay]({result['plot']})"]
    lines += ["", MARK_END]
    replace_block(docs, MARK_BEGIN, MARK_END, "\n".join(lines), "Live dubbing (bench/live_dub.py)")


def plot(result: dict[str, Any], path: Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for hog in (False, True):
        runs = [r for r in result["runs"] if r["hog"] is hog and r["dubbedShare"] is not None]
        if runs:
            axis.plot([r["delayS"] for r in runs], [100 * r["dubbedShare"] for r in runs], "o-",
                      label="one core busy" if hog else "idle")
    axis.set_xlabel("delay (s)")
    axis.set_ylabel("speech segments dubbed (%)")
    axis.set_ylim(0, 105)
    axis.grid(alpha=0.3)
    axis.legend()
    return save_figure(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delays", default="4,5,6", help="WORKER_BUFFER_TARGET values to run, seconds")
    parser.add_argument("--segment-max", type=float, default=None, help="WORKER_SEGMENT_MAX_DUR (default: the setting's)")
    parser.add_argument("--inflight", type=int, default=1, help="WORKER_MAX_INFLIGHT (real mode default: 1)")
    parser.add_argument("--quality", default="auto")
    parser.add_argument("--hog", action="store_true", help="only run with one core kept busy")
    parser.add_argument("--no-hog", action="store_true", help="skip the run with one core kept busy")
    parser.add_argument("--hog-delay", type=float, default=5.0, help="delay of the run with the CPU hog")
    parser.add_argument("--quick", action="store_true", help="one run at 5 s, no hog")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    delays = [5.0] if args.quick else [float(d) for d in args.delays.split(",")]
    plan = [(d, False) for d in delays] if not args.hog else []
    if args.hog or not (args.quick or args.no_hog):
        plan.append((args.hog_delay if not args.hog else delays[0], True))

    workdir = Path(tempfile.mkdtemp(prefix="livedub-bench-"))
    print(f"building the clip ({len(NEWSCAST)} prompts over music) ...", flush=True)
    clip = make_speech_clip(workdir / "newscast.flv", NEWSCAST, gap_s=1.2)
    _, mono = audio_track(clip.path)
    audio = np.repeat((np.clip(mono, -1, 1) * 32767).astype(np.int16)[:, None], 2, axis=1)
    paths = load_settings(PathSettings, env={})
    pipeline = None
    runs = []
    for delay, hog in plan:
        env = {"WORKER_STREAM_ID": "bench", "WORKER_STS_MODE": "real", "WORKER_BUFFER_TARGET": f"{delay}s",
               "WORKER_MAX_INFLIGHT": str(args.inflight), "WORKER_QUALITY": args.quality,
               "WORKER_BREAKER_LATENCY_P95": "30s"}
        if args.segment_max:
            env["WORKER_SEGMENT_MAX_DUR"] = f"{args.segment_max}s"
        worker = load_settings(WorkerSettings, env=env)
        if pipeline is None:
            started = time.monotonic()
            pipeline = StsPipeline.build(StsConfig.from_settings(worker, paths))
            pipeline.warm_up()
            print(f"models loaded in {time.monotonic() - started:.1f} s; rungs {pipeline.quality_rungs}", flush=True)
        pipeline._prompt = ""  # each run starts like a new stream
        print(f"run: delay {delay:g} s{', one core busy' if hog else ''} ({clip.duration_s:.0f} s in real time) ...",
              flush=True)
        hog_process = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if hog else None
        try:
            result = run_live(audio, worker, pipeline)
        finally:
            if hog_process is not None:
                hog_process.kill()
                hog_process.wait()
        result["hog"] = hog
        runs.append(result)
        print(f"  dubbed {result['segmentsDubbed']}/{result['segments']} speech segments; fallbacks "
              f"{result['fallbacks'] or 'none'}; rungs {result['tiers']}; steps {result['qualitySteps']}", flush=True)

    calls = [c for r in runs if not r["hog"] for c in r["calls"]] or [c for r in runs for c in r["calls"]]
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
              "clipSeconds": round(clip.duration_s, 1), "prompts": len(NEWSCAST), "runs": runs,
              "costByLength": cost_by_length(calls)}
    save_results(result, name="live_dub", results=args.results, docs=args.docs, write_docs=not args.no_docs,
                 plot=plot, render=write_docs)


if __name__ == "__main__":
    main()
