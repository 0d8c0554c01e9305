"""MediaMTX hook program: ``runOnReady``/``runOnNotReady`` -> one POST to the orchestrator.

    python -m livedub.media.mediamtx_hook ready|not-ready ORCHESTRATOR_URL [--timeout SECONDS]

MediaMTX runs it with ``MTX_PATH``, ``MTX_QUERY``, ``MTX_SOURCE_TYPE`` and ``MTX_SOURCE_ID`` in
the environment. It sends ``{"path", "query", "sourceType", "sourceId"}`` as JSON (built with
``json``, so any character in the query is safe) to ``<url>/v1/mediamtx/events/<event>``. The URL
and the timeout of each attempt (default 2 s) are on the command line ``livedub.media.mediamtx``
writes; a connection failure, timeout or 5xx is retried once.
With ``ORCH_HOOK_TOKEN`` in the environment it sends ``Authorization: Bearer <token>`` (never printed).
Exit codes: 0 delivered (2xx), 1 not delivered (MediaMTX logs it), 2 misuse.

Standard library only, so any ``python3`` runs it (the native ``livedub up`` with MediaMTX uses this;
the compose image uses the equivalent ``deploy/mediamtx/hook.sh``). The query is never printed:
it may hold credentials.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

EVENTS = ("ready", "not-ready")
DEFAULT_TIMEOUT = 2.0  # seconds per attempt
RETRY_PAUSE = 0.5
USAGE = "usage: python -m livedub.media.mediamtx_hook ready|not-ready ORCHESTRATOR_URL [--timeout SECONDS]"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _env(name: str) -> str:
    raw = os.environb.get(name.encode(), b"")  # bytes: a non-UTF-8 query must not crash us
    return raw.decode("utf-8", "replace")


def build_event() -> dict[str, str]:
    return {"path": _env("MTX_PATH"), "query": _env("MTX_QUERY"), "sourceType": _env("MTX_SOURCE_TYPE"),
            "sourceId": _env("MTX_SOURCE_ID")}


def _post(url: str, body: bytes, correlation_id: str, timeout: float) -> tuple[int, str]:
    """Returns (HTTP status, response text); status 0 for a transport failure."""
    headers = {"Content-Type": "application/json", "X-Correlation-Id": correlation_id,
               "User-Agent": "livedub-mediamtx-hook"}
    # a secret: read from the environment, never from the command line (``ps`` and the config show that)
    token = _env("ORCH_HOOK_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(2000).decode("utf-8", "replace")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return 0, str(reason)


def parse_args(args: list[str]) -> tuple[str, str, float] | None:
    """``event URL [--timeout SECONDS]`` -> (event, URL, timeout); None when misused."""
    if len(args) not in (2, 4) or args[0] not in EVENTS or (len(args) == 4 and args[2] != "--timeout"):
        return None
    try:
        timeout = float(args[3]) if len(args) == 4 else DEFAULT_TIMEOUT
    except ValueError:
        return None
    return (args[0], args[1], timeout) if math.isfinite(timeout) and timeout > 0 else None


def main(argv: list[str] | None = None) -> int:
    parsed = parse_args(sys.argv[1:] if argv is None else argv)
    if parsed is None:
        print(USAGE, file=sys.stderr)
        return EXIT_USAGE
    event, base, timeout = parsed
    if not base.startswith(("http://", "https://")):
        print(f"livedub hook: orchestrator URL must start with http:// or https:// (got {base!r})", file=sys.stderr)
        return EXIT_USAGE
    payload = build_event()
    if not payload["path"]:
        print("livedub hook: MTX_PATH is not set (this program is run by MediaMTX hooks)", file=sys.stderr)
        return EXIT_USAGE
    url = base.rstrip("/") + f"/v1/mediamtx/events/{event}"
    body = json.dumps(payload, ensure_ascii=True).encode("ascii")
    correlation_id = uuid.uuid4().hex
    for attempt in (1, 2):
        status, text = _post(url, body, correlation_id, timeout)
        if 200 <= status < 300:
            print(f"livedub hook: {event} {payload['path']} -> {status} (correlation id {correlation_id})")
            return EXIT_OK
        retryable = status == 0 or status >= 500
        if attempt == 1 and retryable:
            time.sleep(RETRY_PAUSE)
            continue
        what = f"HTTP {status}: {text.strip()[:300]}" if status else f"unreachable: {text}"
        print(f"livedub hook: {event} {payload['path']} not delivered to {base} ({what}; "
              f"correlation id {correlation_id})", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED  # pragma: no cover - the loop always returns


if __name__ == "__main__":
    sys.exit(main())
