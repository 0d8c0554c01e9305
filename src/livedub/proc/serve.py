"""Serving an ASGI app (FastAPI) from a livedub process: foreground with signals, or on a thread.

The orchestrator and the stream-worker host both serve this way; the app's lifespan starts and
stops what the process owns (workers), so a SIGTERM stops them before the process exits.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def bind_socket(addr: str) -> socket.socket:
    """Bind ``host:port`` now, so a busy port is reported before anything starts."""
    host, port = split_addr(addr)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def client_host(host: str) -> str:
    """The address a local client uses for a server bound to ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def make_server(app: Any) -> uvicorn.Server:
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


def serve_forever(app: Any, sock: socket.socket) -> str | None:
    """Serve until SIGINT/SIGTERM, then run the app's shutdown. Returns the signal's name, if any.

    uvicorn re-raises the signal that stopped it once shutdown is done, restoring the handlers it
    found; these make that a no-op, so a requested stop exits with 0.
    """
    received: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: received.append(signum))
    make_server(app).run(sockets=[sock])
    return signal.Signals(received[0]).name if received else None


@dataclass
class RunningServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def run_in_thread(app: Any, sock: socket.socket, name: str, start_timeout: float = 10.0) -> RunningServer:
    """Serve on a daemon thread; returns once the server accepts connections (its lifespan ran)."""
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)  # waiting for another thread's server to come up; no event to wait on
    if not server.started:
        server.should_exit = True
        thread.join(5)
        raise RuntimeError(f"the {name} HTTP server did not start")
    host, port = sock.getsockname()[:2]
    return RunningServer(f"http://{client_host(host)}:{port}", server, thread)
