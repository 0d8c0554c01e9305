"""`livedub config`: show every setting, its variable, default and current value (secrets masked)."""

from __future__ import annotations

import click

from livedub.cli.common import settings_or_exit
from livedub.config.loader import env_var_name, iter_settings_classes


@click.command(name="config")
@click.option("--env-example", is_flag=True, help="Print .env.example (every variable with its default).")
def config_cmd(env_example: bool) -> None:
    """Validate the environment and print every setting with its effective value."""
    from livedub.config.env_example import render_env_example

    if env_example:
        click.echo(render_env_example(), nl=False)
        return
    loaded = [(cls, settings_or_exit(cls)) for cls in iter_settings_classes()]
    for cls, values in loaded:
        # json mode renders durations as 30s, booleans as true/false and secrets as **********
        dumped = values.model_dump(mode="json")
        click.echo(f"# {(cls.__doc__ or cls.__name__).strip()}")
        for field in cls.model_fields:
            click.echo(f"{env_var_name(cls, field)}={_render(dumped[field])}")
        click.echo()


def _render(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
