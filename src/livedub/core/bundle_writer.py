"""Run-bundle records written on a thread of their own.

In the live worker the core is fed from the GStreamer streaming thread: a slow disk (a full volume,
a network mount, debug audio capture) must not hold up the decoded audio there. :class:`BundleWriter`
takes each fragment record into a bounded queue and writes it on its own thread; when ``max_pending``
records wait already, a new one is dropped and counted instead of blocking the caller (what the
orchestrator's ``StateWriter`` does for its state file). ``close`` writes what is queued, then the
manifest's summary. ``replay()`` and ``livedub dub`` keep the synchronous :class:`RunBundle`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from livedub.core.bundle import RunBundle
from livedub.core.messages import FragmentResult

log = logging.getLogger(__name__)

MAX_PENDING = 64          # fragment records waiting for the disk (about 100 s of stream)
CLOSE_TIMEOUT_S = 10.0    # at close, how long the queued records may take to be written


class FragmentRecorder(Protocol):
    """What the core records into: a :class:`RunBundle` or a :class:`BundleWriter` around one."""

    @property
    def path(self) -> Path: ...

    def record_fragment(self, result: FragmentResult, input_audio: np.ndarray | None = None,
                        output_audio: np.ndarray | None = None) -> None: ...

    def close(self, summary: Mapping[str, Any]) -> None: ...


_Record = tuple[FragmentResult, "np.ndarray | None", "np.ndarray | None"]


class BundleWriter:
    def __init__(self, bundle: RunBundle, *, max_pending: int = MAX_PENDING,
                 on_error: Callable[[OSError, int], None] | None = None,
                 on_drop: Callable[[int, int], None] | None = None) -> None:
        self.bundle = bundle
        self.dropped = 0
        self._on_error = on_error or (lambda _exc, _sequence: None)
        self._on_drop = on_drop or (lambda _sequence, _dropped: None)  # the record's sequence, drops so far
        self._queue: queue.Queue[_Record | None] = queue.Queue(max_pending)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="run-bundle-writer", daemon=True)
        self._thread.start()

    @property
    def path(self) -> Path:
        return self.bundle.path

    def record_fragment(self, result: FragmentResult, input_audio: np.ndarray | None = None,
                        output_audio: np.ndarray | None = None) -> None:
        """Queue one record; never blocks. Audio is copied only when the bundle captures it."""
        if self._closed:
            return
        if self.bundle.capture_audio:
            input_audio = None if input_audio is None else input_audio.copy()
            output_audio = None if output_audio is None else output_audio.copy()
        else:
            input_audio = output_audio = None
        try:
            self._queue.put_nowait((result, input_audio, output_audio))
        except queue.Full:
            self.dropped += 1
            self._on_drop(result.sequence, self.dropped)

    def close(self, summary: Mapping[str, Any]) -> None:
        """Write what is queued (bounded by ``CLOSE_TIMEOUT_S``), then the manifest's summary."""
        if self._closed:
            return
        self._closed = True
        try:
            self._queue.put(None, timeout=CLOSE_TIMEOUT_S)
        except queue.Full:
            pass
        self._thread.join(CLOSE_TIMEOUT_S)
        if self._thread.is_alive():
            log.warning("run bundle: fragment records still unwritten at close",
                        extra={"pending": self._queue.qsize(), "path": str(self.bundle.path)})
        self.bundle.close({**summary, "recordsDropped": self.dropped} if self.dropped else summary)

    def _run(self) -> None:
        while True:
            record = self._queue.get()
            if record is None:
                return
            result, input_audio, output_audio = record
            try:
                self.bundle.record_fragment(result, input_audio, output_audio)
            except OSError as exc:  # a full disk must not stop the stream: the owner counts and logs it
                self._on_error(exc, result.sequence)
