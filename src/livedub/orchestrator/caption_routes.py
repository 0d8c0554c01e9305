"""The routes of the live caption track (``live_captions.py``): ``/v1/streams/<id>/hls/...``.

Offered where the media server writes MPEG-TS HLS whose timestamps livedub knows (the embedded
nginx-rtmp: its ``hls_media_playlist``); elsewhere (MediaMTX) they answer 404 and the console plays
the media server's own HLS without captions. The orchestrator reads nginx's playlist and segments
over HTTP on each request (a console viewer asks every few seconds); the cues come from the run
bundle, where the orchestrator sees the workers' data directory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import httpx
from fastapi import FastAPI, Path
from fastapi.responses import JSONResponse, Response

from livedub.core.captions import CaptionText, caption_languages
from livedub.orchestrator import live_captions
from livedub.orchestrator.live_captions import PlaylistError

if TYPE_CHECKING:
    from livedub.orchestrator.transcripts import RunTail

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 2.0
PLAYLIST = "application/vnd.apple.mpegurl"
STREAM_ID = r"^[A-Za-z0-9_-]{1,64}$"
SEGMENT = r"^[A-Za-z0-9_-]{1,64}$"
TEXT = r"^(translation|transcript)$"


def add_caption_routes(app: FastAPI, *, media_playlist: Callable[[str], str | None],
                       run_of: Callable[[str], str | None], runs: RunTail | None) -> None:
    """``media_playlist(stream_id)``: the URL of nginx's HLS media playlist of its output, or None
    where no caption track can be offered; ``run_of(stream_id)``: its current run id."""

    def unavailable(detail: str) -> JSONResponse:
        return JSONResponse({"error": detail}, status_code=404)

    async def fetch(url: str) -> httpx.Response | None:
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S) as client:
                response = await client.get(url)
        except httpx.HTTPError as exc:
            log.info("captions: media server HLS unreachable", extra={"error": str(exc)[:200]})
            return None
        return response if response.status_code == 200 else None

    async def playlist(stream_id: str) -> tuple[str, live_captions.MediaPlaylist] | JSONResponse:
        url = media_playlist(stream_id)
        if url is None:
            return unavailable("no caption track: the media server's HLS is not the embedded nginx's")
        response = await fetch(url)
        if response is None:
            return unavailable("the output has no HLS yet (no worker publishing, or it just started)")
        try:
            return url, live_captions.parse_media_playlist(response.text)
        except PlaylistError as exc:
            return unavailable(f"the media server's playlist is not usable: {exc}")

    @app.get("/v1/streams/{stream_id}/hls/index.m3u8", tags=["console"], response_model=None,
             summary="The dubbed output's HLS with its live captions (subtitle renditions)")
    async def multivariant(stream_id: str = Path(..., pattern=STREAM_ID)) -> Response:
        url = media_playlist(stream_id)
        if url is None:
            return unavailable("no caption track: the media server's HLS is not the embedded nginx's")
        manifest = runs.captions(stream_id, run_of(stream_id), CaptionText.translation)[1] if runs else {}
        languages = {text.value: language or "" for text, language in caption_languages(manifest).items()}
        return Response(live_captions.multivariant(url, languages), media_type=PLAYLIST,
                        headers={"Cache-Control": "no-cache"})

    @app.get("/v1/streams/{stream_id}/hls/captions-{text}.m3u8", tags=["console"], response_model=None,
             summary="A live subtitle playlist that follows the output's segments")
    async def subtitles(stream_id: str = Path(..., pattern=STREAM_ID), text: str = Path(..., pattern=TEXT)) -> Response:
        found = await playlist(stream_id)
        if isinstance(found, JSONResponse):
            return found
        return Response(live_captions.subtitle_playlist(found[1], text), media_type=PLAYLIST,
                        headers={"Cache-Control": "no-cache"})

    @app.get("/v1/streams/{stream_id}/hls/captions-{text}/{segment}.vtt", tags=["console"], response_model=None,
             summary="The caption cues that start within one output segment (WebVTT)")
    async def cues(stream_id: str = Path(..., pattern=STREAM_ID), text: str = Path(..., pattern=TEXT),
                   segment: str = Path(..., pattern=SEGMENT)) -> Response:
        found = await playlist(stream_id)
        if isinstance(found, JSONResponse):
            return found
        url, media = found
        match = next((s for s in media.segments if live_captions.segment_name(s.uri) == segment), None)
        if match is None:
            return unavailable(f"segment {segment} is not in the output's playlist (any more)")
        video = await fetch(urljoin(url, match.uri))
        pts = live_captions.first_pts(video.content) if video is not None else None
        if pts is None:
            return unavailable(f"segment {segment}: no timestamp found in the output's transport stream")
        start_s = pts / live_captions.TS_HZ
        all_cues = runs.captions(stream_id, run_of(stream_id), CaptionText(text))[0] if runs else []
        body = live_captions.webvtt_segment(all_cues, start_s, start_s + match.duration_s)
        return Response(body, media_type="text/vtt", headers={"Cache-Control": "no-cache"})
