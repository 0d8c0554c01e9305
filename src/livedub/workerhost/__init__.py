"""The stream-worker host (`livedub worker-host`, compose service `stream-worker`).

It runs the worker processes of the streams the orchestrator assigns to it, so the orchestrator
needs no Docker socket: ``api`` (the HTTP contract), ``host`` (which run exists per stream; process
control is the orchestrator's ``ProcessLauncher``), ``app`` (FastAPI). The client side is
``livedub.orchestrator.host_launcher.HostLauncher``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from livedub.config.settings import WorkerHostSettings
from livedub.proc.launcher import ProcessLauncher, parse_worker_command, without_secrets
from livedub.workerhost.host import WorkerHost


def host_from_settings(settings: WorkerHostSettings, env: Mapping[str, str] | None = None) -> WorkerHost:
    """A host whose workers inherit ``env`` (default: this process's) minus secrets."""
    base_env = without_secrets(os.environ if env is None else env)
    launcher = ProcessLauncher(parse_worker_command(settings.worker_command),
                               stop_timeout=settings.worker_stop_timeout, base_env=base_env,
                               warm=settings.warm_workers)
    return WorkerHost(launcher)
