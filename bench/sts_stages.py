#!/usr/bin/env python3
"""Per-stage real-time factors of the STS providers on a short real speech clip.

    .venv/bin/python bench/sts_stages.py                 # CPU, the default offline providers
    .venv/bin/python bench/sts_stages.py --device cuda   # on a GPU machine (falls back to CPU, logged)

Real-time factor (RTF) = compute seconds / seconds of audio the stage handled (input audio for
separation, VAD and ASR; synthesized audio for TTS; stretched audio for time-stretch). Below 1.0
is faster than real time. Translation is reported in milliseconds per sentence. Each measurement
is the median of ``--repeat`` runs after one warm-up run. Results go to bench/results/*.json and
the summary table in docs/benchmarks.md (between the BENCH markers) is rewritten.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench._common import replace_block
from livedub.config import load_settings
from livedub.config.settings import PathSettings
from livedub.core.messages import AudioFragment
from livedub.sts import StsConfig, StsPipeline, registry
from livedub.sts.audio import resample
from livedub.sts.registry import LoadContext, Stage
from livedub.sts.voices import resolve_voice

CLIPS = (Path("/usr/share/asterisk/sounds/en_US_f_Allison/demo-congrats.wav"),
         Path("/usr/share/asterisk/sounds/en/demo-congrats.wav"))
SENTENCES = ("Congratulations, you have successfully installed the system.",
             "All circuits are busy now, please try your call again later.",
             "The weather in the west will be cold and windy tomorrow.")
SPANISH = "Felicitaciones, ha instalado y ejecutado con éxito el sistema de centralita."
ENGLISH = "Congratulations, you have successfully installed and executed the phone system."
MARK_BEGIN, MARK_END = "<!-- BENCH:BEGIN -->", "<!-- BENCH:END -->"


def load_clip(path: Path | None, seconds: float) -> tuple[np.ndarray, str]:
    if path is None:
        path = next((p for p in CLIPS if p.is_file()), None)
    if path is None:  # synthetic speech as a last resort
        out = Path("/tmp/livedub-bench-speech.wav")
        subprocess.run(["espeak-ng", "-w", str(out), " ".join(SENTENCES)], check=True)
        path = out
    with wave.open(str(path), "rb") as source:
        data = np.frombuffer(source.readframes(source.getnframes()), "<i2").astype(np.float32) / 32768
        rate, channels = source.getframerate(), source.getnchannels()
    mono = data.reshape(-1, channels).mean(axis=1) if channels > 1 else data
    mono = mono[: int(seconds * rate)]
    return resample(mono, rate, 48_000), str(path)


def timed(repeat: int, call: Callable[[], Any]) -> tuple[float, Any]:
    call()  # warm-up: lazy initialisation is reported as load time, not here
    durations, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations), result


def load(stage: Stage, name: str, ctx: LoadContext) -> tuple[Any, float] | None:
    status = registry.spec(stage, name).availability()
    if not status.ok:
        print(f"  skip {stage.value}/{name}: {status.reason}")
        return None
    started = time.perf_counter()
    provider = registry.create(stage, name, ctx)
    return provider, time.perf_counter() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    paths = load_settings(PathSettings)
    ctx = LoadContext(device=args.device, model_dir=paths.model_dir, hf_home=paths.hf_home,
                      tts_home=paths.tts_home, cpu_threads=args.threads)
    speech48, clip = load_clip(args.clip, args.seconds)
    seconds = len(speech48) / 48_000
    speech16 = resample(speech48, 48_000, 16_000)
    stereo = np.stack([speech48, speech48], axis=1)
    rows: list[dict[str, Any]] = []

    def add(stage: str, provider: str, compute_s: float, audio_s: float | None, load_s: float, note: str = "",
            ms_per_item: float | None = None) -> None:
        row = {"stage": stage, "provider": provider, "compute_s": round(compute_s, 4), "load_s": round(load_s, 3),
               "audio_s": None if audio_s is None else round(audio_s, 3),
               "rtf": None if not audio_s else round(compute_s / audio_s, 4),
               "ms_per_item": None if ms_per_item is None else round(ms_per_item, 2), "note": note}
        rows.append(row)
        shown = f"rtf {row['rtf']}" if row["rtf"] is not None else f"{row['ms_per_item']} ms/sentence"
        print(f"  {stage:<10} {provider:<14} {shown:<22} load {row['load_s']} s  {note}")

    print(f"clip {clip}: {seconds:.1f} s; device {args.device}; threads {args.threads or os.cpu_count()}")
    for name in ("deepfilternet", "duck"):
        if (loaded := load(Stage.separator, name, ctx)):
            provider, load_s = loaded
            compute, _ = timed(args.repeat, lambda p=provider: p.separate(stereo))
            add("separator", name, compute, seconds, load_s)
    for name in ("silero", "energy"):
        if (loaded := load(Stage.vad, name, ctx)):
            provider, load_s = loaded
            compute, _ = timed(args.repeat, lambda p=provider: p.speech_probabilities(speech16))
            add("vad", name, compute, seconds, load_s)
    for name in ("whisper-base",):
        if (loaded := load(Stage.asr, name, ctx)):
            provider, load_s = loaded
            compute, transcript = timed(args.repeat, lambda p=provider: p.transcribe(speech16, language="en"))
            add("asr", name, compute, seconds, load_s, note=transcript.text[:60])
            compute, transcript = timed(1, lambda p=provider: p.transcribe(speech16, language=None))
            add("asr", f"{name} (detect)", compute, seconds, 0.0, note=f"language {transcript.language}")
    for name, (source, target) in (("apertium", ("en", "es")), ("bergamot", ("en", "pt"))):
        if (loaded := load(Stage.mt, name, ctx)):
            provider, load_s = loaded
            counter = iter(range(10**6))  # fresh sentences every run: translators may cache results

            def batch(provider=provider, source=source, target=target, counter=counter):
                run_number = next(counter)
                return [provider.translate(f"{s[:-1]} {run_number}.", source=source, target=target)
                        for s in SENTENCES]

            compute, out = timed(args.repeat, batch)
            add("mt", f"{name} {source}-{target}", compute, None, load_s,
                ms_per_item=compute / len(SENTENCES) * 1000, note=out[0].text[:60])
    for name, voice, text in (("kokoro", "es-dora", SPANISH), ("piper", "en-joe", ENGLISH)):
        if (loaded := load(Stage.tts, name, ctx)):
            provider, load_s = loaded
            profile = resolve_voice(voice, "es" if voice.startswith("es") else "en")
            compute, out = timed(args.repeat, lambda p=provider, t=text, v=profile: p.synthesize(t, v))
            add("tts", f"{name} {voice}", compute, out.duration_s, load_s, note=f"{out.duration_s:.2f} s of speech")
    tone = (0.3 * np.sin(2 * np.pi * 180 * np.arange(24_000 * 4) / 24_000)).astype(np.float32)
    for name in ("rubberband", "ola"):
        if (loaded := load(Stage.stretcher, name, ctx)):
            provider, load_s = loaded
            compute, out = timed(args.repeat, lambda p=provider: p.stretch(tone, 24_000, 1.5))
            add("stretch", f"{name} x1.5", compute, len(out) / 24_000, load_s)

    # the whole pipeline, fragment by fragment, as the streaming core calls it
    pipeline_row = None
    try:
        config = StsConfig.from_settings(
            load_settings_worker(args), paths, load=ctx)
        pipeline = StsPipeline.build(config)
        pipeline.warm_up()
        fragment_samples = int(args.fragment * 48_000)
        pcm = (np.clip(stereo, -1, 1) * 32767).astype(np.int16)
        started = time.perf_counter()
        spoken = []
        for sequence, start in enumerate(range(0, len(pcm) - fragment_samples // 2, fragment_samples)):
            chunk = pcm[start:start + fragment_samples]
            fragment = AudioFragment(id=f"bench-{sequence}", stream_id="bench", sequence=sequence,
                                     start_pts=start * 10**9 // 48_000, duration=len(chunk) * 10**9 // 48_000,
                                     samples=chunk)
            outcome = pipeline.process_detailed(fragment)
            if outcome.translation:
                spoken.append(outcome.translation.text)
        compute = time.perf_counter() - started
        stats = pipeline.stats
        add("pipeline", f"{args.source}->{args.target}", compute, seconds, 0.0,
            note=f"{stats.fragments} fragments of {args.fragment} s; trimmed {stats.trimmed}")
        pipeline_row = {"stage_seconds": {k: round(v, 3) for k, v in stats.stage_seconds.items()},
                        "dub": " ".join(spoken)[:300]}
    except Exception as exc:  # noqa: BLE001 - the per-stage numbers above still stand
        print(f"  pipeline skipped: {exc}")

    return {"clip": clip, "clip_seconds": round(seconds, 2), "device": args.device,
            "threads": args.threads or os.cpu_count(), "repeat": args.repeat,
            "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                        "cpus": os.cpu_count()},
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows, "pipeline": pipeline_row}


def load_settings_worker(args: argparse.Namespace):
    from livedub.config.settings import WorkerSettings

    return WorkerSettings(source_lang=args.source, target_lang=args.target, device=args.device)


def write_summary(result: dict[str, Any], docs: Path, json_name: str) -> None:
    lines = [MARK_BEGIN, "",
             (f"Last run: {result['date']}, device `{result['device']}`, {result['threads']} threads, "
              f"clip `{Path(result['clip']).name}` ({result['clip_seconds']} s), median of {result['repeat']} "
              f"(raw: `bench/results/{json_name}`)."), "",
             "| stage | provider | real-time factor | ms / sentence | load (s) | note |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    for row in result["rows"]:
        rtf = "" if row["rtf"] is None else f"{row['rtf']:.3f}"
        ms = "" if row["ms_per_item"] is None else f"{row['ms_per_item']:.1f}"
        note = row["note"].replace("|", "/")
        lines.append(f"| {row['stage']} | {row['provider']} | {rtf} | {ms} | {row['load_s']:.2f} | {note} |")
    lines += ["", MARK_END]
    replace_block(docs, MARK_BEGIN, MARK_END, "\n".join(lines), "STS stages (bench/sts_stages.py)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    parser.add_argument("--clip", type=Path, default=None, help="WAV file of speech (default: an Asterisk prompt)")
    parser.add_argument("--seconds", type=float, default=8.0, help="use the first N seconds of the clip")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per model (0: all cores)")
    parser.add_argument("--fragment", type=float, default=2.0, help="fragment length for the pipeline run")
    parser.add_argument("--source", default="en")
    parser.add_argument("--target", default="es")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args()
    result = run(args)
    args.results.mkdir(parents=True, exist_ok=True)
    name = f"sts_stages-{args.device}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    (args.results / name).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.results / name}")
    if not args.no_docs:
        write_summary(result, args.docs, name)
        print(f"updated {args.docs}")


if __name__ == "__main__":
    main()
