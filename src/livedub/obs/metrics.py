"""Serving Prometheus metrics from any livedub process."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server


@dataclass(frozen=True)
class MetricsEndpoint:
    host: str
    port: int
    server: WSGIServer

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_metrics(port: int = 0, host: str = "127.0.0.1", registry: CollectorRegistry | None = None) -> MetricsEndpoint:
    """Serve ``/metrics`` in a daemon thread; ``port=0`` picks a free port (reported back)."""
    kwargs = {"registry": registry} if registry is not None else {}
    server, _thread = start_http_server(port, addr=host, **kwargs)
    bound = server.server_address[1]
    return MetricsEndpoint(host=host, port=int(bound), server=server)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (for tests and for ``port=0``-style defaults)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
