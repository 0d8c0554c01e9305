"""`livedub up`: media server + orchestrator (+ workers on demand), publish/watch help, live status."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from livedub.cli.common import fail, settings_or_exit, start_command
from livedub.config.settings import MediaSettings, OrchestratorSettings, PathSettings, WorkerSettings
from livedub.media.base import MediaServer, MediaServerError
from livedub.stack import LocalStack, StackError

EXAMPLE_ID = "test-stream"


def publish_help(media: MediaServer, stream_id: str = EXAMPLE_ID) -> str:
    ingest = media.ingest(stream_id)
    watch = "\n".join(f"  {kind:<7} {url}" for kind, url in media.watch_urls(stream_id).items() if kind != "rtmp")
    watch = (watch + "\n" if watch else "")
    return (
        f"[bold]Publish[/] (any stream id of A-Z a-z 0-9 _ -; `{stream_id}` here)\n"
        f"  OBS     server [cyan]rtmp://{ingest.host}:{ingest.port}/{ingest.application}[/]   "
        f"stream key [cyan]{ingest.stream}[/]   (add ?lang=pt to choose the dub language)\n"
        f"  ffmpeg  ffmpeg -re -i input.mp4 -c:v libx264 -c:a aac -f flv [cyan]{ingest.ffmpeg_url}[/]\n"
        f"[bold]Watch[/] the dubbed output (a few seconds behind)\n{watch}"
        f"  ffplay  ffplay {media.output(stream_id).ffmpeg_url}"
    )


def status_table(streams: list[dict[str, Any]], delay_s: float, error: str | None) -> Table:
    table = Table(title="streams", expand=False)
    for column in ("stream", "state", "for", "pid", "delay", "restarts", "settings", "last error"):
        table.add_column(column, overflow="fold")
    colours = {"running": "green", "starting": "cyan", "stopping": "yellow", "backoff": "yellow",
               "degraded": "red", "idle": "dim"}
    for s in streams:
        state = s.get("state", "?")
        grace = s.get("graceRemainingSeconds")
        note = f" (grace {grace:.0f}s)" if grace else ""
        settings = " ".join(f"{k}={v}" for k, v in (s.get("settings") or {}).items())
        table.add_row(
            s.get("streamId", "?"), f"[{colours.get(state, 'white')}]{state}[/]{note}",
            f"{s.get('stateForSeconds', 0):.0f}s", str(s.get("pid") or "-"), f"{delay_s:g}s",
            str(s.get("restarts", 0)), settings or "-",
            (s.get("degradedReason") or s.get("lastError") or "")[:160],
        )
    if not streams:
        table.add_row("-", "[dim]waiting for a publisher[/]", "", "", "", "", "", "")
    if error:
        table.caption = f"[red]{error}[/]"
    return table


def children_down(stack: LocalStack) -> str:
    """The stack's own children that are down and being restarted, for the status line."""
    return "; ".join(
        f"{child.name} {child.last_exit}: restarting in {child.restart_in or 0:.1f}s (restart {child.restarts + 1})"
        for child in stack.children() if not child.up)


@click.command(name="up")
@click.option("--backend", type=click.Choice(["auto", "mediamtx", "nginx"]), default=None,
              help="Override MEDIA_BACKEND.")
@click.option("--rtmp-port", type=int, default=None, help="Override MEDIA_RTMP_PORT.")
@click.option("--sts-mode", type=click.Choice(["bypass", "mock", "real"]), default=None,
              help="Override WORKER_STS_MODE for the workers it starts.")
@click.option("--no-status", is_flag=True, help="Print publish help and logs only (no live table).")
def up_cmd(backend: str | None, rtmp_port: int | None, sts_mode: str | None, no_status: bool) -> None:
    """Run the whole system locally: media server, orchestrator, workers on demand. Ctrl-C stops it all."""
    start_command("up", {"format": "console"})
    media_settings = settings_or_exit(MediaSettings, {"backend": backend, "rtmp_port": rtmp_port})
    orch_settings = settings_or_exit(OrchestratorSettings)
    worker_settings = settings_or_exit(WorkerSettings, {"sts_mode": sts_mode})  # delay etc. follow the mode
    paths = settings_or_exit(PathSettings)
    extra_env = {"MEDIA_RTMP_PORT": str(media_settings.rtmp_port)}
    if backend:
        extra_env["MEDIA_BACKEND"] = backend
    if sts_mode:
        extra_env["WORKER_STS_MODE"] = sts_mode
    console = Console()
    stack = LocalStack(media_settings, orch_settings, log_dir=Path(paths.data_dir) / "logs", extra_env=extra_env)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C raises KeyboardInterrupt even where SIGINT came in ignored (a process started in the
    # background by a shell without job control inherits that, and `up` would not stop on Ctrl-C)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stack.start()
    except (StackError, MediaServerError) as exc:
        fail(str(exc), code=1)
    except KeyboardInterrupt:  # while the models load, say: nothing may stay behind
        stack.stop()
        fail("interrupted while starting", code=130)
    assert stack.media is not None
    try:
        console.print(Panel.fit(
            f"livedub is up: media server [bold]{stack.media.name}[/], orchestrator {stack.url}, "
            f"dub mode [bold]{worker_settings.sts_mode.value}[/] "
            f"({worker_settings.source_lang}->{worker_settings.target_lang})\n\n"
            + publish_help(stack.media)
            + f"\n\n[bold]Console[/] (streams, live, with a player): [cyan]{stack.url}/[/]"
            + f"\n\nLogs: {stack.log_dir}/   Stop: Ctrl-C", title="livedub up"))
        if no_status:
            stop.wait()
            return
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            while not stop.is_set():
                error = None
                try:
                    streams = stack.streams()
                except httpx.HTTPError as exc:
                    streams, error = [], f"orchestrator not answering: {exc}"
                down = children_down(stack)
                error = "; ".join(filter(None, [down, error])) or None
                live.update(Group(status_table(streams, worker_settings.buffer_target, error),
                                  Text("Ctrl-C to stop", style="dim")))
                stop.wait(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping: workers, orchestrator, media server ...")
        stack.stop()
        console.print("stopped.")
