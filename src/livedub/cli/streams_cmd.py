"""`livedub streams`: what the orchestrator is doing, and the operator's stop/restart (its HTTP API)."""

from __future__ import annotations

from typing import Any

import click
import httpx

from livedub.cli.common import EXIT_RUNTIME, fail, settings_or_exit
from livedub.config.settings import OrchestratorSettings

URL_HELP = "Orchestrator URL (default: from ORCH_PUBLIC_URL / ORCH_HTTP_ADDR, e.g. http://127.0.0.1:8080)."


def _base(url: str | None) -> tuple[str, dict[str, str]]:
    from livedub.stack import orchestrator_url

    settings = settings_or_exit(OrchestratorSettings)
    token = settings.control_token
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token is not None else {}
    return (url or orchestrator_url(settings)).rstrip("/"), headers


def _call(method: str, url: str, headers: dict[str, str]) -> dict[str, Any]:
    try:
        response = httpx.request(method, url, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        fail(f"orchestrator unreachable at {url}: {type(exc).__name__}", code=EXIT_RUNTIME)
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:200]}
    if response.status_code >= 400:
        fail(f"{response.status_code}: {body.get('error') or body.get('detail') or body}", code=EXIT_RUNTIME)
    return body


@click.group(name="streams", help="List streams, stop or restart a stream's worker (the orchestrator's API; "
             "stop/restart need a loopback connection or ORCH_CONTROL_TOKEN).")
def streams_cmd() -> None:
    pass


@streams_cmd.command(name="list", help="Every stream the orchestrator knows: state, restarts, last error.")
@click.option("--url", help=URL_HELP)
def list_cmd(url: str | None) -> None:
    base, headers = _base(url)
    body = _call("GET", f"{base}/v1/streams", headers)
    for stream in body.get("streams", []):
        note = "stopped by the operator" if stream.get("stoppedByOperator") else (stream.get("lastError") or "")
        where = stream.get("where") or "-"
        click.echo(f"{stream['streamId']:<24} {stream['state']:<10} {where:<24} restarts {stream['restarts']:<3} {note}")
    click.echo(f"{body.get('activeWorkers', 0)} of {body.get('maxWorkers', 0)} workers running")


def _operator(kind: str, stream_id: str, url: str | None) -> None:
    base, headers = _base(url)
    body = _call("POST", f"{base}/v1/streams/{stream_id}/{kind}", headers)
    detail = f" ({body['detail']})" if body.get("detail") else ""
    click.echo(f"{stream_id}: {kind} {body.get('result')}{detail}")


@streams_cmd.command(name="stop", help="Stop the stream's worker; it stays stopped while this publisher stays "
                     "(the output ends), until `livedub streams restart` or a new publisher.")
@click.argument("stream_id")
@click.option("--url", help=URL_HELP)
def stop_cmd(stream_id: str, url: str | None) -> None:
    _operator("stop", stream_id, url)


@streams_cmd.command(name="restart", help="A new worker for the stream now (also clears degraded).")
@click.argument("stream_id")
@click.option("--url", help=URL_HELP)
def restart_cmd(stream_id: str, url: str | None) -> None:
    _operator("restart", stream_id, url)
