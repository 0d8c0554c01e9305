"""What the launchers whose workers run elsewhere (``host``, ``ray``) share: the handles of their
runs, each watched by a task until its exit is reported, exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from livedub.proc.launcher import ExitListener, WorkerExit


class WatchedHandle(Protocol):
    stream_id: str
    run_id: str
    on_exit: ExitListener
    reported: bool
    watcher: asyncio.Task[None] | None


H = TypeVar("H", bound=WatchedHandle)


class RemoteRuns(Generic[H]):
    def __init__(self) -> None:
        self._handles: dict[str, H] = {}  # run id -> handle not yet reported
        self._sweep: asyncio.Task[None] | None = None  # the clean-up of an earlier orchestrator's runs

    def _report(self, handle: H, exit_code: int | None, error: str | None) -> None:
        """Report the run's exit (once, whoever sees it first) and end its watcher."""
        if handle.reported:
            return
        handle.reported = True
        self._handles.pop(handle.run_id, None)
        if handle.watcher is not None and handle.watcher is not asyncio.current_task():
            handle.watcher.cancel()
        handle.on_exit(WorkerExit(handle.stream_id, handle.run_id, exit_code, error))

    async def _stop_all(self, stop: Callable[[H], Awaitable[None]]) -> None:
        """Stop every run still going, then end the watchers and the sweep (the orchestrator is exiting)."""
        await asyncio.gather(*(stop(h) for h in list(self._handles.values())), return_exceptions=True)
        tasks = [h.watcher for h in self._handles.values() if h.watcher is not None]
        if self._sweep is not None:
            tasks.append(self._sweep)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
