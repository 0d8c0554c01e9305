"""Child processes: SIGTERM then SIGKILL, whole process groups, nothing left behind."""

from __future__ import annotations

import subprocess
import sys

from livedub.proc.child import pid_alive, spawn, terminate, wait_until


def test_terminate_takes_a_wrappers_children_with_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pid_file = tmp_path / "grandchild.pid"
    # a wrapper shell that starts a long-lived grandchild and waits (like ORCH_WORKER_COMMAND="sh -c ...")
    script = f"sleep 300 & echo $! > {pid_file}; wait"
    proc = spawn(["sh", "-c", script], start_new_session=True)
    assert wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", 10)
    grandchild = int(pid_file.read_text())
    assert pid_alive(grandchild)
    terminate(proc, timeout=5)
    assert wait_until(lambda: not pid_alive(grandchild) or _zombie(grandchild), 5), "the grandchild outlived its wrapper"


def test_terminate_escalates_to_sigkill() -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(300)"
    proc = spawn([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    assert terminate(proc, timeout=0.5) == -9


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] == "Z"
    except OSError:
        return False


def test_spawn_sets_the_childs_open_files_limit_only() -> None:
    import resource

    from livedub.proc.child import nofile_limit

    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = nofile_limit(300)
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    proc = spawn([sys.executable, "-c", code], stdout=subprocess.PIPE, nofile=wanted)
    out, _ = proc.communicate(timeout=20)
    assert int(out) == wanted
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == before
