"""Where STS calls run. The core submits zero-argument callables and polls the futures.

* :class:`ThreadExecutor`: production, a bounded thread pool.
* :class:`SimulatedExecutor`: with a :class:`FakeClock`, runs each call at once in virtual time and
  completes its future when the clock reaches submit time + the time the call "slept".
* :class:`ManualExecutor`: tests decide when, and in which order, each call runs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from livedub.core.clock import FakeClock

T = TypeVar("T")


class Executor(Protocol):
    def submit(self, call: Callable[[], T]) -> Future[T]: ...

    def shutdown(self) -> None: ...


class ThreadExecutor:
    def __init__(self, max_workers: int, name: str = "sts") -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)

    def submit(self, call: Callable[[], T]) -> Future[T]:
        return self._pool.submit(call)

    def shutdown(self) -> None:
        # running STS calls cannot be interrupted; do not wait for them on the way out
        self._pool.shutdown(wait=False, cancel_futures=True)


def _settle(future: Future[Any], call: Callable[[], Any]) -> None:
    try:
        result = call()
    except BaseException as exc:  # noqa: BLE001 - handed to the future, re-raised by future.result()
        future.set_exception(exc)
    else:
        future.set_result(result)


class SimulatedExecutor:
    """Deterministic latency for benchmarks and tests: results appear when the fake clock says so."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock

    def submit(self, call: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()
        outcome: Future[T] = Future()
        with self._clock.virtual_time() as elapsed:
            _settle(outcome, call)
        ready_at = self._clock.now() + elapsed.ns

        def complete() -> None:
            exc = outcome.exception()
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(outcome.result())

        self._clock.call_at(ready_at, complete)
        return future

    def shutdown(self) -> None:
        return None


@dataclass
class ManualJob:
    call: Callable[[], Any]
    future: Future[Any] = field(default_factory=Future)

    def run(self) -> None:
        """Run the call now, on this thread, and complete the future with its outcome."""
        if self.future.done():
            raise RuntimeError("job already ran")
        _settle(self.future, self.call)


class ManualExecutor:
    def __init__(self) -> None:
        self.jobs: list[ManualJob] = []

    def submit(self, call: Callable[[], T]) -> Future[T]:
        job = ManualJob(call)
        job.future.set_running_or_notify_cancel()
        self.jobs.append(job)
        return job.future

    def pending(self) -> list[ManualJob]:
        return [job for job in self.jobs if not job.future.done()]

    def shutdown(self) -> None:
        return None
