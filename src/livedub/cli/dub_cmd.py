"""`livedub dub IN -o OUT`: dub a media file through the same streaming core as the live worker."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from livedub.cli.common import fail, settings_or_exit, start_command
from livedub.config.loader import is_set_in_env
from livedub.config.settings import PathSettings, WorkerSettings
from livedub.core.processor import Unavailable
from livedub.dubbing.file import FILE_DEFAULTS, DubError, dub_file, probe, quality_first


@click.command(name="dub")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the dubbed file (container from its extension, e.g. .mp4).")
@click.option("--sts-mode", type=click.Choice(["bypass", "mock", "real"]), default=None,
              help="Override WORKER_STS_MODE (default for dub: real).")
@click.option("--source-lang", default=None, help="Override WORKER_SOURCE_LANG.")
@click.option("--target-lang", default=None, help="Override WORKER_TARGET_LANG.")
@click.option("--voice", "tts_voice", default=None, help="Override WORKER_TTS_VOICE.")
@click.option("--translator", "mt", default=None,
              help="Override WORKER_MT (default for dub: llm when installed, else auto).")
@click.option("--fallback", default=None, help="Override WORKER_FALLBACK.")
def dub_cmd(source: Path, output: Path, sts_mode: str | None, source_lang: str | None,
            target_lang: str | None, tts_voice: str | None, mt: str | None, fallback: str | None) -> None:
    """Dub a media file: speech replaced by the translated voice, video copied unchanged.

    Exits 0 when written, 1 when the file cannot be read or written, 2 on invalid settings or a
    missing model, package or voice (the message says how to fix it)."""
    start_command("dub", {"format": "console"})
    # dubbing a file means real dubbing unless the user chose otherwise, in the env or with a flag
    mode = sts_mode or (None if is_set_in_env(WorkerSettings, "sts_mode") else "real")
    unset = {key: value for key, value in FILE_DEFAULTS.items() if not is_set_in_env(WorkerSettings, key)}
    worker = settings_or_exit(WorkerSettings, {"sts_mode": mode, "source_lang": source_lang,
                                               "target_lang": target_lang, "tts_voice": tts_voice, "mt": mt,
                                               "fallback": fallback, "stream_id": "dub", **unset})
    if mt is None and not is_set_in_env(WorkerSettings, "mt"):
        worker = quality_first(worker)
    paths = settings_or_exit(PathSettings)
    console = Console(stderr=True)
    try:
        total = probe(source).duration or None
        with Progress(TextColumn("[bold]dubbing[/] {task.description}"), BarColumn(),
                      TextColumn("{task.completed:.1f}/{task.total:.1f}s"), TimeRemainingColumn(),
                      console=console, transient=False) as progress:
            task = progress.add_task(source.name, total=total)
            report = dub_file(source, output, worker, paths,
                              on_progress=lambda done: progress.update(task, completed=done))
    except Unavailable as exc:  # a missing model, package or voice: fix the install or the settings
        fail(str(exc), code=2)
    except DubError as exc:
        fail(str(exc), code=1)
    stats = report.replay.stats
    fallbacks = ", ".join(f"{k}: {v}" for k, v in stats.fallbacks.items()) or "none"
    console.print(f"wrote [bold]{report.output}[/] ({report.duration:.1f}s; mode {worker.sts_mode.value}, "
                  f"{worker.source_lang}->{worker.target_lang}, translator {worker.mt}); fragments {stats.emitted}, "
                  f"dubbed {stats.dubbed}, fallbacks {fallbacks}")
    if report.captions:
        console.print("captions: " + ", ".join(str(path) for path in report.captions))
