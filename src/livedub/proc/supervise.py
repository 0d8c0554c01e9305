"""Keep a few long-lived children running: restart each with backoff when it dies.

``livedub up`` supervises its media server and its orchestrator this way (workers are the
orchestrator's business). The decisions are a pure object with the time passed in
(:class:`RestartSchedule`); :class:`ChildSupervisor` is the thin thread that polls the children
and carries them out::

    supervisor = ChildSupervisor([media_child, orchestrator_child])
    supervisor.start()          # after the children were started once
    ...
    supervisor.halt()           # no restart from here on; then stop the children
    supervisor.close()          # and end the thread

A child that keeps dying is restarted for ever, with the delay doubling up to a cap: the stack
must heal once the cause (a busy port, a full disk) is gone, and an operator sees every restart
in the log and in :meth:`ChildSupervisor.status`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


class SupervisedChild(Protocol):
    name: str

    def exit_status(self) -> str | None:
        """None while the child runs; otherwise how it ended (``"killed by SIGKILL"``)."""

    def restart(self) -> None:
        """Clean up what is left of the dead child and start it again; raises if it cannot start."""


@dataclass(frozen=True)
class ChildRestartPolicy:
    """When `livedub up` restarts one of its own children (media server, orchestrator); a worker's
    restarts follow :class:`livedub.proc.backoff.RestartPolicy` (a crash window, then degraded)."""

    initial: float = 1.0  # delay before the first restart after a healthy run
    maximum: float = 15.0  # the delay doubles per consecutive failure up to this
    stable_after: float = 30.0  # a child that ran this long starts again from ``initial``


class RestartSchedule:
    """When to restart one child (no I/O, no sleeps; time is passed in)."""

    def __init__(self, policy: ChildRestartPolicy, started_at: float) -> None:
        self.policy = policy
        self.started_at = started_at
        self.consecutive_failures = 0
        self.restarts = 0
        self.restart_at: float | None = None  # set while the child is down
        self.last_exit: str | None = None

    def died(self, now: float, how: str) -> float:
        """The child was found dead at ``now``; returns the delay before its restart."""
        if now - self.started_at >= self.policy.stable_after:
            self.consecutive_failures = 0
        self.consecutive_failures += 1
        delay = min(self.policy.maximum, self.policy.initial * 2 ** min(self.consecutive_failures - 1, 30))
        self.restart_at = now + delay
        self.last_exit = how
        return delay

    def due(self, now: float) -> bool:
        return self.restart_at is not None and now >= self.restart_at

    def restarted(self, now: float) -> None:
        self.restart_at = None
        self.started_at = now
        self.restarts += 1

    def restart_failed(self, now: float, error: str) -> float:
        """The restart itself failed: counts as another death right away."""
        self.started_at = now
        return self.died(now, error)


@dataclass(frozen=True)
class ChildStatus:
    name: str
    up: bool
    restarts: int
    last_exit: str | None
    restart_in: float | None


class ChildSupervisor:
    """Polls its children every ``poll_interval`` seconds on one thread and restarts the dead ones.

    Polling (not a blocking ``wait()`` per child) because a child may be replaced by a new process
    on restart, and because the media server backends own their process objects.
    """

    def __init__(self, children: Sequence[SupervisedChild], policy: ChildRestartPolicy | None = None,
                 poll_interval: float = 0.2, clock: Callable[[], float] = time.monotonic,
                 on_restart: Callable[[str], None] | None = None) -> None:
        self.children = list(children)
        self.policy = policy or ChildRestartPolicy()
        self.poll_interval = poll_interval
        self.clock = clock
        self.on_restart = on_restart  # called (on the supervisor thread) after a child was restarted
        now = clock()
        self._schedules = {child.name: RestartSchedule(self.policy, now) for child in self.children}
        self._halted = threading.Event()
        self._closed = threading.Event()
        # held while a child is being restarted: halt() waits for it, so no restart outlives the stack
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="livedub-child-supervisor", daemon=True)
        self._thread.start()

    def halt(self) -> None:
        """Restart nothing from now on (waits for a restart in progress). The thread lives on until
        :meth:`close`: children it restarted got the parent-death signal from it (``spawn``), so it
        must outlive them."""
        with self._lock:
            self._halted.set()

    def close(self, timeout: float = 30.0) -> None:
        self.halt()
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def status(self) -> list[ChildStatus]:
        now = self.clock()
        statuses = []
        for child in self.children:
            schedule = self._schedules[child.name]
            statuses.append(ChildStatus(child.name, schedule.restart_at is None, schedule.restarts,
                                        schedule.last_exit,
                                        None if schedule.restart_at is None else max(0.0, schedule.restart_at - now)))
        return statuses

    def check_once(self) -> None:
        """One pass over the children (the thread's loop body; tests call it with a fake clock)."""
        for child in self.children:
            with self._lock:
                if self._halted.is_set():
                    return
                self._check(child)

    def _check(self, child: SupervisedChild) -> None:
        schedule = self._schedules[child.name]
        now = self.clock()
        if schedule.restart_at is None:
            how = child.exit_status()
            if how is None:
                return
            delay = schedule.died(now, how)
            log.error(f"{child.name} died; restarting it", extra={"child": child.name, "exit": how,
                                                                   "restartInSeconds": round(delay, 3),
                                                                   "consecutiveFailures": schedule.consecutive_failures})
        if not schedule.due(now):
            return
        try:
            child.restart()
        except Exception as exc:  # noqa: BLE001 - any start failure: try again later, never give up
            delay = schedule.restart_failed(self.clock(), f"restart failed: {exc}")
            log.error(f"{child.name} could not be restarted; trying again",
                      extra={"child": child.name, "error": str(exc)[:500], "restartInSeconds": round(delay, 3)})
            return
        schedule.restarted(self.clock())
        log.warning(f"{child.name} restarted", extra={"child": child.name, "restarts": schedule.restarts})
        if self.on_restart is not None:
            self.on_restart(child.name)

    def _run(self) -> None:
        while not self._closed.wait(self.poll_interval):
            try:
                self.check_once()
            except Exception:
                # the supervisor itself must keep running, or nothing heals any more
                log.exception("child supervisor pass failed")
