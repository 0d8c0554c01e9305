"""The operator's console in a browser: ``/`` (one static page, no build step), its live feed
``/v1/events`` (Server-Sent Events, once a second: every stream as ``/v1/streams`` has it, with the
URLs to watch its dubbed output and what its worker is doing: mode, delay, segments dubbed, fallbacks,
rung, the latest transcript -> translation lines) and ``/console/hls.min.js``, the HLS player for browsers without
native HLS (npm ``hls.js``, pinned in packaging/npm.txt, put beside the virtualenv by
scripts/install.sh; never fetched from a CDN).

The orchestrator binds ``ORCH_HTTP_ADDR`` (127.0.0.1 by default): the console is as reachable as the
rest of its API, not open to the internet unless the operator opens it.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse

EVENT_INTERVAL_S = 1.0
HLS_JS = Path(sys.prefix) / "share" / "livedub" / "hls.min.js"


def page() -> str:
    return importlib.resources.files("livedub.orchestrator").joinpath("console.html").read_text(encoding="utf-8")


def add_console(app: FastAPI, snapshot: Callable[[], dict[str, Any]], hls_js: Path = HLS_JS) -> None:
    """``snapshot()``: what each event carries (``/v1/streams``'s body, each stream with ``watch``,
    kind -> URL, and ``run``, what its worker is doing: ``transcripts.RunTail.view``)."""
    @app.get("/", response_class=HTMLResponse, tags=["console"], summary="The operator's console (a web page)")
    async def console() -> HTMLResponse:
        return HTMLResponse(page())

    @app.get("/console/hls.min.js", tags=["console"], summary="hls.js, the console's HLS player",
             response_model=None)
    async def hls_player() -> Response:
        if not hls_js.is_file():
            # the page then plays HLS natively where the browser can, and says why it cannot elsewhere
            return Response("/* hls.js is not installed: ./scripts/install.sh */", media_type="text/javascript")
        return FileResponse(hls_js, media_type="text/javascript")

    @app.get("/v1/events", tags=["console"], summary="Every stream once a second (Server-Sent Events)",
             response_class=StreamingResponse)
    async def events(request: Request) -> StreamingResponse:
        async def feed() -> AsyncIterator[str]:
            while not await request.is_disconnected():
                yield f"data: {json.dumps(snapshot())}\n\n"
                await asyncio.sleep(EVENT_INTERVAL_S)

        return StreamingResponse(feed(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
