"""Processes for the worker end-to-end tests: `livedub worker`, ffmpeg publishers, recorders, probes,
and reading back what the worker reports (JSON log lines, Prometheus metrics, run bundles).

Every ffmpeg runs under ``timeout``: a reader of a stream nobody publishes can hang forever.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from livedub.media.nginx import NginxMediaServer
from livedub.obs.metrics import free_port
from livedub.proc.child import spawn, terminate, wait_until
from tests.e2e.conftest import RW_TIMEOUT_US
from tests.e2e.media_analysis import FFMPEG_TIMEOUT_S


class WorkerProcess:
    """`livedub worker` as a real subprocess; its JSON log lines are read back from a file."""

    def __init__(self, tmp: Path, stream_id: str, input_url: str, output_url: str, *extra: str,
                 env: dict[str, str] | None = None) -> None:
        self.log_path = tmp / f"worker-{stream_id}.log"
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("WORKER_", "LOG_"))}
        environment.update(LOG_FORMAT="json", LOG_LEVEL="INFO", **(env or {}))
        argv = [sys.executable, "-m", "livedub.cli.main", "worker", "--stream-id", stream_id,
                "--input-url", input_url, "--output-url", output_url, "--metrics-port", str(free_port()), *extra]
        with self.log_path.open("wb") as out:
            self.proc = spawn(argv, stdout=out, stderr=subprocess.STDOUT, env=environment)

    def lines(self) -> list[dict]:
        records = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                records.append(json.loads(raw))
            except json.JSONDecodeError:
                records.append({"msg": raw})
        return records

    def find(self, **fields: object) -> dict | None:
        for record in self.lines():
            if all(record.get(k) == v for k, v in fields.items()):
                return record
        return None

    def _died(self, before: str) -> Callable[[], str | None]:
        def died() -> str | None:
            code = self.proc.poll()
            return None if code is None else f"worker exited {code} before {before}:\n{self.log_text()}"
        return died

    def wait_state(self, state: str, timeout: float) -> dict:
        assert wait_until(lambda: self.find(state=state) is not None, timeout, abort=self._died(state)), (
            f"worker not {state} within {timeout}s:\n{self.log_text()}")
        return self.find(state=state) or {}

    def wait_metric(self, name: str, value: float, timeout: float) -> str:
        """Poll the worker's /metrics until ``name`` reaches ``value``; returns that snapshot."""
        url, seen = self.metrics_url(), [""]

        def reached() -> bool:
            try:
                seen[0] = metrics_text(url)
            except httpx.TransportError:  # the endpoint of a worker that is exiting: `died` tells why
                return False
            return (metric_value(seen[0], name) or 0) >= value

        assert wait_until(reached, timeout, abort=self._died(f"{name} reached {value}")), (
            f"{name} never reached {value} within {timeout}s:\n{self.log_text()}")
        return seen[0]

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            terminate(self.proc, 5)
            pytest.fail(f"worker still running after {timeout}s:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def metrics_url(self) -> str:
        return (self.find(msg="worker starting") or {})["metricsUrl"]

    def stop(self) -> None:
        terminate(self.proc, 5)


def ffmpeg(*args: str, log: Path, limit_s: float = FFMPEG_TIMEOUT_S) -> subprocess.Popen[bytes]:
    """A bounded ffmpeg child (killed by `timeout` after ``limit_s`` if anything hangs)."""
    with log.open("wb") as out:
        return spawn(["timeout", f"{limit_s:g}", "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", *args],
                     stdout=out, stderr=subprocess.STDOUT)


def publish(server: NginxMediaServer, stream_id: str, media: Path, tmp: Path,
            limit_s: float = FFMPEG_TIMEOUT_S) -> subprocess.Popen[bytes]:
    return ffmpeg("-re", "-i", str(media), "-c", "copy", "-f", "flv", server.ingest(stream_id).ffmpeg_url,
                  log=tmp / f"publish-{stream_id}.log", limit_s=limit_s)


def record(url: str, path: Path, rw_timeout_us: str = RW_TIMEOUT_US,
           limit_s: float = FFMPEG_TIMEOUT_S) -> subprocess.Popen[bytes]:
    """Record ``url`` as it is (codec copy). ``rw_timeout_us`` must exceed the time to the output's
    first data (the worker's delay): the reader gives up on a silent connection after it."""
    return ffmpeg("-rw_timeout", rw_timeout_us, "-i", url, "-c", "copy", "-f", "flv", "-y", str(path),
                  log=path.with_suffix(".log"), limit_s=limit_s)


def wallclock_luma_probe(url: str, path: Path, epoch: int, rw_timeout_us: str = RW_TIMEOUT_US,
                         limit_s: float = FFMPEG_TIMEOUT_S) -> subprocess.Popen[bytes]:
    """Per-frame mean luma, each frame stamped with the wall clock (seconds since ``epoch``) of its arrival."""
    # -copyts keeps the wall-clock stamps (ffmpeg would rebase each reader to its own start);
    # setpts subtracts a common epoch so the printed times keep their millisecond digits
    return ffmpeg("-rw_timeout", rw_timeout_us, "-use_wallclock_as_timestamps", "1", "-copyts", "-i", url,
                  "-an", "-vf", f"setpts=PTS-{epoch}/TB,signalstats,metadata=print:key=lavfi.signalstats.YAVG:"
                  f"file={path}", "-f", "null", "-", log=path.with_suffix(".log"), limit_s=limit_s)


def wait_exit(proc: subprocess.Popen[bytes], timeout: float = FFMPEG_TIMEOUT_S) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        terminate(proc, 5)
        raise


def metrics_text(url: str) -> str:
    return httpx.get(url, timeout=2.0).text


def metric_value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return None


def run_bundle(data_dir: Path, stream_id: str, run_id: str) -> tuple[dict, list[dict]]:
    """(manifest, fragment JSONs in order) of one run bundle."""
    run = data_dir / "streams" / stream_id / "runs" / run_id
    manifest = json.loads((run / "manifest.json").read_text())
    fragments = [json.loads(p.read_text()) for p in sorted((run / "fragments").glob("*.json"))]
    return manifest, fragments
