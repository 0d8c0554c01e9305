"""What ``ps`` shows for a livedub process: ``livedub worker <stream> run <run>``, ``livedub worker standby``.

A standby worker learns its stream after it started (``livedub.proc.standby``), so neither its
command line nor its environment names the stream: its title does. The title overwrites the
command line only (``SPT_NOENV``): ``/proc/<pid>/environ`` stays readable, and a title longer
than the original command line is cut.
"""

from __future__ import annotations

import os


def set_title(title: str) -> None:
    os.environ.setdefault("SPT_NOENV", "1")  # read by setproctitle when it first runs: keep environ intact
    import setproctitle

    setproctitle.setproctitle(title)


def worker_title(stream_id: str, run_id: str) -> str:
    return f"livedub worker {stream_id} run {run_id}" if stream_id else "livedub worker standby"
