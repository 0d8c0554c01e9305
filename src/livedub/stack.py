"""The local stack behind `livedub up` and `livedub demo`: media server + orchestrator, supervised.

The media server is a child process (backend chosen by MEDIA_BACKEND); the orchestrator is the
same `livedub orchestrator` service that runs in containers, started as a child process with the
same environment, so `up` exercises exactly the production wiring. Workers are the
orchestrator's children.

Start order: the orchestrator first, and the media server only once the orchestrator answers, so
no publisher is accepted before its hook event can be delivered; then the stack waits until the
orchestrator is ready (it reaches the media server's API). From then on a
:class:`~livedub.proc.supervise.ChildSupervisor` restarts either child with backoff when it dies:
a new media server takes publishers again (and their hook events), a new orchestrator reconciles
with the media server and starts one worker per live stream. Stopping the stack stops the
supervisor, then the orchestrator (it stops its workers), then the media server.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from typing_extensions import Self

from livedub.config.settings import MediaSettings, OrchestratorSettings
from livedub.media.base import HookTarget, MediaServer, MediaServerError
from livedub.media.select import create_media_server
from livedub.proc.child import describe_returncode, spawn, terminate, wait_until
from livedub.proc.supervise import ChildRestartPolicy, ChildStatus, ChildSupervisor

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    pass


def orchestrator_url(settings: OrchestratorSettings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host, _, port = settings.http_addr.rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


@dataclass
class LocalStack:
    media_settings: MediaSettings
    orch_settings: OrchestratorSettings
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 20.0
    warm_timeout: float = 180.0  # how long start() waits for the standby worker's models
    restart_policy: ChildRestartPolicy = field(default_factory=ChildRestartPolicy)
    media: MediaServer | None = None
    _orch: subprocess.Popen[bytes] | None = None
    _supervisor: ChildSupervisor | None = None
    _hook_token: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        return orchestrator_url(self.orch_settings)

    @property
    def hooks(self) -> HookTarget:
        return HookTarget(self.url, self._hook_token)

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # the orchestrator accepts hook events only with this token; a new one per run unless the
        # operator set ORCH_HOOK_TOKEN (the orchestrator child gets it in its environment, never argv)
        configured = self.orch_settings.hook_token
        self._hook_token = configured.get_secret_value() if configured is not None else secrets.token_urlsafe(32)
        self.media = create_media_server(self.media_settings)
        self._spawn_orchestrator()
        try:
            self._wait("answer", self._healthy)
            # publishers are accepted from here on: their hook events reach an orchestrator that answers
            self.media.start(self.hooks)
            self._wait("become ready", self._ready)
            self._wait_for_standbys()
        except (StackError, MediaServerError):
            self.stop()
            raise
        self._supervisor = ChildSupervisor([_MediaChild(self), _OrchestratorChild(self)], self.restart_policy)
        self._supervisor.start()

    def _spawn_orchestrator(self) -> None:
        assert self.media is not None
        env = {**os.environ, **self.extra_env, "MEDIA_BACKEND": self.media.name, "ORCH_HOOK_TOKEN": self._hook_token}
        orch_log = (self.log_dir / "orchestrator.log").open("ab")
        self._orch = spawn([sys.executable, "-m", "livedub.cli.main", "orchestrator"],
                           env=env, stdout=orch_log, stderr=subprocess.STDOUT)
        orch_log.close()

    def _died(self) -> str | None:
        if self._orch is not None and self._orch.poll() is not None:
            return (f"the orchestrator {describe_returncode(self._orch.returncode)}; "
                    f"see {self.log_dir / 'orchestrator.log'}")
        return None

    def _wait_for_standbys(self) -> None:
        """Until the orchestrator's standby worker has loaded its models (ORCH_WARM_WORKERS): a stream
        published from then on is dubbed from its first words. Bounded by ``warm_timeout``; a stack
        whose standby is still loading then works too, its first stream waits for the models."""
        counts = self._standby_counts()
        if not counts or not counts.get("loading"):
            return
        log.info("loading the dub models in a standby worker", extra={"timeoutSeconds": self.warm_timeout})
        try:
            loaded = wait_until(lambda: not (self._standby_counts() or {}).get("loading"), self.warm_timeout,
                                interval=0.2, abort=self._died)
        except RuntimeError as exc:
            raise StackError(str(exc)) from None
        counts = self._standby_counts() or {}
        if not loaded:
            log.warning("the standby worker is still loading its models: a stream published now waits for them",
                        extra={"timeoutSeconds": self.warm_timeout})
        elif counts.get("failed"):
            log.warning("the standby worker cannot dub (its models did not load); see "
                        f"{self.log_dir / 'orchestrator.log'}")
        else:
            log.info("standby worker ready")

    def _standby_counts(self) -> dict[str, int] | None:
        try:
            response = httpx.get(self.url + "/readyz", timeout=1.0)
            counts = response.json().get("standbyWorkers") if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return counts if isinstance(counts, dict) else None

    def _wait(self, what: str, predicate: Callable[[], bool]) -> None:
        try:
            ok = wait_until(predicate, self.start_timeout, interval=0.1, abort=self._died)
        except RuntimeError as exc:
            raise StackError(str(exc)) from None
        if not ok:
            raise StackError(f"the orchestrator did not {what} at {self.url} within {self.start_timeout:g}s; "
                             f"see {self.log_dir / 'orchestrator.log'}")

    def _healthy(self) -> bool:
        return self._get_ok("/healthz")

    def _ready(self) -> bool:
        return self._get_ok("/readyz")

    def _get_ok(self, path: str) -> bool:
        try:
            return httpx.get(self.url + path, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def children(self) -> list[ChildStatus]:
        """The media server's and the orchestrator's state (up, restarts, last exit) for the console."""
        return self._supervisor.status() if self._supervisor is not None else []

    def streams(self) -> list[dict[str, Any]]:
        response = httpx.get(self.url + "/v1/streams", timeout=2.0)
        response.raise_for_status()
        body = response.json()
        return list(body.get("streams", body) if isinstance(body, dict) else body)

    def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.halt()  # waits for a restart in progress: nothing starts after this
        if self._orch is not None:
            # the orchestrator stops its workers on SIGTERM; give it their stop timeout plus margin
            terminate(self._orch, timeout=self.orch_settings.worker_stop_timeout + 5)
            self._orch = None
        if self.media is not None:
            self.media.stop()
            self.media = None
        if self._supervisor is not None:
            self._supervisor.close()
            self._supervisor = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _OrchestratorChild:
    name = "orchestrator"

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def exit_status(self) -> str | None:
        proc = self.stack._orch
        if proc is None or proc.poll() is None:
            return None
        return describe_returncode(proc.returncode)

    def restart(self) -> None:
        # a new orchestrator reconciles with the media server at start: one worker per live stream
        self.stack._spawn_orchestrator()


class _MediaChild:
    name = "media server"

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def exit_status(self) -> str | None:
        media = self.stack.media
        code = media.exit_code() if media is not None else None
        return None if code is None else describe_returncode(code)

    def restart(self) -> None:
        media = self.stack.media
        assert media is not None
        media.stop()  # reaps the dead process, removes its files
        media.start(self.stack.hooks)
