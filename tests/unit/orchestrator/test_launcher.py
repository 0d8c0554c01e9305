"""The child-process launcher with real processes (the stand-in worker)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from livedub.config.stream_query import StreamSettings
from livedub.proc.child import pid_alive, wait_until
from livedub.proc.launcher import (
    LaunchError,
    ProcessLauncher,
    WorkerExit,
    WorkerSpec,
    parse_worker_command,
    stdout_sink,
)

from .conftest import standin_command

SPEC = WorkerSpec("cam-1", "run-7", "rtsp://m:8554/live/cam-1/in", "rtmp://m:1935/live/cam-1/out",
                  StreamSettings({"target_lang": "de", "sts_mode": "mock"}))


class Exits:
    def __init__(self) -> None:
        self.items: list[WorkerExit] = []
        self.event = threading.Event()

    def __call__(self, exit_: WorkerExit) -> None:
        self.items.append(exit_)
        self.event.set()


def lines_sink() -> tuple[list[tuple[str, str]], object]:
    lines: list[tuple[str, str]] = []
    return lines, lambda spec, line: lines.append((spec.stream_id, line))


def test_worker_env_logs_and_graceful_stop(tmp_path: Path) -> None:
    lines, sink = lines_sink()

    async def scenario() -> None:
        launcher = ProcessLauncher(parse_worker_command(standin_command(tmp_path)), stop_timeout=5, base_env={
            "PATH": os.environ.get("PATH", ""), "WORKER_STS_MODE": "bypass"}, sink=sink)
        exits = Exits()
        handle = await launcher.start(SPEC, exits)
        assert await asyncio.to_thread(wait_until, lambda: (tmp_path / "cam-1.json").exists(), 10)
        env = json.loads((tmp_path / "cam-1.json").read_text())["env"]
        assert env == {"WORKER_STREAM_ID": "cam-1", "WORKER_INPUT_URL": SPEC.input_url,
                       "WORKER_OUTPUT_URL": SPEC.output_url, "WORKER_RUN_ID": "run-7", "WORKER_TARGET_LANG": "de",
                       "WORKER_STS_MODE": "mock"}  # the stream's setting wins over the inherited one
        await launcher.stop(handle)
        assert await asyncio.to_thread(exits.event.wait, 5)
        assert exits.items == [WorkerExit("cam-1", "run-7", 0, None)]
        assert not pid_alive(handle.pid)

    asyncio.run(scenario())
    assert wait_until(lambda: len(lines) >= 2, 5)
    assert ("cam-1", "a plain line on stderr\n") in lines
    assert any("stand-in worker started" in line for _, line in lines)
    assert (tmp_path / "events.log").read_text().split()[::3] == ["start", "stop"]


def test_crash_is_reported_with_its_exit_code(tmp_path: Path) -> None:
    async def scenario() -> WorkerExit:
        launcher = ProcessLauncher(parse_worker_command(standin_command(tmp_path, "--exit-after", "0.1",
                                                                        "--exit-code", "7")), sink=lines_sink()[1])
        exits = Exits()
        await launcher.start(SPEC, exits)
        assert await asyncio.to_thread(exits.event.wait, 10)
        return exits.items[0]

    assert asyncio.run(scenario()) == WorkerExit("cam-1", "run-7", 7, "worker exited with code 7")


def test_sigkill_after_the_stop_timeout(tmp_path: Path) -> None:
    async def scenario() -> WorkerExit:
        launcher = ProcessLauncher(parse_worker_command(standin_command(tmp_path, "--ignore-term")),
                                   stop_timeout=0.5, sink=lines_sink()[1])
        exits = Exits()
        handle = await launcher.start(SPEC, exits)
        assert await asyncio.to_thread(wait_until, lambda: (tmp_path / "cam-1.json").exists(), 10)
        await launcher.stop(handle)
        assert await asyncio.to_thread(exits.event.wait, 5)
        return exits.items[0]

    exit_ = asyncio.run(scenario())
    assert exit_.exit_code == -signal.SIGKILL and exit_.error == "worker killed by SIGKILL"


def test_missing_worker_binary_is_a_launch_error() -> None:
    async def scenario() -> None:
        launcher = ProcessLauncher(["/nonexistent/livedub-worker"])
        with pytest.raises(LaunchError, match="cannot run worker command"):
            await launcher.start(SPEC, Exits())

    asyncio.run(scenario())


def test_no_orphan_when_the_orchestrator_is_killed(tmp_path: Path) -> None:
    """SIGKILL the process that launched a worker: the worker goes too (parent-death signal)."""
    script = textwrap.dedent(f"""
        import asyncio, sys
        from livedub.proc.launcher import ProcessLauncher, WorkerSpec, parse_worker_command
        async def main():
            launcher = ProcessLauncher(parse_worker_command({standin_command(tmp_path)!r}))
            handle = await launcher.start(WorkerSpec("orphan", "r", "rtsp://x", "rtmp://x"), lambda e: None)
            print(handle.pid, flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        worker_pid = int(parent.stdout.readline())
        assert wait_until(lambda: (tmp_path / "orphan.json").exists(), 10)
        assert pid_alive(worker_pid)
        parent.kill()
        parent.wait(5)
        assert wait_until(lambda: not _running(worker_pid), 10), "worker outlived its orchestrator"
    finally:
        parent.kill()
        parent.wait(5)


def _running(pid: int) -> bool:
    """Alive and not a zombie (the reaped-by-init case)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_json_lines_pass_through_tagged_and_others_become_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    stdout_sink(SPEC, '{"msg": "fragment done", "component": "worker"}\n', out)
    stdout_sink(SPEC, '{"msg": "x", "streamId": "kept"}\n', out)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first == {"msg": "fragment done", "component": "worker", "streamId": "cam-1", "runId": "run-7"}
    assert second["streamId"] == "kept"
    with caplog.at_level("INFO"):
        stdout_sink(SPEC, "Traceback: pushing to rtmp://a.example/live2/secret-key failed\n", out)
    (record,) = [r for r in caplog.records if r.name == "livedub.proc.launcher"]
    assert record.streamId == "cam-1" and "secret-key" not in record.getMessage()


def test_worker_command_parsing() -> None:
    assert parse_worker_command("")[-2:] == ["livedub.cli.main", "worker"]
    assert parse_worker_command("python3 -m x --flag 'a b'") == ["python3", "-m", "x", "--flag", "a b"]
    assert shlex.split(standin_command(Path("/t")))[-2:] == ["--lock-dir", "/t"]


def test_the_workers_own_reason_for_ending_is_reported_with_its_exit() -> None:
    reason = "input audio is MP3; the worker needs AAC (from rtmp://user:pw@m/live/cam-1/in)"
    script = textwrap.dedent(f"""
        import json, sys
        print(json.dumps({{"level": "info", "msg": "input", "reason": "not the last word"}}))
        print(json.dumps({{"level": "error", "msg": "worker failing", "exitCode": 4, "reason": {reason!r}}}))
        sys.exit(4)
    """)

    async def scenario() -> WorkerExit:
        launcher = ProcessLauncher([sys.executable, "-c", script], sink=lines_sink()[1])
        exits = Exits()
        await launcher.start(SPEC, exits)
        assert await asyncio.to_thread(exits.event.wait, 10)
        return exits.items[0]

    exit_ = asyncio.run(scenario())
    assert exit_.exit_code == 4
    assert exit_.error is not None and exit_.error.startswith("input audio is MP3; the worker needs AAC")
    assert "pw" not in exit_.error  # credentials in a URL are redacted


DEFAULT_SPEC = WorkerSpec("cam-2", "run-8", "rtsp://m:8554/live/cam-2/in", "rtmp://m:1935/live/cam-2/out")


def _warm_launcher(tmp_path: Path, *extra: str) -> ProcessLauncher:
    return ProcessLauncher(parse_worker_command(standin_command(tmp_path, *extra)), stop_timeout=5, warm=1,
                           base_env={"PATH": os.environ.get("PATH", ""), "WORKER_STS_MODE": "mock"},
                           sink=lines_sink()[1])


def test_a_standby_serves_the_next_default_stream_and_is_replaced_when_that_worker_ends(tmp_path: Path) -> None:
    async def scenario() -> None:
        launcher = _warm_launcher(tmp_path)
        await launcher.warm_up()
        [standby] = launcher.standbys()
        # it says in its log when its models are loaded
        assert await asyncio.to_thread(wait_until, lambda: launcher.standby_counts()["ready"] == 1, 10)
        assert launcher.standby_counts() == {"loading": 0, "ready": 1, "failed": 0}
        exits = Exits()
        handle = await launcher.start(DEFAULT_SPEC, exits)
        assert handle.pid == standby.pid  # no new process: the warm one got the stream
        assert await asyncio.to_thread(wait_until, lambda: (tmp_path / "cam-2.json").exists(), 10)
        env = json.loads((tmp_path / "cam-2.json").read_text())["env"]
        assert env == {"WORKER_STANDBY": "true", "WORKER_STS_MODE": "mock", "WORKER_STREAM_ID": "cam-2",
                       "WORKER_INPUT_URL": DEFAULT_SPEC.input_url, "WORKER_OUTPUT_URL": DEFAULT_SPEC.output_url,
                       "WORKER_RUN_ID": "run-8"}
        assert launcher.standbys() == [] and launcher.running() == [handle]
        await launcher.stop(handle)
        assert await asyncio.to_thread(exits.event.wait, 5)
        assert exits.items == [WorkerExit("cam-2", "run-8", 0, None)]
        # the worker ended: the host has room to load another standby
        assert await asyncio.to_thread(wait_until, lambda: len(launcher.standbys()) == 1, 10)
        assert launcher.standbys()[0].pid != standby.pid
        await launcher.close()
        assert not pid_alive(standby.pid) and launcher.standbys() == []

    asyncio.run(scenario())
    assert (tmp_path / "events.log").read_text().split()[::3] == ["start", "stop"]  # the closed standby: no marker


def test_a_stream_with_its_own_settings_gets_a_new_process_and_the_standby_keeps_waiting(tmp_path: Path) -> None:
    async def scenario() -> None:
        launcher = _warm_launcher(tmp_path)
        await launcher.warm_up()
        [standby] = launcher.standbys()
        handle = await launcher.start(SPEC, Exits())  # ?lang=de: the standby loaded the defaults
        assert handle.pid != standby.pid
        assert await asyncio.to_thread(wait_until, lambda: (tmp_path / "cam-1.json").exists(), 10)
        assert json.loads((tmp_path / "cam-1.json").read_text())["env"]["WORKER_TARGET_LANG"] == "de"
        assert launcher.standbys() == [standby]
        await launcher.close()
        assert not pid_alive(standby.pid) and not pid_alive(handle.pid)

    asyncio.run(scenario())


def test_a_standby_that_ends_unassigned_is_reported_to_no_stream_and_not_restarted(tmp_path: Path) -> None:
    async def scenario() -> None:
        launcher = _warm_launcher(tmp_path)
        await launcher.warm_up()
        [standby] = launcher.standbys()
        os.kill(standby.pid, signal.SIGKILL)
        assert await asyncio.to_thread(wait_until, lambda: launcher.standbys() == [], 5)
        exits = Exits()
        handle = await launcher.start(DEFAULT_SPEC, exits)  # no standby left: a process of its own
        assert handle.pid != standby.pid and launcher.standbys() == []
        assert await asyncio.to_thread(wait_until, lambda: (tmp_path / "cam-2.json").exists(), 10)
        await launcher.stop(handle)
        assert await asyncio.to_thread(exits.event.wait, 5)
        assert exits.items == [WorkerExit("cam-2", "run-8", 0, None)]  # only the stream's own worker is reported
        await launcher.close()

    asyncio.run(scenario())
