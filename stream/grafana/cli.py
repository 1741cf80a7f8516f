"""``wearmon grafana push`` and ``wearmon grafana generate``.

The main CLI registers these with ``add_grafana_commands(cli)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from wearmon.stream.grafana.files import PROVISIONING_DIR, stale_files, write_files
from wearmon.stream.grafana.push import TOKEN_ENV, PushError, build_plan, connect, push


@click.group(name="grafana", context_settings={"help_option_names": ["-h", "--help"]})
def grafana() -> None:
    """Grafana dashboards, alert rules and contact points as code."""


@grafana.command(name="push")
@click.option("--url", required=True, help="Grafana base URL, e.g. https://grafana.example.org")
@click.option(
    "--alert-email",
    default=None,
    metavar="ADDRESSES",
    help="Install an e-mail contact point (';'-separated addresses) and route "
    "Wearmon's alerts to it. Without it, alerts follow the existing policy.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be sent, as JSON; send nothing.")
@click.option(
    "--editable", is_flag=True, help="Allow editing the pushed alerting resources in Grafana's UI."
)
@click.option("--timeout", default=10.0, show_default=True, help="HTTP timeout in seconds.")
def push_command(
    url: str, alert_email: str | None, dry_run: bool, editable: bool, timeout: float
) -> None:
    """Install the Wearmon folder, dashboards and alert rules into an existing Grafana.

    The token comes from WEARMON_GRAFANA_TOKEN (a service-account token with the Admin role).
    """
    plan = build_plan(url.rstrip("/"), alert_email)
    if dry_run:
        click.echo(plan.to_json())
        return
    try:
        api = connect(url, os.environ.get(TOKEN_ENV, ""), timeout)
        push(api, plan, log=click.echo, editable=editable)
    except PushError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Done: open {url.rstrip('/')}/d/wearmon-ward for the ward overview.")


@grafana.command(name="generate")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=PROVISIONING_DIR,
    show_default=True,
    help="Provisioning directory to write dashboards/ and alerting/ into.",
)
@click.option(
    "--check", is_flag=True, help="Write nothing; fail if the checked-in files are out of date."
)
def generate_command(output: Path, check: bool) -> None:
    """Regenerate the dashboard JSON and alerting YAML files from the Python code."""
    if check:
        stale = stale_files(output)
        if stale:
            raise click.ClickException(
                "Out of date (run `wearmon grafana generate`): " + ", ".join(stale)
            )
        click.echo("Provisioning files are up to date.")
        return
    changed = write_files(output)
    for path in changed:
        click.echo(f"wrote {path}")
    if not changed:
        click.echo("Provisioning files are up to date.")


def add_grafana_commands(group: click.Group) -> None:
    """Register the ``grafana`` command group on the main ``wearmon`` CLI."""
    group.add_command(grafana)
