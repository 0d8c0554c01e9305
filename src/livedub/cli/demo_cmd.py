"""`livedub demo`: up + publish a bundled clip + record the output + summary."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from livedub.cli.common import fail, settings_or_exit, start_command
from livedub.config.loader import is_set_in_env
from livedub.config.settings import MediaSettings, OrchestratorSettings, PathSettings, StsMode, WorkerSettings
from livedub.demo.clip import ClipError, build_demo_clip, clip_path
from livedub.demo.run import DemoError, run_demo
from livedub.media.base import MediaServerError
from livedub.stack import LocalStack, StackError

DEFAULT_MODE = "real"


DEMO_GRACE_MARGIN_S = 1.0


@click.command(name="demo")
@click.option("--sts-mode", type=click.Choice(["bypass", "mock", "real"]), default=None,
              help=f"Override WORKER_STS_MODE (demo default: {DEFAULT_MODE}).")
@click.option("--target-lang", default=None, help="Override WORKER_TARGET_LANG.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the recording and summary go (default: $LIVEDUB_DATA_DIR/demo).")
def demo_cmd(sts_mode: str | None, target_lang: str | None, output_dir: Path | None) -> None:
    """Run the whole system on a bundled clip (real speech over music) and summarise what a viewer got."""
    start_command("demo", {"format": "console"})
    mode = sts_mode or (None if is_set_in_env(WorkerSettings, "sts_mode") else DEFAULT_MODE)
    worker = settings_or_exit(WorkerSettings, {"sts_mode": mode, "target_lang": target_lang})  # delay by mode
    media_settings = settings_or_exit(MediaSettings)
    orch_settings = settings_or_exit(OrchestratorSettings)
    paths = settings_or_exit(PathSettings)
    out_dir = output_dir or Path(paths.data_dir) / "demo"
    console = Console()
    try:
        clip = build_demo_clip(clip_path(out_dir))
    except ClipError as exc:
        fail(str(exc), code=1)
    console.print(f"[bold]livedub demo[/]: {clip.duration:.1f}s clip, mode [bold]{worker.sts_mode.value}[/] "
                  f"({worker.source_lang}->{worker.target_lang}, delay {worker.buffer_target:g}s, "
                  f"{worker.max_inflight} speech segment(s) in flight). {clip.credits}")
    if worker.sts_mode is StsMode.real:
        console.print("  real speech-to-speech on this machine's CPU: the worker loads its models first (a few "
                      "seconds), and the output starts a delay later")
    # the demo's publisher never comes back: the worker need not wait ORCH_GRACE_PERIOD (30 s) for a
    # reconnect (WORKER_INPUT_RECONNECT follows it), only long enough for its delayed output to play
    # out (the grace period's end stops the worker)
    grace_s = worker.buffer_target + DEMO_GRACE_MARGIN_S
    extra_env = {"WORKER_STS_MODE": worker.sts_mode.value, "WORKER_TARGET_LANG": worker.target_lang,
                 "ORCH_GRACE_PERIOD": f"{grace_s:g}s"}
    stack = LocalStack(media_settings, orch_settings, log_dir=out_dir / "logs", extra_env=extra_env)
    try:
        with stack:
            result = run_demo(stack, clip, out_dir, Path(paths.data_dir),
                              status=lambda msg: console.print(f"  {msg}"))
    except (StackError, MediaServerError, DemoError) as exc:
        fail(f"demo failed: {exc}", code=1)
    summary = result.summary()
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = Table(title="demo summary", show_header=False)
    i, o = result.input, result.output
    table.add_row("recording", str(result.recording))
    table.add_row("video", f"{o.video_codec}, {o.video_frames} frames decoded of {i.video_frames} in the clip "
                           f"(the worker joins at the first keyframe after it connects), "
                           f"{o.decode_errors} decode errors")
    table.add_row("audio", f"{o.audio_codec}, {o.audio_seconds:.2f}s (input {i.audio_seconds:.2f}s)")
    table.add_row("duration", f"output {o.video_seconds:.2f}s vs input {i.video_seconds:.2f}s")
    table.add_row("A/V sync", f"audio-video start offset {o.av_start_offset_ms:+.0f} ms "
                              f"(input {i.av_start_offset_ms:+.0f} ms)")
    delay = f"{result.worker_delay_ms / 1000:.2f}s" if result.worker_delay_ms is not None else "not reported"
    table.add_row("added delay", f"{delay} (worker's constant A/V offset); output live "
                                 f"{result.first_output_after_s:.1f}s after publishing started")
    table.add_row("worker", f"restarts {result.worker.get('restarts')}, failures {result.worker.get('failures')}")
    counts = summary.get("fragments")
    if counts:
        reasons = ", ".join(f"{reason} {n}" for reason, n in counts["fallbackReasons"].items())
        tiers = ", ".join(f"{tier} {n}" for tier, n in counts["tiers"].items())
        table.add_row("fragments", f"{counts['total']}: {counts['dubbed']} dubbed, {counts['fallback']} fallback"
                                   + (f" ({reasons})" if reasons else "") + f", {counts['noSpeech']} without speech")
        table.add_row("speech segments", f"{counts['segmentsDubbed']} of {counts['segments']} dubbed"
                                         + (f", voiced by {tiers}" if tiers else "")
                                         + f"; run bundle {summary['runBundle']}")
        for line in summary["dub"]:
            table.add_row(f"  #{line['sequence']}", f"{line['transcript']} -> {line['translation']}")
    elif worker.sts_mode is not StsMode.bypass:
        table.add_row("fragments", "no run bundle found")
    console.print(table)
    console.print(f"summary written to {out_dir / 'summary.json'}")
    ok = o.video_codec == "h264" and o.audio_codec == "aac" and o.decode_errors == 0 and o.video_frames > 0
    if not ok:
        fail("the output is not a clean H.264/AAC stream; see the summary above", code=1)
