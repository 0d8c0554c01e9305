"""Pick the media server backend from settings: ``auto`` prefers MediaMTX when its binary exists."""

from __future__ import annotations

import shutil
from pathlib import Path

from livedub.config.settings import MediaBackend, MediaSettings
from livedub.media.base import MediaServer, MediaServerError


def resolve_backend(settings: MediaSettings) -> MediaBackend:
    if settings.backend != MediaBackend.auto:
        return settings.backend
    return MediaBackend.mediamtx if shutil.which(settings.mediamtx_binary) else MediaBackend.nginx


def create_media_server(settings: MediaSettings, *, client_only: bool = False) -> MediaServer:
    """The media server the settings name. ``client_only``: as a client sees one that runs elsewhere
    (addresses, live paths; the standalone ``livedub orchestrator``): never started, nothing created."""
    backend = resolve_backend(settings)
    if backend == MediaBackend.nginx:
        from livedub.media.nginx import NginxMediaServer

        if not client_only and not NginxMediaServer.available(settings.nginx_binary):
            raise MediaServerError(
                "no media server: install mediamtx, or nginx + libnginx-mod-rtmp (./scripts/install.sh)"
            )
        # idle_streams off (readers of an unpublished path are refused, as on MediaMTX) unless the
        # ingest hold is on: then the worker of a new publisher must be able to wait on its path
        hold = settings.ingest_hold
        return NginxMediaServer(host=settings.host, rtmp_port=settings.rtmp_port, api_port=settings.api_port,
                                binary=settings.nginx_binary, idle_streams=hold > 0, ingest_hold=hold,
                                hls_port=settings.hls_port or None,
                                prefix=Path("/nonexistent-livedub-nginx") if client_only else None)
    from livedub.media.mediamtx import MediaMtxServer

    return MediaMtxServer.from_settings(settings)
