"""`livedub worker`: one stream worker (normally started by the orchestrator). Exit codes: docs/worker.md."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

import click

from livedub.cli.common import fail, settings_or_exit, start_command
from livedub.config.settings import PathSettings, StsMode, WorkerSettings


def _check_urls(settings: WorkerSettings) -> None:
    from livedub.media.paths import parse_rtmp_url, source_scheme

    missing = [name for name, value in (("WORKER_STREAM_ID (--stream-id)", settings.stream_id),
                                        ("WORKER_INPUT_URL (--input-url)", settings.input_url),
                                        ("WORKER_OUTPUT_URL (--output-url)", settings.output_url)) if not value]
    if missing:
        fail(f"missing setting(s): {', '.join(missing)}")
    try:
        scheme = source_scheme(settings.input_url)
    except ValueError:
        fail("invalid WORKER_INPUT_URL: expected rtsp://host:port/live/<id>/in or rtmp://host:port/live/<id>/in")
    try:
        if scheme.startswith("rtmp"):
            parse_rtmp_url(settings.input_url)
        parse_rtmp_url(settings.output_url)
    except ValueError as exc:
        fail(f"invalid worker URL: {exc}")


@click.command(name="worker")
@click.option("--stream-id", help="Stream id (WORKER_STREAM_ID).")
@click.option("--input-url", help="rtsp:// (TCP) or rtmp:// input (WORKER_INPUT_URL).")
@click.option("--output-url", help="rtmp:// output (WORKER_OUTPUT_URL).")
@click.option("--sts-mode", type=click.Choice([m.value for m in StsMode]), help="WORKER_STS_MODE.")
@click.option("--buffer-target", help="Constant delay added to audio and video, e.g. 500ms (WORKER_BUFFER_TARGET).")
@click.option("--input-timeout", help="How long to wait for the input, e.g. 30s (WORKER_INPUT_TIMEOUT).")
@click.option("--metrics-port", type=int, help="Prometheus port, 0 = any free port (WORKER_METRICS_PORT).")
@click.option("--metrics-host", default=None,
              help="Address the metrics endpoint binds, 0.0.0.0 in containers (WORKER_METRICS_HOST).")
@click.option("--run-id", default=None,
              help="Stream session id for logs and the run bundle (WORKER_RUN_ID; generated when empty).")
@click.option("--standby", is_flag=True, default=None,
              help="Load the models first, then read the stream's identity from stdin (WORKER_STANDBY).")
@click.option("--log-level", default=None, help="LOG_LEVEL override.")
def worker_cmd(stream_id: str | None, input_url: str | None, output_url: str | None, sts_mode: str | None,
               buffer_target: str | None, input_timeout: str | None, metrics_port: int | None,
               metrics_host: str | None, run_id: str | None, standby: bool | None, log_level: str | None) -> None:
    """Run one stream worker: pull the input, pass audio through the audio path, push the output.

    Video is copied (never re-encoded); audio is decoded to PCM, processed (bypass, mock or real
    speech-to-speech), re-encoded to AAC; both leave with the same constant delay. Exits 0 at end of
    stream, 1 on a pipeline error, 2 on invalid settings or a missing model, 3 when the input does
    not appear in time, 4 when it is not H.264 + AAC, 5 when GStreamer is missing.

    With --standby it starts before its stream exists (a launcher's warm worker): it loads the
    models, then reads the stream's identity as one JSON line on stdin (exit 0 on end of file).
    """
    start_command("worker", {"level": log_level})
    overrides = {
        "stream_id": stream_id, "input_url": input_url, "output_url": output_url, "sts_mode": sts_mode,
        "buffer_target": buffer_target, "input_timeout": input_timeout, "metrics_port": metrics_port,
        "metrics_host": metrics_host, "run_id": run_id, "standby": standby,
    }
    settings = settings_or_exit(WorkerSettings, overrides)
    paths = settings_or_exit(PathSettings)
    from livedub.worker.run import Prepared, prepare_standby, run_worker

    prepared = None
    if settings.standby:
        prepared = prepare_standby(settings, paths)
        if not isinstance(prepared, Prepared):
            sys.exit(int(prepared))
        settings = _assigned(overrides)
    _check_urls(settings)
    sys.exit(int(run_worker(settings, paths, prepared)))


def _assigned(overrides: dict[str, Any]) -> WorkerSettings:
    """Wait for the launcher's assignment; the settings of the assigned stream (exit 0: none came)."""
    from livedub.proc.standby import AssignmentError, read_assignment

    try:
        assignment = read_assignment(sys.stdin)
    except AssignmentError as exc:
        fail(str(exc))
    if assignment is None:
        sys.exit(0)  # the launcher closed stdin: this standby was not needed
    return settings_or_exit(WorkerSettings, {**overrides, **asdict(assignment), "standby": False})
