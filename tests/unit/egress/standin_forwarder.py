"""Stand-in for `livedub forward` in orchestrator tests: records how it was started, runs until SIGTERM.

    standin_forwarder.py --out DIR [--exit-after SECONDS] [--leak]

Writes ``DIR/<stream>.<pid>.json`` with its argv and EGRESS_* environment, and appends
``start|stop|crash <stream> <pid>`` lines to ``DIR/forwarders.log``. ``--leak`` prints the stream key
of EGRESS_URL the ways a real forwarder's output could carry it (a JSON log line, a traceback and a
GLib critical on stderr, all outside a URL), then ``leaked`` on stderr as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--exit-after", type=float, default=None)
    parser.add_argument("--leak", action="store_true")
    args = parser.parse_args()
    stream = os.environ.get("EGRESS_STREAM_ID", "")
    pid = os.getpid()
    log = os.open(os.path.join(args.out, "forwarders.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    env = {k: v for k, v in os.environ.items() if k.startswith(("EGRESS_", "WORKER_"))}
    with open(os.path.join(args.out, f"{stream}.{pid}.json"), "w") as fh:
        json.dump({"pid": pid, "argv": sys.argv, "env": env}, fh)
    os.write(log, f"start {stream} {pid}\n".encode())
    if args.leak:
        key = os.environ.get("EGRESS_URL", "").rsplit("/", 1)[-1]
        print(json.dumps({"level": "ERROR", "message": f"rtmp2sink refused stream {key}"}), flush=True)
        print(f"Traceback (most recent call last):\nValueError: bad key {key!r}", file=sys.stderr, flush=True)
        print(f"(gst-plugin-scanner): GLib-CRITICAL **: stream '{key}' failed", file=sys.stderr, flush=True)
        print("leaked", file=sys.stderr, flush=True)

    def on_term(signum: int, frame: object) -> None:
        os.write(log, f"stop {stream} {pid}\n".encode())
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    deadline = None if args.exit_after is None else time.monotonic() + args.exit_after
    while deadline is None or time.monotonic() < deadline:
        time.sleep(0.05)
    os.write(log, f"crash {stream} {pid}\n".encode())
    return 1


if __name__ == "__main__":
    sys.exit(main())
