"""Glass-to-glass delay and A/V sync of what a viewer receives, against the floor measured in the same run.

A marker stream (a white frame and a 1 kHz beep together every 2 s, over a black picture and a quiet
pilot tone; H.264 + AAC) is published in real time with ffmpeg to ``live/<id>/in`` on the embedded
media server (nginx-rtmp). Something republishes it to ``live/<id>/out``:

* ``floor``: a plain ffmpeg codec-copy relay through the same server (what any relay costs);
* ``bypass``, ``mock``, ``real``: ``livedub worker`` in that WORKER_STS_MODE at its defaults.

Two ffmpeg readers stamp every frame of ``in`` and of ``out`` with the wall clock; the same flash seen
on both gives the added delay. A third reader records ``out``; the flash-to-beep offset in it against
the input's is the A/V sync error. Results: JSON in bench/results/ (with the machine), a table in
docs/benchmarks.md (between GLASS_TO_GLASS markers).

    .venv/bin/python bench/glass_to_glass.py            # floor, bypass, mock, real; 30 s each (~5 min)
    .venv/bin/python bench/glass_to_glass.py --quick    # floor, bypass, mock; 16 s each (~2 min)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench._common import machine, replace_block
from livedub.media.nginx import NginxMediaServer
from livedub.obs.metrics import free_port
from livedub.proc.child import terminate
from tests.e2e.media_analysis import (
    FLASH_PERIOD_S,
    audio_track,
    beep_onsets,
    flash_beep_pairs,
    flash_times,
    make_marker_flv,
    parse_luma,
    video_frames,
)
from tests.e2e.worker_harness import WorkerProcess, ffmpeg, publish, record, wait_exit, wallclock_luma_probe

MARK_BEGIN, MARK_END = "<!-- GLASS_TO_GLASS:BEGIN -->", "<!-- GLASS_TO_GLASS:END -->"
MODES = ("floor", "bypass", "mock", "real")


def relay(mode: str, server: NginxMediaServer, stream_id: str, tmp: Path) -> tuple[Any, Any]:
    """Start what republishes ``in`` to ``out``: (process, the WorkerProcess or None)."""
    if mode == "floor":
        proc = ffmpeg("-rw_timeout", "30000000", "-i", server.ingest(stream_id).ffmpeg_url, "-c", "copy",
                      "-f", "flv", server.output(stream_id).ffmpeg_url, log=tmp / f"relay-{stream_id}.log")
        return proc, None
    worker = WorkerProcess(tmp, stream_id, server.worker_input_url(stream_id), server.worker_output_url(stream_id),
                           "--sts-mode", mode, "--input-timeout", "120s")
    worker.wait_state("waiting_input", timeout=120)
    return worker.proc, worker


Watch = Callable[[int], Callable[[], dict[str, Any]]]  # relay pid -> stop(), whose result joins the run's


def run_mode(mode: str, server: NginxMediaServer, marker: Path, tmp: Path, *, watch: Watch | None = None,
             stream_id: str | None = None) -> dict[str, Any]:
    """One marker stream through ``mode``: per-flash added delay (``perFlash``: seconds after the first
    input flash, delay) and A/V error (``syncAtS``: when in the recording, ``syncErrorMs``)."""
    stream_id = stream_id or f"g2g-{mode}"
    started = time.monotonic()
    proc, worker = relay(mode, server, stream_id, tmp)
    stop_watch = watch(proc.pid) if watch is not None else None
    epoch = int(time.time())
    out_flv = tmp / f"{stream_id}.flv"
    recorder = record(server.output(stream_id).ffmpeg_url, out_flv)
    in_probe = wallclock_luma_probe(server.ingest(stream_id).ffmpeg_url, tmp / f"{stream_id}-in.txt", epoch)
    out_probe = wallclock_luma_probe(server.output(stream_id).ffmpeg_url, tmp / f"{stream_id}-out.txt", epoch)
    publisher = publish(server, stream_id, marker, tmp)
    try:
        wait_exit(publisher)
        proc.wait(timeout=90)
        for reader in (recorder, in_probe, out_probe):
            wait_exit(reader)
    finally:
        watched = stop_watch() if stop_watch is not None else {}
        for child in (proc, recorder, in_probe, out_probe, publisher):
            terminate(child, 5)
    in_wall = flash_times(parse_luma((tmp / f"{stream_id}-in.txt").read_text()))
    out_wall = flash_times(parse_luma((tmp / f"{stream_id}-out.txt").read_text()))
    configured_ms = (worker.find(state="running") or {}).get("delayMs", 0) if worker else 0
    flashes = pair_flashes(in_wall, out_wall, configured_ms / 1000)
    delays = [delay for _, delay in flashes]
    in_frames, out_frames = video_frames(marker, tmp), video_frames(out_flv, tmp)
    reference = statistics.median(o for _, o in flash_beep_pairs(flash_times(in_frames), beep_onsets(*audio_track(marker))))
    pairs = flash_beep_pairs(flash_times(out_frames), beep_onsets(*audio_track(out_flv)))
    sync_ms = [round((o - reference) * 1000, 1) for _, o in pairs]
    print(f"  {mode}: {len(delays)} flashes, added delay median {statistics.median(delays):.3f} s"
          if delays else f"  {mode}: no flash seen on both sides", flush=True)
    return {"mode": mode, "flashes": len(delays), "perFlashDelayS": [round(d, 3) for d in delays],
            "delayS": round(statistics.median(delays), 3) if delays else None,
            "perFlash": [[round(at - flashes[0][0], 2), round(d, 3)] for at, d in flashes] if flashes else [],
            "syncErrorMs": sync_ms, "syncAtS": [round(at, 2) for at, _ in pairs],
            "outputFrames": len(out_frames), "inputFrames": len(in_frames),
            "wallS": round(time.monotonic() - started, 1),
            "configuredDelayMs": configured_ms, **watched}


def pair_flashes(in_wall: list[float], out_wall: list[float], expected_s: float) -> list[tuple[float, float]]:
    """(input flash, added delay): each input flash with the output flash nearest to it plus
    ``expected_s`` (the configured delay), within half a flash period: unambiguous while the delay
    beyond the configured one stays under a second, and a flash missing on one side pairs with nothing
    instead of shifting every pair."""
    pairs = []
    for flash in in_wall:
        nearest = min(out_wall, key=lambda out: abs(out - flash - expected_s), default=None)
        if nearest is not None and abs(nearest - flash - expected_s) < FLASH_PERIOD_S / 2:
            pairs.append((flash, nearest - flash))
    return pairs


def write_docs(result: dict[str, Any], docs: Path, json_name: str) -> None:
    floor = next((r["delayS"] for r in result["runs"] if r["mode"] == "floor"), None)
    lines = [MARK_BEGIN, "",
             (f"Last run: {result['date']} on {result['machine']['cpu']} ({result['machine']['cores']} cores); "
              f"{result['clipSeconds']:g} s marker stream per mode through nginx-rtmp (raw: "
              f"`bench/results/{json_name}`)."), "",
             "| path | added delay, median (s) | over the floor (s) | x floor | A/V error median / max (ms) | flashes |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for run in result["runs"]:
        delay = run["delayS"]
        over = "-" if delay is None or floor is None or run["mode"] == "floor" else f"{delay - floor:+.3f}"
        ratio = "-" if delay is None or not floor else f"{delay / floor:.1f}"
        sync = run["syncErrorMs"]
        sync_text = (f"{statistics.median(sync):+.0f} / {max(sync, key=abs):+.0f}" if sync else "n/a")
        name = "ffmpeg codec-copy relay (floor)" if run["mode"] == "floor" else f"livedub worker, {run['mode']}"
        lines.append(f"| {name} | {'n/a' if delay is None else f'{delay:.3f}'} | {over} | {ratio} | {sync_text} | "
                     f"{run['flashes']} |")
    lines += ["", MARK_END]
    replace_block(docs, MARK_BEGIN, MARK_END, "\n".join(lines), "Glass to glass (bench/glass_to_glass.py)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--seconds", type=float, default=30.0, help="marker stream length per mode")
    parser.add_argument("--quick", action="store_true", help="floor, bypass and mock, 16 s each")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="keep the recordings and logs in this folder")
    args = parser.parse_args()
    modes = ["floor", "bypass", "mock"] if args.quick else [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    seconds = 16.0 if args.quick else args.seconds
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
                              "clipSeconds": seconds, "flashPeriodS": FLASH_PERIOD_S, "runs": []}
    with tempfile.TemporaryDirectory(prefix="livedub-g2g-") as name:
        tmp = args.keep or Path(name)
        tmp.mkdir(parents=True, exist_ok=True)
        marker = make_marker_flv(tmp / "marker.flv", duration_s=seconds)
        server = NginxMediaServer(rtmp_port=free_port(), api_port=free_port())
        server.start(None)
        try:
            for index, mode in enumerate(modes, 1):
                print(f"[{index}/{len(modes)}] {mode} ({seconds:g} s of stream) ...", flush=True)
                result["runs"].append(run_mode(mode, server, marker, tmp))
        finally:
            server.stop()
    args.results.mkdir(parents=True, exist_ok=True)
    json_name = f"glass_to_glass-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    (args.results / json_name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote bench/results/{json_name}")
    if not args.no_docs:
        write_docs(result, args.docs, json_name)
        print(f"updated {args.docs}")


if __name__ == "__main__":
    main()
