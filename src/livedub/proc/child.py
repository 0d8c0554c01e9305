"""Start programs as children that die with us, and stop them politely then firmly."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

_PR_SET_PDEATHSIG = 1


# resolved once here: the child must not dlopen between fork and exec (a forked copy of a
# multithreaded process can deadlock on the loader lock)
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def nofile_limit(wanted: int) -> int:
    """The open-files limit a child can get: ``wanted``, or this process's hard limit if lower."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


def spawn(argv: Sequence[str], nofile: int | None = None, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Popen that gets SIGTERM if this process dies (Linux), so no orphan outlives livedub.

    ``nofile``: the child's soft open-files limit (a server sized for many connections; pass a value
    from :func:`nofile_limit`), set in the child only.
    """
    if nofile is None:
        return subprocess.Popen(list(argv), preexec_fn=_die_with_parent, **kwargs)  # noqa: PLW1509
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def prepare() -> None:  # between fork and exec: only calls into already loaded modules
        _die_with_parent()
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

    return subprocess.Popen(list(argv), preexec_fn=prepare, **kwargs)  # noqa: PLW1509


def terminate(proc: subprocess.Popen[Any], timeout: float) -> int | None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Returns the exit code."""
    if proc.poll() is not None:
        return proc.returncode
    _signal(proc, signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL)
        return proc.wait(timeout=5)


def _signal(proc: subprocess.Popen[Any], sig: int) -> None:
    """Signal the child's whole process group when it leads one (start_new_session=True), so a
    wrapper command (``sh -c ...``) takes its children with it; otherwise the child alone."""
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
            return
    except ProcessLookupError:
        return
    proc.send_signal(sig)


def describe_returncode(code: int) -> str:
    """``Popen.returncode`` in words: ``exited with code 1``, ``killed by SIGKILL``."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05,
               abort: Callable[[], str | None] | None = None) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; ``abort`` returning a reason raises."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if abort is not None:
            reason = abort()
            if reason:
                raise RuntimeError(reason)
        time.sleep(interval)
    return predicate()


def port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
