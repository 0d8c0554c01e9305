"""Wiring: settings + media server + launcher -> supervisor, actor, reconciler and the HTTP app.

``livedub orchestrator`` serves it in the foreground; ``livedub up`` can run it in-process on a
background thread (:meth:`OrchestratorService.run_in_thread`) next to the media server::

    media = create_media_server(media_settings)
    orch = OrchestratorService(orch_settings, media)
    running = orch.run_in_thread()                 # binds ORCH_HTTP_ADDR (port 0: any free port)
    media.start(HookTarget(running.url))
    ...
    media.stop(); running.stop()                   # stops every worker, then the server
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import uvicorn

from livedub.config.settings import OrchestratorSettings
from livedub.orchestrator.actor import Clock, SupervisorActor, UrlBuilder
from livedub.orchestrator.app import create_app
from livedub.orchestrator.backoff import RestartPolicy
from livedub.orchestrator.launcher import Launcher, ProcessLauncher, parse_worker_command
from livedub.orchestrator.metrics import EventCounts, OrchestratorCollector, build_registry
from livedub.orchestrator.reconcile import LiveSource, Reconciler
from livedub.orchestrator.supervisor import Supervisor, SupervisorPolicy

log = logging.getLogger(__name__)


class MediaEndpoint(UrlBuilder, LiveSource, Protocol):
    """What the orchestrator needs from a media server (any ``MediaServer``): worker URLs and the
    live ingest paths."""


def policy_from_settings(settings: OrchestratorSettings) -> SupervisorPolicy:
    return SupervisorPolicy(
        grace_period=settings.grace_period,
        max_workers=settings.max_workers,
        restart=RestartPolicy(initial=settings.restart_backoff_initial, maximum=settings.restart_backoff_max,
                              max_in_window=settings.restart_max_in_window, window=settings.restart_window),
    )


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


class OrchestratorService:
    def __init__(self, settings: OrchestratorSettings, media: MediaEndpoint, launcher: Launcher | None = None,
                 worker_env: Mapping[str, str] | None = None, clock: Clock = time.monotonic,
                 rng: random.Random | None = None, reconcile: bool = True) -> None:
        self.settings = settings
        self.media = media
        # the environment workers inherit; per-stream query settings are validated on top of it
        self.worker_env = dict(os.environ if worker_env is None else worker_env)
        self.launcher: Launcher = launcher or ProcessLauncher(
            parse_worker_command(settings.worker_command), stop_timeout=settings.worker_stop_timeout,
            base_env=self.worker_env)
        self.supervisor = Supervisor(policy_from_settings(settings), rng)
        self.actor = SupervisorActor(self.supervisor, self.launcher, media, clock=clock)
        self.reconciler = Reconciler(self.actor, media, settings.reconcile_interval) if reconcile else None
        self.events = EventCounts()
        self.registry = build_registry(OrchestratorCollector(self.supervisor.records, self.events,
                                                             settings.max_workers))
        self.app = create_app(self)

    async def start(self) -> None:
        self.actor.start()
        if self.reconciler is not None:
            self.reconciler.start()
        log.info("orchestrator started", extra={"maxWorkers": self.settings.max_workers,
                                                "gracePeriodSeconds": self.settings.grace_period})

    async def stop(self) -> None:
        if self.reconciler is not None:
            await self.reconciler.close()
        await self.actor.close(timeout=self.settings.worker_stop_timeout + 5)
        log.info("orchestrator stopped")

    # -- serving -------------------------------------------------------------------------------
    def _server(self) -> uvicorn.Server:
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="on",
                                timeout_graceful_shutdown=5)
        return uvicorn.Server(config)

    def serve_forever(self, sock: socket.socket | None = None) -> None:
        """Run in the foreground until SIGINT/SIGTERM (uvicorn's handlers), then stop workers."""
        sock = sock or bind_socket(self.settings.http_addr)
        # uvicorn re-raises the signal that stopped it once shutdown is done, restoring the handlers
        # it found; these make that a no-op, so a requested stop (workers stopped) exits with 0
        received: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, _frame: received.append(signum))
        self._server().run(sockets=[sock])
        if received:
            log.info("stopped by signal", extra={"signal": signal.Signals(received[0]).name})

    def run_in_thread(self, sock: socket.socket | None = None, start_timeout: float = 10.0) -> RunningOrchestrator:
        sock = sock or bind_socket(self.settings.http_addr)
        server = self._server()
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="orchestrator-http",
                                  daemon=True)
        thread.start()
        deadline = time.monotonic() + start_timeout
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)  # waiting for another thread's server to come up; no event to wait on
        if not server.started:
            server.should_exit = True
            thread.join(5)
            raise RuntimeError("the orchestrator HTTP server did not start")
        host, port = sock.getsockname()[:2]
        return RunningOrchestrator(f"http://{_client_host(host)}:{port}", server, thread)


@dataclass
class RunningOrchestrator:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def bind_socket(addr: str) -> socket.socket:
    host, port = split_addr(addr)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _client_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
