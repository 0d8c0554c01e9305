"""`livedub worker-host`: the compose `stream-worker` service, hosting worker processes over HTTP."""

from __future__ import annotations

import logging
import shutil

import click

from livedub.cli.common import EXIT_RUNTIME, fail, settings_or_exit, start_command
from livedub.config.settings import WorkerHostSettings


@click.command(name="worker-host", help=(
    "Run the stream-worker host: the orchestrator (ORCH_LAUNCHER=host) asks it over HTTP to start and "
    "stop one worker process per stream, so it needs no Docker socket. Settings: WORKER_HOST_* (see "
    "docs/worker-host.md); workers inherit this process's WORKER_* settings."))
@click.option("--http-addr", help="host:port to listen on (WORKER_HOST_HTTP_ADDR).")
@click.option("--worker-command", help="Command that starts a worker (WORKER_HOST_WORKER_COMMAND).")
@click.option("--log-level", help="DEBUG, INFO, WARNING or ERROR (LOG_LEVEL).")
def worker_host_cmd(http_addr: str | None, worker_command: str | None, log_level: str | None) -> None:
    start_command("stream-worker-host", {"level": log_level})
    settings = settings_or_exit(WorkerHostSettings, {"http_addr": http_addr, "worker_command": worker_command})

    # imported here so `livedub --help` stays fast
    from livedub.proc.launcher import parse_worker_command
    from livedub.proc.serve import bind_socket, serve_forever
    from livedub.workerhost import host_from_settings
    from livedub.workerhost.app import create_app

    try:
        argv = parse_worker_command(settings.worker_command)
    except ValueError as exc:
        fail(f"invalid WORKER_HOST_WORKER_COMMAND: {exc}")
    if shutil.which(argv[0]) is None:
        fail(f"invalid WORKER_HOST_WORKER_COMMAND: {argv[0]!r} is not an executable on PATH")
    try:
        sock = bind_socket(settings.http_addr)
    except OSError as exc:
        fail(f"cannot listen on WORKER_HOST_HTTP_ADDR={settings.http_addr}: {exc.strerror or exc}",
             code=EXIT_RUNTIME)
    stopped_by = serve_forever(create_app(host_from_settings(settings)), sock)
    if stopped_by:
        logging.getLogger(__name__).info("stopped by signal", extra={"signal": stopped_by})
