"""`livedub`: the single entry point. Each command lives in its own module."""

from __future__ import annotations

import click

from livedub import __version__
from livedub.cli.config_cmd import config_cmd
from livedub.cli.demo_cmd import demo_cmd
from livedub.cli.doctor import doctor_cmd
from livedub.cli.dub_cmd import dub_cmd
from livedub.cli.forward_cmd import forward_cmd
from livedub.cli.models_cmd import models_cmd
from livedub.cli.orchestrator_cmd import orchestrator_cmd
from livedub.cli.streams_cmd import streams_cmd
from livedub.cli.up_cmd import up_cmd
from livedub.cli.worker_cmd import worker_cmd
from livedub.cli.worker_host_cmd import worker_host_cmd


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help=(
        "Live dubbing for broadcasters: republish an RTMP stream with the speech replaced by a "
        "translated voice, the background kept and the video untouched.\n\n"
        "Settings come from environment variables (see .env.example or `livedub config`); "
        "command-line flags override them."
    ),
)
@click.version_option(__version__, prog_name="livedub")
def cli() -> None:
    pass


def _register() -> None:
    cli.add_command(doctor_cmd)
    cli.add_command(config_cmd)
    cli.add_command(dub_cmd)
    cli.add_command(up_cmd)
    cli.add_command(demo_cmd)
    cli.add_command(orchestrator_cmd)
    cli.add_command(worker_cmd)
    cli.add_command(worker_host_cmd)
    cli.add_command(forward_cmd)
    cli.add_command(models_cmd)
    cli.add_command(streams_cmd)


_register()


def main() -> None:
    cli(prog_name="livedub")


if __name__ == "__main__":
    main()
