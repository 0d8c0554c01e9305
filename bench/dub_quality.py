#!/usr/bin/env python3
"""How good is the dub: `livedub dub` on real speech, per translator and voice rung.

    .venv/bin/python bench/dub_quality.py           # 4 runs: apertium/llm x natural/fast, about 3 minutes
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
from tests import asterisk_corpus
from tests.e2e.file_dub import dub
from tests.e2e.media_analysis import RATE, SpeechClip, audio_track, make_speech_clip
from tests.e2e.text_metrics import chrf, wer

MUSIC = "macroform-cold_day.wav"
RUNS = (("apertium", "natural"), ("llm", "natural"), ("apertium", "fast"), ("llm", "fast"))
QUICK = (("apertium", "fast"), ("llm", "fast"))
MARK_BEGIN, MARK_END = "<!-- DUB_QUALITY:BEGIN -->", "<!-- DUB_QUALITY:END -->"


def measure(clip: SpeechClip, translator: str, quality: str, whisper: Any, out: Path) -> dict[str, Any]:
    started = time.monotonic()
    run = dub(clip, out / f"{translator}-{quality}.mp4", "--translator", translator,
              env_extra={"WORKER_QUALITY": quality})
    wall = time.monotonic() - started
    english = " ".join(p.english for p in clip.prompts)
    spanish = asterisk_corpus.fold(" ".join(p.spanish for p in clip.prompts))
    said = " ".join(c.text for c in run.spanish)
    start, audio = audio_track(run.output)
    heard, languages = [], []
    for lo, hi in clip.speech_spans:
        span = audio[max(0, round((lo - 0.2 - start) * RATE)):round((hi + 1.0 - start) * RATE)]
        result = whisper.transcribe(span[::3].copy(), language=None)  # 48 -> 16 kHz
        heard.append(result.text)
        languages.append(result.language)
    fit = []
    for lo, hi in clip.speech_spans:
        cues = [c for c in run.spanish if lo - 0.5 <= c.start_s < hi]
        if cues:
            fit.append(abs((cues[-1].end_s - cues[0].start_s) - (hi - lo)))
    return {"translator": translator, "quality": quality,
            "asrWer": round(wer(" ".join(c.text for c in run.english), english), 3),
            "chrF": round(chrf(asterisk_corpus.fold(said), spanish), 1),
            "asrChrF": round(chrf(asterisk_corpus.fold(" ".join(heard)), spanish), 1),
            "spanishShare": round(languages.count("es") / len(languages), 2),
            "fitErrorS": round(sum(fit) / len(fit), 2) if fit else None,
            "wallS": round(wall, 1), "realTimeFactor": round(wall / clip.duration_s, 2),
            "said": said, "heard": heard, "languages": languages}


def table(result: dict[str, Any]) -> str:
    lines = [MARK_BEGIN, "",
             (f"Last run: {result['when']} on {result['machine']['cpu']} ({result['machine']['cores']} cores); "
             f"clip: {result['clipSeconds']:.0f} s, {result['prompts']} Asterisk prompts, en->es "
             f"(raw: `{result['raw']}`)."), "",
             ("| translator | voice rung | ASR WER | chrF (text) | ASR-chrF (heard) | Spanish spans | duration fit | "
             "wall (x real time) |"),
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in result["runs"]:
        fit = "" if row["fitErrorS"] is None else f"{row['fitErrorS']:.2f} s"
        lines.append(f"| {row['translator']} | {row['quality']} | {row['asrWer']:.2f} | {row['chrF']:.1f} | "
                     f"{row['asrChrF']:.1f} | {row['spanishShare']:.0%} | {fit} | "
                     f"{row['wallS']:.0f} s ({row['realTimeFactor']:.2f}) |")
    lines += ["", MARK_END]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the fast rung, both translators (~1.5 min)")
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
        for index, (translator, quality) in enumerate(runs, 1):
            print(f"[{index}/{len(runs)}] livedub dub --translator {translator}, WORKER_QUALITY={quality} ...",
                  flush=True)
            rows.append(measure(clip, translator, quality, whisper, Path(tmp)))
            row = rows[-1]
            print(f"  ASR WER {row['asrWer']:.2f}, chrF {row['chrF']:.1f}, heard chrF {row['asrChrF']:.1f}, "
                  f"Spanish {row['spanishShare']:.0%}, {row['wallS']:.0f} s", flush=True)
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
