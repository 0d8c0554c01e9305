"""What the orchestrator remembers across its own restarts: each stream's last accepted settings and
publisher, so that reconciliation restarts a live stream as it was started (``?lang=fr``), not with
the defaults.

    <LIVEDUB_DATA_DIR>/orchestrator/streams.json
    {"version": 1, "streams": {"abc": {"settings": {"lang": "fr"}, "sourceId": "1", "sourceType": "rtmpConn"}}}

- :class:`StreamMemory` (pure) decides what is remembered: every stream the supervisor holds a record
  of, plus the entries loaded at start that no record or reconciliation has settled yet. Streams the
  supervisor forgets (idle for an hour) are pruned with it. The actor owns it.
- :class:`StreamsFile` loads the file (settings validated again: the environment may have changed)
  and saves it atomically (temp file, fsync, rename): a crash leaves the old file or the new one.
- :class:`StateWriter` saves the newest snapshot in a thread, so the actor never blocks on the disk;
  a burst of changes becomes one or two writes.

A missing, unreadable or unwritable file never stops the orchestrator: it logs and carries on (streams
restarted after an orchestrator restart then fall back to the default settings).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from livedub.config.settings import STREAM_ID_PATTERN, PathSettings
from livedub.config.stream_query import QUERY_PARAMS, parse_stream_query
from livedub.files import atomic_write
from livedub.orchestrator.state import KnownStream, StreamRecord

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_SOURCE_CHARS = 256  # as the hook endpoint cuts them


def state_file_path(paths: PathSettings) -> Path:
    return Path(paths.data_dir) / "orchestrator" / "streams.json"


Snapshot = Mapping[str, KnownStream]


class StreamMemory:
    """Which streams are remembered (no I/O). ``restored``: the entries loaded at start."""

    def __init__(self, restored: Iterable[KnownStream] = ()) -> None:
        self._restored = {known.stream_id: known for known in restored}
        # the file already holds the restored entries: nothing to write until something changes
        self._saved = _json_view(self._restored)

    def restored(self) -> Mapping[str, KnownStream]:
        """Entries from the file that no record has replaced yet (reconciliation starts live ones with them)."""
        return dict(self._restored)

    def reconciled(self, live_ids: Iterable[str]) -> None:
        """The media server listed ``live_ids``: a restored stream that is not live is forgotten (a
        publisher that comes back sends its own query with its ``ready``)."""
        live = set(live_ids)
        self._restored = {k: v for k, v in self._restored.items() if k in live}

    def snapshot(self, records: Iterable[StreamRecord]) -> dict[str, KnownStream] | None:
        """What to save, or None when it equals what was last handed out."""
        current: dict[str, KnownStream] = {}
        for rec in records:
            self._restored.pop(rec.stream_id, None)  # the record is fresher than the file
            current[rec.stream_id] = KnownStream.of(rec)
        current.update(self._restored)
        view = _json_view(current)
        if view == self._saved:
            return None
        self._saved = view
        return current


def _json_view(streams: Snapshot) -> dict[str, dict[str, Any]]:
    return {stream_id: known.to_json() for stream_id, known in streams.items()}


class StreamsFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, base_env: Mapping[str, str]) -> list[KnownStream]:
        """The remembered streams; ``[]`` when there is no file or it cannot be read (logged)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("cannot read the orchestrator state file; starting without remembered settings",
                        extra={"path": str(self.path), "error": f"{type(exc).__name__}: {exc}"})
            return []
        streams = data.get("streams") if isinstance(data, dict) and data.get("version") == FORMAT_VERSION else None
        if not isinstance(streams, dict):
            log.warning("orchestrator state file has an unknown format; starting without remembered settings",
                        extra={"path": str(self.path)})
            return []
        known: list[KnownStream] = []
        for stream_id, entry in streams.items():
            parsed = _parse_entry(stream_id, entry, base_env)
            if parsed is None:
                log.warning("orchestrator state file: invalid entry skipped", extra={"path": str(self.path)})
                continue
            if parsed.settings.warnings:
                log.warning("remembered settings partly invalid now; defaults used for those",
                            extra={"streamId": stream_id, "warnings": list(parsed.settings.warnings)})
            known.append(parsed)
        return known

    def save(self, streams: Snapshot) -> None:
        """Replace the file atomically (blocking; :class:`StateWriter` calls it in a thread)."""
        data = {"version": FORMAT_VERSION,
                "streams": {stream_id: streams[stream_id].to_json() for stream_id in sorted(streams)}}
        payload = json.dumps(data, indent=1, ensure_ascii=False).encode() + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, payload, durable=True)


def _parse_entry(stream_id: object, entry: object, base_env: Mapping[str, str]) -> KnownStream | None:
    if not isinstance(stream_id, str) or not re.fullmatch(STREAM_ID_PATTERN, stream_id) or not isinstance(entry, dict):
        return None
    settings = entry.get("settings", {})
    source_id, source_type = entry.get("sourceId", ""), entry.get("sourceType", "")
    if not isinstance(settings, dict) or not isinstance(source_id, str) or not isinstance(source_type, str):
        return None
    params = {k: v for k, v in settings.items() if k in QUERY_PARAMS and isinstance(v, str)}
    return KnownStream(stream_id, parse_stream_query(urlencode(params), base_env),
                       source_id[:MAX_SOURCE_CHARS], source_type[:MAX_SOURCE_CHARS])


class StreamStore(Protocol):
    """Where the actor hands its snapshots (``StateWriter``; tests use a list)."""

    def submit(self, streams: Snapshot) -> None: ...

    async def flush(self) -> None: ...


class StateWriter:
    """Saves the newest submitted snapshot in a thread; at most one save runs at a time."""

    def __init__(self, save: Callable[[Snapshot], None]) -> None:
        self._save = save
        self._next: Snapshot | None = None
        self._task: asyncio.Task[None] | None = None

    def submit(self, streams: Snapshot) -> None:
        """From the event loop; never blocks. A snapshot still waiting is replaced by this newer one."""
        self._next = streams
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="orchestrator-state-writer")
            self._task.add_done_callback(_log_failure)

    async def flush(self) -> None:
        """Wait until everything submitted so far is saved (or its save failed and was logged)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait([self._task])

    async def _drain(self) -> None:
        while self._next is not None:
            streams, self._next = self._next, None
            try:
                await asyncio.to_thread(self._save, streams)
            except OSError as exc:
                # the next change tries again; until then a restart would use older settings
                log.error("cannot write the orchestrator state file", extra={"error": f"{type(exc).__name__}: {exc}"})


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("orchestrator state writer failed", exc_info=task.exception())
