"""The local stack behind `livedub up` and `livedub demo`: media server + orchestrator, supervised.

The media server is a child process (backend chosen by MEDIA_BACKEND); the orchestrator is the
same `livedub orchestrator` service that runs in containers, started as a child process with the
same environment, so `up` exercises exactly the production wiring. Workers are the
orchestrator's children. Stopping the stack stops the orchestrator first (it stops its
workers), then the media server.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from typing_extensions import Self

from livedub.config.settings import MediaSettings, OrchestratorSettings
from livedub.media.base import HookTarget, MediaServer
from livedub.media.select import create_media_server
from livedub.proc.child import spawn, terminate, wait_until

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
    media: MediaServer | None = None
    _orch: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return orchestrator_url(self.orch_settings)

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.media = create_media_server(self.media_settings)
        self.media.start(HookTarget(self.url))
        env = {**os.environ, **self.extra_env, "MEDIA_BACKEND": self.media.name}
        orch_log = (self.log_dir / "orchestrator.log").open("ab")
        self._orch = spawn([sys.executable, "-m", "livedub.cli.main", "orchestrator"],
                           env=env, stdout=orch_log, stderr=subprocess.STDOUT)
        orch_log.close()

        def died() -> str | None:
            if self._orch is not None and self._orch.poll() is not None:
                return (f"the orchestrator exited with code {self._orch.returncode}; "
                        f"see {self.log_dir / 'orchestrator.log'}")
            return None

        try:
            ready = wait_until(self._ready, self.start_timeout, interval=0.1, abort=died)
        except RuntimeError as exc:
            self.stop()
            raise StackError(str(exc)) from None
        if not ready:
            self.stop()
            raise StackError(f"the orchestrator did not become ready at {self.url} within {self.start_timeout:g}s")

    def _ready(self) -> bool:
        try:
            return httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def streams(self) -> list[dict[str, Any]]:
        response = httpx.get(self.url + "/v1/streams", timeout=2.0)
        response.raise_for_status()
        body = response.json()
        return list(body.get("streams", body) if isinstance(body, dict) else body)

    def stop(self) -> None:
        if self._orch is not None:
            # the orchestrator stops its workers on SIGTERM; give it their stop timeout plus margin
            terminate(self._orch, timeout=self.orch_settings.worker_stop_timeout + 5)
            self._orch = None
        if self.media is not None:
            self.media.stop()
            self.media = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
