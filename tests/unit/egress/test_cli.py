"""`livedub forward` refuses bad settings with exit 2 and a message that never repeats the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

KEY = "sk-live-0123456789abcdef"


def run_forward(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EGRESS_", "LOG_", "WORKER_", "ORCH_"))}
    return subprocess.run([sys.executable, "-m", "livedub.cli.main", "forward", *args], env={**clean, **env},
                          check=False, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("args", "env", "message"), [
    ((), {}, "EGRESS_URL is not set"),
    ((), {"EGRESS_URL": f"http://cdn.example/app/{KEY}"}, "invalid EGRESS_URL: expected an rtmp:// or rtmps:// URL"),
    ((), {"EGRESS_URL": f"rtmp://cdn.example/{KEY}"}, "needs an application and a stream key"),
    ((), {"EGRESS_URL": f"rtmp://cdn.example/app/{KEY}"}, "EGRESS_SOURCE_URL (--source-url) must be"),
    (("--source-url", "file:///etc/passwd"), {"EGRESS_URL": f"rtmp://cdn.example/app/{KEY}"}, "must be the rtmp://"),
    (("--stream-id", "a/b"), {"EGRESS_URL": f"rtmp://cdn.example/app/{KEY}"}, "invalid --stream-id"),
    (("--retry-max", "later"), {"EGRESS_URL": f"rtmp://cdn.example/app/{KEY}"}, "invalid --retry-max"),
])
def test_invalid_settings_exit_2_without_the_key(args: tuple[str, ...], env: dict[str, str], message: str) -> None:
    result = run_forward(*args, **env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert KEY not in result.stderr + result.stdout


def test_the_destination_has_no_command_line_flag() -> None:
    result = run_forward("--help")
    assert result.returncode == 0
    assert "--url" not in result.stdout and "EGRESS_URL" in result.stdout
