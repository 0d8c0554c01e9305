"""Writing a file so that readers see the old contents or the new, never a torn one."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def atomic_write(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to a temp file beside ``path``, then rename it over ``path``.

    ``durable``: also fsync the data before the rename and the directory after it, so the new file
    survives a power loss (the orchestrator's stream state); run-bundle files only need readers never
    to see half a file."""
    directory = path.parent
    tmp = directory / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())  # the data is on disk before the rename makes it the file
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # the rename is done; only its durability across a power loss is not guaranteed
    finally:
        os.close(fd)
