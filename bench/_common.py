"""What every benchmark shares: the machine description written with its results, the results file
and plot, the rewrite of its block in docs/benchmarks.md (between its BEGIN/END markers, or appended
under its heading), and a process's CPU and memory from /proc."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = None
    if shutil.which("nvidia-smi"):
        found = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], check=False,
                               capture_output=True, text=True, timeout=10)
        gpu = found.stdout.strip() or None
    return {"cpu": cpu, "cores": os.cpu_count(), "memoryGiB": round(memory, 1), "gpu": gpu,
            "python": platform.python_version(), "platform": platform.platform()}


def replace_block(docs: Path, begin: str, end: str, block: str, heading: str) -> None:
    """Put ``block`` (which starts with ``begin`` and ends with ``end``) in place of the old one."""
    text = docs.read_text() if docs.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + f"\n\n## {heading}\n\n" + block + "\n"
    docs.write_text(text)


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process (Linux /proc), MiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (Linux /proc): a `timeout ffmpeg` wrapper's ffmpeg, a
    worker's Apertium."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                queue += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return found


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, with reaped children's) used by a process and its live descendants,
    seconds; None once the process is gone."""
    total, seen = 0.0, False
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seen = True
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime (fields 14-17)
    return total / os.sysconf("SC_CLK_TCK") if seen else None


def tree_rss_mib(pid: int) -> float | None:
    """Resident memory of a process and its live descendants, MiB; None once it is gone."""
    values = [v for member in process_tree(pid) if (v := rss_mib(member)) is not None]
    return sum(values) if values else None


def pyplot() -> Any | None:
    """``matplotlib.pyplot`` on the Agg backend (files, no display), or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def save_results(result: dict[str, Any], *, name: str, results: Path, docs: Path, write_docs: bool,
                 plot: Callable[[dict[str, Any], Path], bool],
                 render: Callable[[dict[str, Any], Path, str], None]) -> Path:
    """``<results>/<name>-<UTC time>.json`` and its ``.png`` (``plot``; referenced from the docs as
    ``result["plot"]``), then ``render`` its table into ``docs`` unless ``write_docs`` is false."""
    results.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    png = results / f"{stem}.png"
    if plot(result, png):
        result["plot"] = os.path.relpath(png, docs.parent)
    path = results / f"{stem}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    if write_docs:
        render(result, docs, path.name)
        print(f"updated {docs}")
    return path


def add_output_args(parser: argparse.ArgumentParser, *, keep: bool = False) -> None:
    """--results, --docs, --no-docs (and --keep: a folder for the run's recordings and logs)."""
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    if keep:
        parser.add_argument("--keep", type=Path, default=None, help="keep the recordings and logs in this folder")


def parse_modes(parser: argparse.ArgumentParser, text: str, known: tuple[str, ...]) -> list[str]:
    """A comma-separated list of modes, each one of ``known`` (else the parser's usage error)."""
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(known))
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    return modes


def save_figure(figure: Any, path: Path) -> bool:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return True
