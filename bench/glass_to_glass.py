"""Glass-to-glass delay and A/V sync of what a viewer receives, against the floor measured in the same run.

A marker stream (a white frame and a 1 kHz beep together every 2 s, over a black picture and a quiet
pilot tone; H.264 + AAC) is published in real time with ffmpeg to ``live/<id>/in`` on the embedded
media server (nginx-rtmp). Something republishes it to ``live/<id>/out``:

* ``floor``: a plain ffmpeg codec-copy relay through the same server (what any relay costs);
* ``bypass``, ``mock``, ``real``: ``livedub worker`` in that WORKER_STS_MODE at its defaults.

Two ffmpeg readers stamp every frame of ``in`` and of ``out`` with the wall clock; the same flash seen
on both gives the added delay. A third reader records ``out``; the flash-to-beep offset in it against
the input's is the A/V sync error. Results: JSON in bench/results/ (with the machine), a table in
docs/benchmarks.md (between GLASS_TO_GLASS markers), and a PNG plot beside the JSON.

    .venv/bin/python bench/glass_to_glass.py            # floor, bypass, mock, real; 30 s each (~5 min)
    .venv/bin/python bench/glass_to_glass.py --quick    # floor, bypass, mock; 16 s each (~2 min)
"""

from __future__ import annotations

import argparse
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

from bench._common import (
    add_output_args,
    machine,
    parse_modes,
    pyplot,
    replace_block,
    save_figure,
    save_results,
)
from livedub.media.nginx import NginxMediaServer
from livedub.obs.metrics import free_port
from livedub.proc.child import terminate
from tests.e2e.media_analysis import (
    FFMPEG_TIMEOUT_S,
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


def relay(mode: str, server: NginxMediaServer, stream_id: str, tmp: Path, *, limit_s: float = FFMPEG_TIMEOUT_S,
          env: dict[str, str] | None = None) -> tuple[Any, Any]:
    """Start what republishes ``in`` to ``out``: (process, the WorkerProcess or None)."""
    if mode == "floor":
        proc = ffmpeg("-rw_timeout", "30000000", "-i", server.ingest(stream_id).ffmpeg_url, "-c", "copy",
                      "-f", "flv", server.output(stream_id).ffmpeg_url, log=tmp / f"relay-{stream_id}.log",
                      limit_s=limit_s)
        return proc, None
    worker = WorkerProcess(tmp, stream_id, server.worker_input_url(stream_id), server.worker_output_url(stream_id),
                           "--sts-mode", mode, "--input-timeout", "120s", env=env)
    worker.wait_state("waiting_input", timeout=300)
    return worker.proc, worker


Watch = Callable[[int], Callable[[], dict[str, Any]]]  # relay pid -> stop(), whose result joins the run's


def run_mode(mode: str, server: NginxMediaServer, marker: Path, tmp: Path, *, watch: Watch | None = None,
             stream_id: str | None = None, limit_s: float = FFMPEG_TIMEOUT_S) -> dict[str, Any]:
    """One marker stream through ``mode``: per-flash added delay (``perFlash``: seconds after the first
    input flash, delay) and A/V error (``syncAtS``: when in the recording, ``syncErrorMs``). ``limit_s``
    bounds each ffmpeg child and analysis (the stream's length plus a margin)."""
    stream_id = stream_id or f"g2g-{mode}"
    started = time.monotonic()
    proc, worker = relay(mode, server, stream_id, tmp, limit_s=limit_s)
    stop_watch = watch(proc.pid) if watch is not None else None
    epoch = int(time.time())
    out_flv = tmp / f"{stream_id}.flv"
    recorder = record(server.output(stream_id).ffmpeg_url, out_flv, limit_s=limit_s)
    in_probe = wallclock_luma_probe(server.ingest(stream_id).ffmpeg_url, tmp / f"{stream_id}-in.txt", epoch,
                                    limit_s=limit_s)
    out_probe = wallclock_luma_probe(server.output(stream_id).ffmpeg_url, tmp / f"{stream_id}-out.txt", epoch,
                                     limit_s=limit_s)
    publisher = publish(server, stream_id, marker, tmp, limit_s=limit_s)
    try:
        wait_exit(publisher, limit_s)
        proc.wait(timeout=90)
        for reader in (recorder, in_probe, out_probe):
            wait_exit(reader, limit_s)
    finally:
        watched = stop_watch() if stop_watch is not None else {}
        for child in (proc, recorder, in_probe, out_probe, publisher):
            terminate(child, 5)
    in_wall = flash_times(parse_luma((tmp / f"{stream_id}-in.txt").read_text()))
    out_wall = flash_times(parse_luma((tmp / f"{stream_id}-out.txt").read_text()))
    configured_ms = (worker.find(state="running") or {}).get("delayMs", 0) if worker else 0
    flashes = pair_flashes(in_wall, out_wall, configured_ms / 1000)
    delays = [delay for _, delay in flashes]
    in_frames, out_frames = video_frames(marker, tmp, timeout_s=limit_s), video_frames(out_flv, tmp, timeout_s=limit_s)
    in_beeps = beep_onsets(*audio_track(marker, timeout_s=limit_s))
    reference = statistics.median(o for _, o in flash_beep_pairs(flash_times(in_frames), in_beeps))
    pairs = flash_beep_pairs(flash_times(out_frames), beep_onsets(*audio_track(out_flv, timeout_s=limit_s)))
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
    if result.get("plot"):
        lines += ["", f"![added delay and A/V error per path]({result['plot']})"]
    lines += ["", MARK_END]
    replace_block(docs, MARK_BEGIN, MARK_END, "\n".join(lines), "Glass to glass (bench/glass_to_glass.py)")


def plot(result: dict[str, Any], path: Path) -> bool:
    """Per path, each flash's added delay (left) and each beep's A/V error (right)."""
    plt = pyplot()
    if plt is None:
        return False
    runs = result["runs"]
    figure, (delay_axis, sync_axis) = plt.subplots(1, 2, figsize=(8, 3.5))
    names = [run["mode"] for run in runs]
    delay_axis.boxplot([[d for _, d in run["perFlash"]] or [0.0] for run in runs], tick_labels=names)
    delay_axis.set_ylabel("added delay (s)")
    sync_axis.boxplot([run["syncErrorMs"] or [0.0] for run in runs], tick_labels=names)
    sync_axis.axhline(40, color="red", linewidth=0.8, linestyle="--")
    sync_axis.axhline(-40, color="red", linewidth=0.8, linestyle="--")
    sync_axis.set_ylabel("A/V error (ms; dashed: 40 ms)")
    for axis in (delay_axis, sync_axis):
        axis.grid(alpha=0.3)
    return save_figure(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--seconds", type=float, default=30.0, help="marker stream length per mode")
    parser.add_argument("--quick", action="store_true", help="floor, bypass and mock, 16 s each")
    add_output_args(parser, keep=True)
    args = parser.parse_args()
    modes = ["floor", "bypass", "mock"] if args.quick else parse_modes(parser, args.modes, MODES)
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
                result["runs"].append(run_mode(mode, server, marker, tmp, limit_s=seconds + 120))
        finally:
            server.stop()
    save_results(result, name="glass_to_glass", results=args.results, docs=args.docs, write_docs=not args.no_docs,
                 plot=plot, render=write_docs)


if __name__ == "__main__":
    main()
