"""What every benchmark shares: the machine description written with its results, and the rewrite of
its block in docs/benchmarks.md (between its BEGIN/END markers, or appended under its heading)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any


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
