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

import importlib.util
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from livedub.config.loader import known_env_vars
from livedub.config.publish_keys import PublishKeys
from livedub.config.settings import EgressSettings, OrchestratorSettings, PathSettings
from livedub.config.settings import Launcher as LauncherKind
from livedub.orchestrator.actor import Clock, SupervisorActor, UrlBuilder
from livedub.orchestrator.app import create_app
from livedub.orchestrator.health import MediaProbe
from livedub.orchestrator.host_launcher import HostLauncher
from livedub.orchestrator.known_streams import StateWriter, StreamsFile, state_file_path
from livedub.orchestrator.metrics import EventCounts, OrchestratorCollector, build_registry
from livedub.orchestrator.ray_launcher import RayLauncher, RayPlacement
from livedub.orchestrator.reconcile import LiveSource, Reconciler
from livedub.orchestrator.supervisor import Supervisor, SupervisorPolicy
from livedub.orchestrator.transcripts import RunTail
from livedub.proc import serve
from livedub.proc.backoff import RestartPolicy
from livedub.proc.launcher import Launcher, ProcessLauncher, parse_worker_command, without_secrets
from livedub.proc.serve import RunningServer, bind_socket, split_addr

__all__ = ["OrchestratorService", "RunningOrchestrator", "bind_socket", "split_addr", "worker_launcher"]

RunningOrchestrator = RunningServer

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


def worker_launcher(settings: OrchestratorSettings, worker_env: Mapping[str, str]) -> Launcher:
    """Where workers run (``ORCH_LAUNCHER``): child processes, or the stream-worker host over HTTP."""
    if settings.launcher == LauncherKind.host:
        if not settings.worker_host_url:
            raise ValueError("ORCH_LAUNCHER=host needs ORCH_WORKER_HOST_URL (e.g. http://stream-worker:8090)")
        return HostLauncher(settings.worker_host_url, stop_timeout=settings.worker_stop_timeout)
    # workers inherit the orchestrator's environment, minus secrets (the egress stream key); a
    # publisher back within the grace period finds its worker still reading (WORKER_INPUT_RECONNECT)
    env = {**without_secrets(worker_env), "WORKER_INPUT_RECONNECT": f"{settings.grace_period:g}s"}
    if settings.launcher == LauncherKind.ray:
        if not settings.ray_address:
            raise ValueError("ORCH_LAUNCHER=ray needs ORCH_RAY_ADDRESS (e.g. ray-head:6379, or auto)")
        if importlib.util.find_spec("ray") is None:
            raise ValueError("ORCH_LAUNCHER=ray needs Ray: install the cluster extra (scripts/install.sh --cluster)")
        # a node has its own paths and tools: it gets livedub's settings, not this host's whole environment
        known = {doc.name for doc in known_env_vars()}
        placement = RayPlacement(settings.ray_num_cpus, settings.ray_num_gpus, settings.ray_resource_map,
                                 settings.ray_spread)
        command = parse_worker_command(settings.worker_command) if settings.worker_command.strip() else []
        return RayLauncher(settings.ray_address, namespace=settings.ray_namespace, command=command,
                           base_env={k: v for k, v in env.items() if k in known},
                           stop_timeout=settings.worker_stop_timeout, placement=placement)
    return ProcessLauncher(parse_worker_command(settings.worker_command), stop_timeout=settings.worker_stop_timeout,
                           base_env=env, warm=settings.warm_workers)


