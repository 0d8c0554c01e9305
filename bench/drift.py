"""Drift: after minutes of streaming, is the output as far behind and as well in sync as at its start?

The glass-to-glass marker stream (bench/glass_to_glass.py: a white frame and a beep together every 2 s)
runs for ``--minutes`` through each path on the embedded nginx-rtmp: the ffmpeg codec-copy relay (the
floor), then ``livedub worker`` in bypass and in real mode (or mock with ``--quick``). Per path: the
added delay and the A/V error over the first and over the last minute, and the relay's resident memory
sampled every 5 s (its trend in MiB per 10 minutes, fitted over all but the first minute, when models
and buffers fill). Results: JSON and a PNG plot in bench/results/, a table in docs/benchmarks.md
(between DRIFT markers).

    .venv/bin/python bench/drift.py                 # floor, bypass, real; 10 min each (~33 min)
    .venv/bin/python bench/drift.py --minutes 60    # the hour-long run (~3 h 10 min)
    .venv/bin/python bench/drift.py --quick         # floor, bypass, mock; 2 min each (~8 min)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
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
    tree_rss_mib,
)
from bench.glass_to_glass import MODES, run_mode
from livedub.media.nginx import NginxMediaServer
from livedub.obs.metrics import free_port
from tests.e2e.media_analysis import FLASH_PERIOD_S, make_marker_flv

MARK_BEGIN, MARK_END = "<!-- DRIFT:BEGIN -->", "<!-- DRIFT:END -->"
SAMPLE_S = 5.0
EDGE_S = 60.0  # "start" and "end": the first and the last minute of the stream


def memory_watch(pid: int) -> Callable[[], dict[str, Any]]:
    """Sample ``pid``'s RSS every SAMPLE_S until the returned stop() is called."""
    samples: list[tuple[float, float]] = []
    done = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        while not done.is_set():
            value = tree_rss_mib(pid)
            if value is not None:
                samples.append((round(time.monotonic() - started, 1), round(value, 1)))
            done.wait(SAMPLE_S)

    thread = threading.Thread(target=sample, name="rss", daemon=True)
    thread.start()

    def stop() -> dict[str, Any]:
        done.set()
        thread.join(timeout=SAMPLE_S + 1)
        return {"rssMiB": samples}

    return stop


