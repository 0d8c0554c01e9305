"""`livedub doctor`: what is installed, what is missing, and the exact command that fixes it."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import socket
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from livedub.cli.common import settings_or_exit
from livedub.config.settings import Launcher, MediaSettings, OrchestratorSettings, PathSettings

INSTALL = "./scripts/install.sh"
NGINX_RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")

# GStreamer elements the worker uses, and the Debian package that ships each.
GST_ELEMENTS: dict[str, str] = {
    "rtspsrc": "gstreamer1.0-plugins-good",
    "rtmp2src": "gstreamer1.0-plugins-bad",
    "rtmp2sink": "gstreamer1.0-plugins-bad",
    "flvdemux": "gstreamer1.0-plugins-good",
    "flvmux": "gstreamer1.0-plugins-good",
    "h264parse": "gstreamer1.0-plugins-bad",
    "h264timestamper": "gstreamer1.0-plugins-bad",
    "aacparse": "gstreamer1.0-plugins-good",
    "avdec_aac": "gstreamer1.0-libav",
    "avenc_aac": "gstreamer1.0-libav",
    "audioconvert": "gstreamer1.0-plugins-base",
    "audioresample": "gstreamer1.0-plugins-base",
    "appsrc": "gstreamer1.0-plugins-base",
    "appsink": "gstreamer1.0-plugins-base",
    "queue": "gstreamer1.0-tools",
}

TOOLS: dict[str, tuple[str, bool]] = {
    # binary: (Debian package, required)
    "ffmpeg": ("ffmpeg", True),
    "ffprobe": ("ffmpeg", True),
    "rubberband": ("rubberband-cli", True),
    "gst-launch-1.0": ("gstreamer1.0-tools", True),
    "sox": ("sox", False),
    "espeak-ng": ("espeak-ng", False),  # Kokoro phonemes (real STS)
    "apertium": ("apertium", False),  # translation (real STS)
    "npm": ("npm", False),  # fetches the Kokoro voices in `livedub models prepare`
}


@dataclass(frozen=True)
class Check:
    area: str
    name: str
    ok: bool
    required: bool
    detail: str
    fix: str = ""

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "MISSING" if self.required else "warn"


def _apt(*packages: str) -> str:
    return f"sudo apt-get install -y {' '.join(packages)}   (or: {INSTALL})"


def check_python() -> Iterable[Check]:
    ok = sys.version_info >= (3, 10)
    yield Check("python", "python >= 3.10", ok, True, sys.version.split()[0], "" if ok else "use Python 3.10+")


def check_gstreamer() -> Iterable[Check]:
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
    except (ImportError, ValueError) as exc:
        yield Check(
            "gstreamer", "PyGObject + Gst 1.0", False, True, str(exc).splitlines()[0], f"{INSTALL} (builds PyGObject)"
        )
        return
    Gst.init(None)
    yield Check("gstreamer", "PyGObject + Gst 1.0", True, True, Gst.version_string())
    missing: dict[str, list[str]] = {}
    for element, package in GST_ELEMENTS.items():
        if Gst.ElementFactory.find(element) is None:
            missing.setdefault(package, []).append(element)
    present = len(GST_ELEMENTS) - sum(len(v) for v in missing.values())
    detail = f"{present}/{len(GST_ELEMENTS)} elements"
    if missing:
        detail += "; missing " + ", ".join(e for els in missing.values() for e in els)
    yield Check("gstreamer", "elements", not missing, True, detail, _apt(*missing) if missing else "")


def check_tools() -> Iterable[Check]:
    for binary, (package, required) in TOOLS.items():
        path = shutil.which(binary)
        yield Check("tools", binary, path is not None, required, path or "not on PATH", "" if path else _apt(package))


def check_media_server(media: MediaSettings) -> Iterable[Check]:
    mediamtx = shutil.which(media.mediamtx_binary)
    nginx = shutil.which(media.nginx_binary) or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    has_module = NGINX_RTMP_MODULE.exists()
    embedded_ok = bool(nginx and has_module)
    yield Check(
        "media server",
        "mediamtx (production backend)",
        mediamtx is not None,
        False,
        mediamtx or "not on PATH (nginx backend is used instead)",
        "" if mediamtx else "optional: brew install mediamtx, or the bluenviron/mediamtx image in compose",
    )
    yield Check(
        "media server",
        "nginx + rtmp module (embedded backend)",
        embedded_ok,
        mediamtx is None,  # one backend is required
        f"{nginx or 'nginx not found'}; module {'present' if has_module else 'missing'}",
        "" if embedded_ok else _apt("nginx", "libnginx-mod-rtmp"),
    )


def check_models() -> Iterable[Check]:
    from livedub.models_catalog import MODEL_PACKAGES

    for module, (distribution, purpose) in MODEL_PACKAGES.items():
        present = importlib.util.find_spec(module) is not None
        yield Check(
            "models",
            distribution,
            present,
            False,
            purpose if present else f"not installed ({purpose})",
            "" if present else f"{INSTALL} --models",
        )


def check_prepared_models(paths: PathSettings) -> Iterable[Check]:
    """Model files assembled from the packages (``livedub models prepare``); needed for real STS."""
    from livedub.sts.prepare import ARTIFACTS

    for name, artifact in ARTIFACTS.items():
        ready = artifact.ready(paths.model_dir)
        yield Check("models", f"{name} files", ready, False,
                    str(artifact.path(paths.model_dir)) if ready else "not prepared (real STS needs them)",
                    "" if ready else "livedub models prepare   (or ./scripts/install.sh --models)")


def check_dirs(paths: PathSettings) -> Iterable[Check]:
    for label, directory in (
        ("data", paths.data_dir),
        ("recordings", paths.recordings_dir),
        ("HF_HOME", paths.hf_home),
        ("TTS_HOME", paths.tts_home),
        ("models", paths.model_dir),
    ):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            ok = os.access(directory, os.W_OK)
            detail = str(directory.resolve())
        except OSError as exc:
            ok, detail = False, f"{directory}: {exc.strerror}"
        yield Check("directories", label, ok, True, detail, "" if ok else f"make {directory} writable or point the setting elsewhere")


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(media: MediaSettings, orch: OrchestratorSettings) -> Iterable[Check]:
    host, _, orch_port = orch.http_addr.rpartition(":")
    for label, port, variable in (
        ("RTMP", media.rtmp_port, "MEDIA_RTMP_PORT"),
        ("RTSP", media.rtsp_port, "MEDIA_RTSP_PORT"),
        ("media API", media.api_port, "MEDIA_API_PORT"),
        ("HLS", media.hls_port, "MEDIA_HLS_PORT"),
        ("orchestrator", int(orch_port), "ORCH_HTTP_ADDR"),
    ):
        if port == 0:  # switched off (MEDIA_HLS_PORT=0) or any free port
            continue
        free = port_free("0.0.0.0" if host in ("", "0.0.0.0") else host.strip("[]"), port)
        yield Check(
            "ports",
            f"{label} {port}",
            free,
            False,
            "free" if free else "in use (is livedub already running?)",
            "" if free else f"stop what listens on {port} or set {variable}",
        )


def check_cluster(orch: OrchestratorSettings) -> Iterable[Check]:
    """Ray (the cluster extra): needed only with ORCH_LAUNCHER=ray; then, whether the head answers."""
    wanted = orch.launcher == Launcher.ray
    try:
        version = importlib.metadata.version("ray")
    except importlib.metadata.PackageNotFoundError:
        version = None
    yield Check("cluster", "ray (ORCH_LAUNCHER=ray)", version is not None, wanted,
                version or "not installed (needed only for ORCH_LAUNCHER=ray, docs/scaling.md)",
                "" if version else f"{INSTALL} --cluster")
    if not wanted:
        return
    address = orch.ray_address.removeprefix("ray://")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        yield Check("cluster", "Ray head", bool(orch.ray_address), True,
                    f"ORCH_RAY_ADDRESS={orch.ray_address or '(not set)'}: not probed",
                    "" if orch.ray_address else "set ORCH_RAY_ADDRESS to the head's host:6379")
        return
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            reachable = True
    except OSError:
        reachable = False
    yield Check("cluster", "Ray head", reachable, True,
                f"{address} answers" if reachable else f"{address} does not answer",
                "" if reachable else "start the head (ray start --head --port=6379) or fix ORCH_RAY_ADDRESS")


def run_checks() -> list[Check]:
    media = settings_or_exit(MediaSettings)
    orch = settings_or_exit(OrchestratorSettings)
    paths = settings_or_exit(PathSettings)
    groups: list[Callable[[], Iterable[Check]]] = [
        check_python,
        check_gstreamer,
        check_tools,
        lambda: check_media_server(media),
        check_models,
        lambda: check_prepared_models(paths),
        lambda: check_dirs(paths),
        lambda: check_ports(media, orch),
        lambda: check_cluster(orch),
    ]
    return [check for group in groups for check in group()]


@click.command(name="doctor")
def doctor_cmd() -> None:
    """Check native dependencies, model packages, directories and ports; say how to fix what is missing.

    Exits 0 only when every required part is present.
    """
    checks = run_checks()
    console = Console()
    table = Table(title="livedub doctor", show_lines=False)
    for column in ("area", "check", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    colour = {"ok": "green", "warn": "yellow", "MISSING": "red"}
    for check in checks:
        table.add_row(
            check.area, check.name, f"[{colour[check.status]}]{check.status}[/]", check.detail, check.fix
        )
    console.print(table)
    missing = [c for c in checks if c.status == "MISSING"]
    if missing:
        console.print(f"[red]{len(missing)} required part(s) missing.[/] Run the fixes above, then `livedub doctor` again.")
        sys.exit(1)
    warnings = sum(c.status == "warn" for c in checks)
    console.print(f"[green]All required parts present[/] ({warnings} optional warning(s)).")