class OrchestratorService:
    def __init__(self, settings: OrchestratorSettings, media: MediaEndpoint, launcher: Launcher | None = None,
                 worker_env: Mapping[str, str] | None = None, clock: Clock = time.monotonic,
                 rng: random.Random | None = None, reconcile: bool = True,
                 egress: EgressSettings | None = None, paths: PathSettings | None = None) -> None:
        self.settings = settings
        self.media = media
        # the environment workers inherit; per-stream query settings are validated on top of it
        self.worker_env = dict(os.environ if worker_env is None else worker_env)
        self.worker_launcher: Launcher = launcher or worker_launcher(settings, self.worker_env)
        self.launcher: Launcher = self.worker_launcher
        forwarders: Callable[[], int] = lambda: 0
        if egress is not None and egress.enabled:
            from livedub.egress.supervisor import EgressLauncher, forwarder_supervisor, parse_forward_command

            supervisor = forwarder_supervisor(egress, parse_forward_command(egress.forward_command),
                                              settings.worker_stop_timeout, self.worker_env, rng)
            self.launcher = EgressLauncher(self.worker_launcher, supervisor, _egress_source(media))
            forwarders = supervisor.active
        self.supervisor = Supervisor(policy_from_settings(settings), rng)
        # with a data directory, each stream's settings survive an orchestrator restart
        self.state_file = StreamsFile(state_file_path(paths)) if paths is not None else None
        restored = self.state_file.load(self.worker_env) if self.state_file is not None else []
        if restored:
            log.info("remembered stream settings loaded", extra={"streams": len(restored),
                                                                 "path": str(self.state_file.path)})
        self.actor = SupervisorActor(self.supervisor, self.launcher, media, clock=clock, restored=restored,
                                     store=StateWriter(self.state_file.save) if self.state_file is not None else None)
        self.reconciler = Reconciler(self.actor, media, settings.reconcile_interval) if reconcile else None
        self.media_probe = MediaProbe(media)  # /readyz: the media server's API answers
        self.events = EventCounts()
        # what the workers are doing, from their run bundles (the console); None without a data dir
        self.runs = RunTail(paths.data_dir) if paths is not None else None
        # who may publish (ORCH_PUBLISH_KEYS_FILE); None: anyone who reaches the ingest port
        self.publish_keys = PublishKeys(Path(settings.publish_keys_file)) if settings.publish_keys_file else None
        self.registry = build_registry(OrchestratorCollector(self.supervisor.records, self.events,
                                                             settings.max_workers, forwarders))
        self.app = create_app(self)

    def standby_counts(self) -> dict[str, int] | None:
        """Standby workers loading, ready or failed (process launcher with ORCH_WARM_WORKERS > 0)."""
        launcher = self.worker_launcher
        return launcher.standby_counts() if isinstance(launcher, ProcessLauncher) and launcher.warm else None

    async def cluster_view(self) -> dict[str, object] | None:
        """The Ray cluster as ``/readyz`` reports it (ORCH_LAUNCHER=ray), else None."""
        launcher = self.worker_launcher
        return await launcher.cluster_view() if isinstance(launcher, RayLauncher) else None

    async def start(self) -> None:
        self.actor.start()
        if isinstance(self.worker_launcher, HostLauncher):
            self.worker_launcher.start_sweep()
        if isinstance(self.worker_launcher, RayLauncher):
            self.worker_launcher.start_sweep(self.media)
        if isinstance(self.worker_launcher, ProcessLauncher):
            await self.worker_launcher.warm_up()
        if self.reconciler is not None:
            self.reconciler.start()
        log.info("orchestrator started", extra={"maxWorkers": self.settings.max_workers,
                                                "gracePeriodSeconds": self.settings.grace_period,
                                                "hookAuth": self.settings.hook_token is not None})
        if self.settings.hook_token is None:
            log.warning("ORCH_HOOK_TOKEN is not set: any process that reaches ORCH_HTTP_ADDR can send hook events "
                        "and start workers")

    async def stop(self) -> None:
        if self.reconciler is not None:
            await self.reconciler.close()
        await self.actor.close(timeout=self.settings.worker_stop_timeout + 5)
        log.info("orchestrator stopped")

    # -- serving -------------------------------------------------------------------------------
    def serve_forever(self, sock: socket.socket | None = None) -> None:
        """Run in the foreground until SIGINT/SIGTERM, then stop workers (the app's lifespan)."""
        stopped_by = serve.serve_forever(self.app, sock or bind_socket(self.settings.http_addr))
        if stopped_by:
            log.info("stopped by signal", extra={"signal": stopped_by})

    def run_in_thread(self, sock: socket.socket | None = None, start_timeout: float = 10.0) -> RunningOrchestrator:
        return serve.run_in_thread(self.app, sock or bind_socket(self.settings.http_addr), "orchestrator-http",
                                   start_timeout)


def _egress_source(media: object) -> Callable[[str], str]:
    """What a forwarder pulls: the media server's ``live/<id>/out`` (RTSP on MediaMTX, RTMP on nginx)."""
    source = getattr(media, "egress_source_url", None)
    return source if callable(source) else media.worker_output_url  # type: ignore[attr-defined]