def slope_per_10_min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value), per 10 minutes; None with fewer than 3 points."""
    if len(points) < 3:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread * 600


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summarise(run: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Start against end of one run: delay (s), A/V error (ms), memory (MiB)."""
    flashes = run["perFlash"]
    sync = list(zip(run["syncAtS"], run["syncErrorMs"], strict=True))
    first_sync = sync[0][0] if sync else 0.0
    rss = [(t, v) for t, v in run.get("rssMiB", []) if t >= EDGE_S]
    return {
        "delayStartS": _median([d for at, d in flashes if at < EDGE_S]),
        "delayEndS": _median([d for at, d in flashes if at >= seconds - EDGE_S - FLASH_PERIOD_S]),
        "syncStartMs": _median([e for at, e in sync if at - first_sync < EDGE_S]),
        "syncEndMs": _median([e for at, e in sync if at - first_sync >= seconds - EDGE_S - FLASH_PERIOD_S]),
        "syncWorstMs": max((e for _, e in sync), key=abs, default=None),
        "rssStartMiB": rss[0][1] if rss else None,
        "rssEndMiB": rss[-1][1] if rss else None,
        "rssSlopeMiBPer10Min": None if (s := slope_per_10_min(rss)) is None else round(s, 1),
        "flashes": len(flashes), "expectedFlashes": int(seconds // FLASH_PERIOD_S),
    }


def write_docs(result: dict[str, Any], docs: Path, json_name: str) -> None:
    def num(value: float | None, fmt: str) -> str:
        return "n/a" if value is None else format(value, fmt)

    lines = [MARK_BEGIN, "",
             (f"Last run: {result['date']} on {result['machine']['cpu']} ({result['machine']['cores']} cores); "
              f"{result['minutes']:g} min marker stream per path through nginx-rtmp; start = first minute, end = "
              f"last minute (raw: `bench/results/{json_name}`)."), "",
             ("| path | delay start / end (s) | A/V error start / end / worst (ms) | RSS after 1 min / end (MiB) | "
              "RSS trend (MiB per 10 min) | flashes seen |"),
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for run in result["runs"]:
        s = run["summary"]
        name = "ffmpeg codec-copy relay (floor)" if run["mode"] == "floor" else f"livedub worker, {run['mode']}"
        lines.append(f"| {name} | {num(s['delayStartS'], '.3f')} / {num(s['delayEndS'], '.3f')} | "
                     f"{num(s['syncStartMs'], '+.0f')} / {num(s['syncEndMs'], '+.0f')} / {num(s['syncWorstMs'], '+.0f')} | "
                     f"{num(s['rssStartMiB'], '.0f')} / {num(s['rssEndMiB'], '.0f')} | "
                     f"{num(s['rssSlopeMiBPer10Min'], '+.1f')} | {s['flashes']} of {s['expectedFlashes']} |")
    if result.get("plot"):
        lines += ["", f"![delay and memory over the run]({result['plot']})"]
    lines += ["", MARK_END]
    replace_block(docs, MARK_BEGIN, MARK_END, "\n".join(lines), "Drift (bench/drift.py)")


def plot(result: dict[str, Any], path: Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    figure, (delay_axis, memory_axis) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for run in result["runs"]:
        if run["perFlash"]:
            delay_axis.plot([at / 60 for at, _ in run["perFlash"]], [d for _, d in run["perFlash"]], ".",
                            markersize=2, label=run["mode"])
        if run.get("rssMiB"):
            memory_axis.plot([t / 60 for t, _ in run["rssMiB"]], [v for _, v in run["rssMiB"]], label=run["mode"])
    delay_axis.set_ylabel("added delay (s)")
    memory_axis.set_ylabel("relay RSS (MiB)")
    memory_axis.set_xlabel("minutes into the stream")
    for axis in (delay_axis, memory_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    return save_figure(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="floor,bypass,real", help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--minutes", type=float, default=10.0, help="marker stream length per path (default 10)")
    parser.add_argument("--quick", action="store_true", help="floor, bypass and mock, 2 min each")
    add_output_args(parser, keep=True)
    args = parser.parse_args()
    modes = ["floor", "bypass", "mock"] if args.quick else parse_modes(parser, args.modes, MODES)
    minutes = 2.0 if args.quick else args.minutes
    if minutes * 60 < 2 * EDGE_S + 2 * FLASH_PERIOD_S:
        parser.error(f"--minutes must be at least {(2 * EDGE_S + 2 * FLASH_PERIOD_S) / 60:g} (a start and an end minute)")
    seconds = minutes * 60
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
                              "minutes": minutes, "flashPeriodS": FLASH_PERIOD_S, "runs": []}
    with tempfile.TemporaryDirectory(prefix="livedub-drift-") as name:
        tmp = args.keep or Path(name)
        tmp.mkdir(parents=True, exist_ok=True)
        print(f"encoding the {minutes:g} min marker stream ...", flush=True)
        marker = make_marker_flv(tmp / "marker.flv", duration_s=seconds)
        server = NginxMediaServer(rtmp_port=free_port(), api_port=free_port())
        server.start(None)
        try:
            for index, mode in enumerate(modes, 1):
                print(f"[{index}/{len(modes)}] {mode}: {minutes:g} min of stream, ends about "
                      f"{time.strftime('%H:%M', time.localtime(time.time() + seconds + 30))} ...", flush=True)
                run = run_mode(mode, server, marker, tmp, watch=memory_watch, stream_id=f"drift-{mode}",
                               limit_s=seconds + 180)
                run["summary"] = summarise(run, seconds)
                print(f"  {mode}: {json.dumps(run['summary'])}", flush=True)
                result["runs"].append(run)
        finally:
            server.stop()
    save_results(result, name="drift", results=args.results, docs=args.docs, write_docs=not args.no_docs,
                 plot=plot, render=write_docs)


if __name__ == "__main__":
    main()
