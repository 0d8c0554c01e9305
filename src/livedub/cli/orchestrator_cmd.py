"""`livedub orchestrator`: the stream-orchestration service in the foreground (the container entry)."""

from __future__ import annotations

import importlib.util
import logging
import shutil
from collections.abc import Callable
from urllib.parse import urlsplit

import click

from livedub.cli.common import EXIT_RUNTIME, fail, settings_or_exit, start_command
from livedub.config.settings import (
    EgressSettings,
    Launcher,
    MediaSettings,
    OrchestratorSettings,
    PathSettings,
)


@click.command(name="orchestrator", help=(
    "Run the stream-orchestration service: receives the media server's ready/not-ready hook events "
    "and keeps exactly one stream worker per published live/<id>/in path. Settings: ORCH_* and "
    "MEDIA_* variables (see docs/orchestrator.md); flags override them."))
@click.option("--http-addr", help="host:port to listen on (ORCH_HTTP_ADDR).")
@click.option("--grace-period", help="Keep a worker this long after not-ready, e.g. 30s (ORCH_GRACE_PERIOD).")
@click.option("--max-workers", type=int, help="Most streams processed at once (ORCH_MAX_WORKERS).")
@click.option("--worker-command", help="Command that starts a worker (ORCH_WORKER_COMMAND).")
@click.option("--reconcile-interval", help="How often to compare with the media server (ORCH_RECONCILE_INTERVAL).")
@click.option("--log-level", help="DEBUG, INFO, WARNING or ERROR (LOG_LEVEL).")
def orchestrator_cmd(http_addr: str | None, grace_period: str | None, max_workers: int | None,
                     worker_command: str | None, reconcile_interval: str | None, log_level: str | None) -> None:
    start_command("stream-orchestration", {"level": log_level})
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per reconcile request is noise
    settings = settings_or_exit(OrchestratorSettings, {
        "http_addr": http_addr, "grace_period": grace_period, "max_workers": max_workers,
        "worker_command": worker_command, "reconcile_interval": reconcile_interval})
    media_settings = settings_or_exit(MediaSettings)
    egress = settings_or_exit(EgressSettings)
    paths = settings_or_exit(PathSettings)  # LIVEDUB_DATA_DIR: stream settings kept across restarts

    # imported here so `livedub --help` stays fast
    from livedub.media.select import create_media_server
    from livedub.orchestrator.service import OrchestratorService, bind_socket
    from livedub.proc.launcher import parse_worker_command

    if settings.launcher == Launcher.host:
        _check_host_url(settings.worker_host_url)
    elif settings.launcher == Launcher.ray:
        _check_ray(settings.ray_address)  # ORCH_WORKER_COMMAND runs on the nodes: not checked here
    else:
        _check_command("ORCH_WORKER_COMMAND", settings.worker_command, parse_worker_command)
    if egress.enabled:
        from livedub.egress.supervisor import parse_forward_command

        if egress.url is None:
            fail("EGRESS_ENABLED=true needs EGRESS_URL (the third-party rtmp:// URL with its stream key)")
        _check_command("EGRESS_FORWARD_COMMAND", egress.forward_command, parse_forward_command)
    try:
        sock = bind_socket(settings.http_addr)
    except OSError as exc:
        fail(f"cannot listen on ORCH_HTTP_ADDR={settings.http_addr}: {exc.strerror or exc}", code=EXIT_RUNTIME)
    service = OrchestratorService(settings, create_media_server(media_settings, client_only=True), egress=egress, paths=paths)
    service.serve_forever(sock)


def _check_command(variable: str, command: str, parse: Callable[[str], list[str]]) -> None:
    try:
        argv = parse(command)
    except ValueError as exc:
        fail(f"invalid {variable}: {exc}")
    if shutil.which(argv[0]) is None:
        fail(f"invalid {variable}: {argv[0]!r} is not an executable on PATH")


def _check_ray(address: str) -> None:
    if not address:
        fail("ORCH_LAUNCHER=ray needs ORCH_RAY_ADDRESS (the Ray head, e.g. ray-head:6379, or auto)")
    if importlib.util.find_spec("ray") is None:
        fail("ORCH_LAUNCHER=ray needs Ray: install the cluster extra (scripts/install.sh --cluster)")


def _check_host_url(url: str) -> None:
    parts = urlsplit(url)
    if not url:
        fail("ORCH_LAUNCHER=host needs ORCH_WORKER_HOST_URL (e.g. http://stream-worker:8090)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"invalid ORCH_WORKER_HOST_URL={url!r}: expected http://host:port")
