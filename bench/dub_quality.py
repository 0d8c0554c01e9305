#!/usr/bin/env python3
"""How good is the dub: `livedub dub` on real speech, per translator and voice rung.

    .venv/bin/python bench/dub_quality.py           # apertium/llm x natural/fast, then live: about 5 minutes
    .venv/bin/python bench/dub_quality.py --quick   # llm and apertium on the fast rung only

The case: nine Asterisk prompts (tests/asterisk_corpus.py: one speaker, human English transcripts and
the Asterisk translators' Spanish for the same recordings), 64 s with music-only gaps, music at
-14 dB. Each run is `livedub dub` as a user runs it (`--translator`, `WORKER_QUALITY`). Per run:

* ASR WER: the transcript captions (`OUT.en.vtt`, Whisper base in the product) against the human
  English;
* chrF of the translation (`OUT.es.vtt`) against the human Spanish, accents folded on both sides;
* ASR-chrF: an independent Whisper (base, full window) listens to the dubbed audio over each speech
  span; chrF of what it hears against the human Spanish (the dub as a viewer hears it);
* Spanish share: the spans in which that Whisper detects Spanish;
* duration fit: mean |voice cue length - speech span length| (how far the dub's timing strays);
* wall time and its ratio to the clip's length.

Results: bench/results/dub_quality-*.json (with the machine) and the table in docs/benchmarks.md
between the DUB_QUALITY markers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench._common import machine, replace_block
from livedub.media.nginx import NginxMediaServer
from livedub.obs.metrics import free_port
from livedub.proc.child import terminate, wait_until
from tests import asterisk_corpus
from tests.e2e.file_dub import Caption, dub, read_cues
from tests.e2e.media_analysis import RATE, SpeechClip, audio_track, make_speech_clip
from tests.e2e.text_metrics import chrf, wer
from tests.e2e.worker_harness import WorkerProcess, publish, record, wait_exit

MUSIC = "macroform-cold_day.wav"
RUNS = (("apertium", "natural"), ("llm", "natural"), ("apertium", "fast"), ("llm", "fast"))
QUICK = (("apertium", "fast"), ("llm", "fast"))
MARK_BEGIN, MARK_END = "<!-- DUB_QUALITY:BEGIN -->", "<!-- DUB_QUALITY:END -->"


def measure(clip: SpeechClip, translator: str, quality: str, whisper: Any, out: Path) -> dict[str, Any]:
    started = time.monotonic()
    run = dub(clip, out / f"{translator}-{quality}.mp4", "--translator", translator,
              env_extra={"WORKER_QUALITY": quality})
    wall = time.monotonic() - started
    return {"path": "file", "translator": translator, "quality": quality,
            **score(clip, run.output, run.english, run.spanish, whisper),
            "wallS": round(wall, 1), "realTimeFactor": round(wall / clip.duration_s, 2)}


def measure_live(clip: SpeechClip, whisper: Any, out: Path) -> dict[str, Any]:
    """The same clip published in real time to a `livedub worker` in real mode at its defaults (warm,
    as `livedub up`'s standby is), its output recorded as a viewer would; the captions are its run
    bundle's (written when the run ends), timed like the input."""
    stream = "quality"
    data = out / "var"
    limit = clip.duration_s + 120
    server = NginxMediaServer(rtmp_port=free_port(), api_port=free_port())
    server.start(None)
    children: list[Any] = []
    try:
        worker = WorkerProcess(out, stream, server.worker_input_url(stream), server.worker_output_url(stream),
                               "--sts-mode", "real", "--input-timeout", "120s",
                               env={"LIVEDUB_DATA_DIR": str(data), "WORKER_SOURCE_LANG": "en",
                                    "WORKER_TARGET_LANG": "es"})
        children.append(worker.proc)
        worker.wait_state("waiting_input", timeout=300)
        if not wait_until(lambda: worker.find(msg="sts engine ready") is not None, 600):
            raise RuntimeError(worker.log_text()[-2000:])
        recording = out / "live.flv"
        children.append(record(server.output(stream).ffmpeg_url, recording, rw_timeout_us="20000000", limit_s=limit))
        children.append(publish(server, stream, clip.path, out, limit_s=limit))
        started = time.monotonic()
        wait_exit(children[-1], limit)
        worker.proc.wait(timeout=120)  # it drains its delayed output, then ends with its input
        wait_exit(children[1], limit)
        wall = time.monotonic() - started
    finally:
        for child in children:
            terminate(child, 5)
        server.stop()
    run = max((data / "streams" / stream / "runs").glob("*/manifest.json")).parent
    delay_ms = json.loads((run / "manifest.json").read_text()).get("delayMs") or 0
    return {"path": "live", "translator": "auto (live)", "quality": "auto", "delayS": round(delay_ms / 1000, 1),
            **score(clip, recording, read_cues(run / "captions.en.vtt"), read_cues(run / "captions.es.vtt"), whisper),
            "wallS": round(wall, 1), "realTimeFactor": round(wall / clip.duration_s, 2)}


def score(clip: SpeechClip, output: Path, english_cues: list[Caption], spanish_cues: list[Caption],
          whisper: Any) -> dict[str, Any]:
    """WER of what was transcribed, chrF of what was said and of what an independent Whisper hears in
    ``output`` over each speech span, the Spanish share of those spans and the duration fit."""
    english = " ".join(p.english for p in clip.prompts)
    spanish = asterisk_corpus.fold(" ".join(p.spanish for p in clip.prompts))
    said = " ".join(c.text for c in spanish_cues)
    start, audio = audio_track(output)
    heard, languages = [], []
    for lo, hi in clip.speech_spans:
        span = audio[max(0, round((lo - 0.2 - start) * RATE)):round((hi + 1.0 - start) * RATE)]
        result = whisper.transcribe(span[::3].copy(), language=None)  # 48 -> 16 kHz
        heard.append(result.text)
        languages.append(result.language)
    fit = []
    for lo, hi in clip.speech_spans:
        cues = [c for c in spanish_cues if lo - 0.5 <= c.start_s < hi]
        if cues:
            fit.append(abs((cues[-1].end_s - cues[0].start_s) - (hi - lo)))
    return {"asrWer": round(wer(" ".join(c.text for c in english_cues), english), 3),
            "chrF": round(chrf(asterisk_corpus.fold(said), spanish), 1),
            "asrChrF": round(chrf(asterisk_corpus.fold(" ".join(heard)), spanish), 1),
            "spanishShare": round(languages.count("es") / len(languages), 2),
            "fitErrorS": round(sum(fit) / len(fit), 2) if fit else None,
            "said": said, "heard": heard, "languages": languages}


def _report(row: dict[str, Any]) -> None:
    print(f"  ASR WER {row['asrWer']:.2f}, chrF {row['chrF']:.1f}, heard chrF {row['asrChrF']:.1f}, "
          f"Spanish {row['spanishShare']:.0%}, {row['wallS']:.0f} s", flush=True)


def table(result: dict[str, Any]) -> str:
    lines = [MARK_BEGIN, "",
             (f"Last run: {result['when']} on {result['machine']['cpu']} ({result['machine']['cores']} cores); "
             f"clip: {result['clipSeconds']:.0f} s, {result['prompts']} Asterisk prompts, en->es "
             f"(raw: `{result['raw']}`)."), "",
             ("| path | translator | voice rung | ASR WER | chrF (text) | ASR-chrF (heard) | Spanish spans | "
              "duration fit | wall (x real time) |"),
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in result["runs"]:
        fit = "" if row["fitErrorS"] is None else f"{row['fitErrorS']:.2f} s"
        path = ("`livedub dub`" if row.get("path", "file") == "file"
                else f"live (`livedub worker`, {row.get('delayS', 0):g} s delay)")
        lines.append(f"| {path} | {row['translator']} | {row['quality']} | {row['asrWer']:.2f} | {row['chrF']:.1f} | "
                     f"{row['asrChrF']:.1f} | {row['spanishShare']:.0%} | {fit} | "
                     f"{row['wallS']:.0f} s ({row['realTimeFactor']:.2f}) |")
    lines += ["", MARK_END]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the fast rung, both translators (~1.5 min)")
    parser.add_argument("--no-live", action="store_true", help="skip the live path (a real-time run, about 2 min)")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args()
    why = asterisk_corpus.available()
    if why:
        print(f"dub_quality: {why}", file=sys.stderr)
        return 2
    from tests.listener import reference_whisper

    whisper = reference_whisper()
    runs = QUICK if args.quick else RUNS
    with tempfile.TemporaryDirectory(prefix="livedub-dub-quality-") as tmp:
        clip = make_speech_clip(Path(tmp) / "speech.flv", asterisk_corpus.prompts(), music=MUSIC)
        rows = []
        total = len(runs) + (0 if args.no_live else 1)
        for index, (translator, quality) in enumerate(runs, 1):
            print(f"[{index}/{total}] livedub dub --translator {translator}, WORKER_QUALITY={quality} ...",
                  flush=True)
            rows.append(measure(clip, translator, quality, whisper, Path(tmp)))
            _report(rows[-1])
        if not args.no_live:
            print(f"[{total}/{total}] live: published in real time to livedub worker (real mode) ...", flush=True)
            rows.append(measure_live(clip, whisper, Path(tmp)))
            _report(rows[-1])
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    args.results.mkdir(parents=True, exist_ok=True)
    raw = args.results / f"dub_quality-{stamp}.json"
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
              "clipSeconds": clip.duration_s, "prompts": len(clip.prompts), "runs": rows,
              "raw": str(raw.relative_to(ROOT)) if raw.is_relative_to(ROOT) else str(raw)}
    raw.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {raw}")
    if not args.no_docs:
        replace_block(args.docs, MARK_BEGIN, MARK_END, table(result), "Dub quality (bench/dub_quality.py)")
        print(f"updated {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
