"""MediaMTX hook program: ``runOnReady``/``runOnNotReady`` -> one POST to the orchestrator.

    python -m livedub.media.mediamtx_hook ready|not-ready [ORCHESTRATOR_URL]

MediaMTX runs it with ``MTX_PATH``, ``MTX_QUERY``, ``MTX_SOURCE_TYPE`` and ``MTX_SOURCE_ID`` in
the environment. It sends ``{"path", "query", "sourceType", "sourceId"}`` as JSON (built with
``json``, so any character in the query is safe) to ``<url>/v1/mediamtx/events/<event>``; the URL
is the argument, else ``ORCH_PUBLIC_URL``, else ``http://127.0.0.1:8080``. Each attempt times out
after ``HOOK_TIMEOUT`` seconds (default 2); a connection failure, timeout or 5xx is retried once.
With ``ORCH_HOOK_TOKEN`` in the environment it sends ``Authorization: Bearer <token>`` (never printed).
Exit codes: 0 delivered (2xx), 1 not delivered (MediaMTX logs it), 2 misuse.

Standard library only, so any ``python3`` runs it (the native ``livedub up`` with MediaMTX uses this;
the compose image uses the equivalent ``deploy/mediamtx/hook.sh``). The query is never printed:
it may hold credentials.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

EVENTS = ("ready", "not-ready")
DEFAULT_URL = "http://127.0.0.1:8080"
RETRY_PAUSE = 0.5
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in EVENTS or len(args) > 2:
        print("usage: python -m livedub.media.mediamtx_hook ready|not-ready [ORCHESTRATOR_URL]", file=sys.stderr)
        return EXIT_USAGE
    event = args[0]
    base = args[1] if len(args) == 2 else (_env("ORCH_PUBLIC_URL") or DEFAULT_URL)
    if not base.startswith(("http://", "https://")):
        print(f"livedub hook: orchestrator URL must start with http:// or https:// (got {base!r})", file=sys.stderr)
        return EXIT_USAGE
    payload = build_event()
    if not payload["path"]:
        print("livedub hook: MTX_PATH is not set (this program is run by MediaMTX hooks)", file=sys.stderr)
        return EXIT_USAGE
    try:
        timeout = float(_env("HOOK_TIMEOUT") or 2.0)
    except ValueError:
        timeout = 2.0
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
