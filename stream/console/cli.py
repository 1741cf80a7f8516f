"""``wearmon console`` (serve the care-team console) and ``wearmon console add-user``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from wearmon.stream.config import load_settings


def add_console_commands(main: click.Group) -> None:
    import jinja2  # noqa: F401  (the console extra: fail here, with the extra's name)

    @main.group(invoke_without_command=True)
    @click.pass_context
    def console(ctx: click.Context) -> None:
        """Serve the care-team console (WEARMON_CONSOLE_* settings; see the README)."""
        if ctx.invoked_subcommand is not None:
            return
        from wearmon.stream.console.run import serve

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                            "%(message)s")
        asyncio.run(serve(load_settings()))

    @console.command("add-user")
    @click.argument("username")
    @click.option("--name", default="", help="Name shown in the console, e.g. 'Jo Smith (RN)'")
    @click.option("--file", "path", type=click.Path(path_type=Path, dir_okay=False),
                  default=None, help="Accounts file [default: WEARMON_CONSOLE_USERS_FILE]")
    @click.password_option(help="Prompted for (hidden) when not given; at least 10 characters")
    def add_user(username: str, name: str, path: Path | None, password: str) -> None:
        """Add a care-team account (or set a new password); only a scrypt hash is stored."""
        from wearmon.stream.console.accounts import AccountError, add_account

        target = path or Path(load_settings().console.users_file)
        try:
            added = add_account(target, username, password, name)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{'added' if added else 'updated'} {username} in {target}")
