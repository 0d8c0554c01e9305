#!/usr/bin/env python3
"""Real-time factor of the whole STS pipeline with N fragments in flight (WORKER_MAX_INFLIGHT).

    .venv/bin/python bench/sts_concurrency.py --inflight 1
    .venv/bin/python bench/sts_concurrency.py --inflight 2

Cuts the Allison prompt ``queue-periodic-announce`` (7.8 s of speech, Debian
asterisk-core-sounds-en-wav) into 1.5 s fragments and runs them through one ``StsPipeline``
(en->es, the default offline providers) on a pool of ``--inflight`` threads, as the worker's core
does. Prints the wall time over the audio's duration (the real-time factor the stream needs below
1.0) and each fragment's round trip. No sentence carry, so fragments do not wait for each other.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from livedub.config import load_settings
from livedub.config.settings import PathSettings, WorkerSettings
from livedub.core.messages import AudioFragment
from livedub.sts import StsConfig, StsPipeline

PROMPT = Path("/usr/share/asterisk/sounds/en_US_f_Allison/queue-periodic-announce.wav")
RATE = 48_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inflight", type=int, default=2)
    parser.add_argument("--fragment", type=float, default=1.5, help="fragment length in seconds")
    args = parser.parse_args()
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", str(PROMPT), "-ac", "2", "-ar", str(RATE), "-f", "s16le", "-"],
                         check=True, capture_output=True, timeout=60).stdout
    audio = np.frombuffer(pcm, dtype="<i2").reshape(-1, 2)
    size = round(args.fragment * RATE)
    fragments = [AudioFragment(f"bench-{i}", "bench", i, i * size * 10**9 // RATE, size * 10**9 // RATE,
                               np.ascontiguousarray(audio[i * size:(i + 1) * size]))
                 for i in range(len(audio) // size)]
    worker = load_settings(WorkerSettings, env={})
    pipeline = StsPipeline.build(StsConfig.from_settings(worker, load_settings(PathSettings), carry=False))
    pipeline.warm_up()

    def timed(fragment: AudioFragment) -> float:
        started = time.monotonic()
        pipeline.process(fragment)
        return time.monotonic() - started

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.inflight) as pool:
        rtts = list(pool.map(timed, fragments))
    wall = time.monotonic() - started
    seconds = len(fragments) * args.fragment
    print(f"inflight={args.inflight} fragments={len(fragments)} audio={seconds:.1f}s wall={wall:.2f}s "
          f"RTF={wall / seconds:.2f} round trips={[round(r, 2) for r in rtts]}")


if __name__ == "__main__":
    main()
