"""Client for MediaMTX's control API (v3), the part reconciliation needs.

``GET /v3/paths/list?page=N&itemsPerPage=M`` answers ``{"pageCount": P, "itemCount": I, "items":
[Path, ...]}``; a Path has ``name``, ``source`` (``{"type": "rtmpConn", "id": "..."}`` or null)
and readiness as ``ready`` (up to v1.1x) or ``available`` (newer releases, where ``ready`` is
deprecated). ``GET /v3/paths/get/<url-encoded name>`` answers one Path or 404
``{"error": "path not found"}`` (newer: ``{"status": "error", "error": ...}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from livedub.media.paths import InvalidPath, stream_id_from_ingest_path

ITEMS_PER_PAGE = 100
MAX_PAGES = 1000


class MediaMtxApiError(RuntimeError):
    """The API could not be used. ``retryable``: worth trying again later (down, 5xx, timeout)."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class PathInfo:
    name: str
    ready: bool
    source_type: str
    source_id: str
    readers: int
    tracks: tuple[str, ...]

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> PathInfo:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise MediaMtxApiError(f"unexpected path item from MediaMTX: {str(item)[:200]}", retryable=False)
        source = item.get("source") or {}
        ready = item.get("available", item.get("ready", False))
        tracks = item.get("tracks") or []
        return cls(
            name=item["name"],
            ready=bool(ready),
            source_type=str(source.get("type", "")) if isinstance(source, dict) else "",
            source_id=str(source.get("id", "")) if isinstance(source, dict) else "",
            readers=len(item.get("readers") or []),
            tracks=tuple(str(t) for t in tracks if isinstance(t, str)),
        )


class MediaMtxApi:
    def __init__(self, base_url: str, timeout: float = 2.0, auth: tuple[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, auth=auth, transport=transport)

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, params: dict[str, int] | None = None) -> httpx.Response:
        try:
            return self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise MediaMtxApiError(f"MediaMTX API at {self.base_url} unreachable: {exc}", retryable=True) from None

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                message = response.json().get("error", "")
            except (ValueError, AttributeError):
                message = response.text[:200]
            raise MediaMtxApiError(f"MediaMTX API {response.request.url.path} answered {response.status_code}: "
                                   f"{message}", retryable=response.status_code >= 500)
        try:
            return response.json()
        except ValueError:
            raise MediaMtxApiError("MediaMTX API answered with invalid JSON", retryable=True) from None

    def list_paths(self) -> list[PathInfo]:
        """Every active path, all pages."""
        paths: list[PathInfo] = []
        page = 0
        while page < MAX_PAGES:
            body = self._json(self._get("/v3/paths/list", {"page": page, "itemsPerPage": ITEMS_PER_PAGE}))
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise MediaMtxApiError("unexpected /v3/paths/list answer (no items list)", retryable=False)
            paths.extend(PathInfo.from_json(item) for item in body["items"])
            page += 1
            if page >= int(body.get("pageCount") or 0):
                break
        return paths

    def get_path(self, name: str) -> PathInfo | None:
        response = self._get(f"/v3/paths/get/{quote(name, safe='')}")
        if response.status_code == 404:
            return None
        return PathInfo.from_json(self._json(response))

    def live_ingest_ids(self) -> set[str]:
        """Stream ids whose ``live/<id>/in`` is ready (published and its tracks known)."""
        live: set[str] = set()
        for info in self.list_paths():
            if not info.ready:
                continue
            try:
                live.add(stream_id_from_ingest_path(info.name))
            except InvalidPath:
                continue  # outputs (live/<id>/out) and anything else
        return live
