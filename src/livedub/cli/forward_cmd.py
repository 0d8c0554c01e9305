"""`livedub forward`: one egress forwarder (normally started by the orchestrator). See docs/egress.md."""

from __future__ import annotations

import sys

import click

from livedub.cli.common import fail, settings_or_exit, start_command
from livedub.config.settings import EgressSettings
from livedub.media.paths import SOURCE_SCHEMES, has_scheme


@click.command(name="forward", help=(
    "Run one egress forwarder: pull a stream's dubbed output (live/<id>/out) and push it, codec copy, "
    "to the third-party RTMP URL in EGRESS_URL; retries with backoff until stopped (SIGTERM). The URL "
    "holds a stream key, so it is read from the environment only: a flag would show in process listings."))
@click.option("--stream-id", help="Stream id, for logs and {streamId} in EGRESS_URL (EGRESS_STREAM_ID).")
@click.option("--source-url", help="rtmp:// or rtsp:// URL of live/<id>/out (EGRESS_SOURCE_URL).")
@click.option("--retry-initial", help="First retry delay, e.g. 1s (EGRESS_RETRY_INITIAL).")
@click.option("--retry-max", help="Longest retry delay, e.g. 60s (EGRESS_RETRY_MAX).")
@click.option("--log-level", help="DEBUG, INFO, WARNING or ERROR (LOG_LEVEL).")
def forward_cmd(stream_id: str | None, source_url: str | None, retry_initial: str | None, retry_max: str | None,
                log_level: str | None) -> None:
    start_command("egress-forwarder", {"level": log_level})
    settings = settings_or_exit(EgressSettings, {"stream_id": stream_id, "source_url": source_url,
                                                 "retry_initial": retry_initial, "retry_max": retry_max})
    from livedub.egress.destination import Scrubber, ScrubFilter, parse_destination
    from livedub.obs.logging import bind_context

    if settings.url is None:
        fail("EGRESS_URL is not set (the third-party rtmp:// URL with its stream key; environment only)")
    secret_url = settings.url.get_secret_value()
    try:
        destination = parse_destination(secret_url, settings.stream_id)
    except ValueError as exc:
        fail(str(exc))
    ScrubFilter(Scrubber((*destination.secrets(), secret_url))).install()
    if not has_scheme(settings.source_url, SOURCE_SCHEMES):
        fail("EGRESS_SOURCE_URL (--source-url) must be the rtmp:// or rtsp:// URL of live/<id>/out")
    if settings.stream_id:
        bind_context(streamId=settings.stream_id)

    from livedub.egress.run import run_forwarder

    sys.exit(int(run_forwarder(settings, destination, Scrubber((*destination.secrets(), secret_url)))))
