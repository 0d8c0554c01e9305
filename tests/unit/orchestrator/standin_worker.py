"""Stand-in for `livedub worker` in orchestrator tests: runs until SIGTERM, optionally crashes.

It proves "one worker per stream" from the outside: it takes an exclusive, non-blocking flock
on ``<lock-dir>/<stream>.lock`` (released by the kernel however the process dies); failing to get
it means another worker for the same stream is alive, which it records as a DUPLICATE file.

Its markers, for tests to wait on: ``<stream>.json`` (written whole, then ``start`` in
``events.log``). A SIGTERM that arrives once ``events.log`` exists is held until ``start`` is
recorded, so every ``stop`` follows its ``start``. With ``WORKER_STANDBY=true`` it first waits for
its stream on stdin, as a warm worker does (one JSON line; end of file: exit 0, no marker).

    standin_worker.py --lock-dir DIR [--exit-after SECONDS --exit-code N] [--ignore-term] [--stop-delay S]
                      [--metrics-port PORT]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lock-dir", required=True)
    parser.add_argument("--exit-after", type=float, default=None)
    parser.add_argument("--exit-code", type=int, default=1)
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--stop-delay", type=float, default=0.0, help="seconds to finish after SIGTERM")
    parser.add_argument("--metrics-port", type=int, default=None, help="announce /metrics here, as the worker does")
    args = parser.parse_args()
    assigned: dict[str, str] = {}
    if os.environ.get("WORKER_STANDBY") == "true":  # the warm worker's handshake (livedub.proc.standby)
        print(json.dumps({"level": "info", "msg": "standby worker ready", "standby": "ready"}), flush=True)
        line = sys.stdin.readline()
        if not line:
            return 0  # not needed
        assigned = {f"WORKER_{k.upper()}": v for k, v in json.loads(line).items()}
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # until "start" is recorded

    stream = assigned.get("WORKER_STREAM_ID", os.environ.get("WORKER_STREAM_ID", ""))
    pid = os.getpid()
    events = os.open(os.path.join(args.lock_dir, "events.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    lock = open(os.path.join(args.lock_dir, f"{stream}.lock"), "w")  # noqa: SIM115 - held for the lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        open(os.path.join(args.lock_dir, f"{stream}.{pid}.DUPLICATE"), "w").close()
        os.write(events, f"duplicate {stream} {pid}\n".encode())
        return 3
    env = {**{k: v for k, v in os.environ.items() if k.startswith("WORKER_")}, **assigned}
    marker = os.path.join(args.lock_dir, f"{stream}.json")
    with open(f"{marker}.{pid}.tmp", "w") as fh:
        json.dump({"pid": pid, "env": env}, fh)
    os.replace(f"{marker}.{pid}.tmp", marker)  # whole when it appears
    os.write(events, f"start {stream} {pid}\n".encode())
    print(json.dumps({"level": "info", "component": "worker", "msg": "stand-in worker started", "pid": pid}),
          flush=True)
    print("a plain line on stderr", file=sys.stderr, flush=True)
    if args.metrics_port is not None:  # the real worker's announcement (livedub.worker.run)
        print(json.dumps({"level": "info", "msg": "worker starting", "metricsPort": args.metrics_port}), flush=True)

    def on_term(signum: int, frame: object) -> None:
        if args.ignore_term:
            return
        time.sleep(args.stop_delay)  # a worker flushing its run bundle, still holding its lock
        os.write(events, f"stop {stream} {pid}\n".encode())
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # a SIGTERM held until now is handled here
    deadline = None if args.exit_after is None else time.monotonic() + args.exit_after
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            os.write(events, f"crash {stream} {pid}\n".encode())
            return args.exit_code
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
