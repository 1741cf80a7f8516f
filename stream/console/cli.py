"""``wearmon console`` (serve the care-team console), ``wearmon console add-user`` and
``remove-user``."""

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
    @click.option("--ward", "wards", multiple=True,
                  help="A ward the account sees and acts on (repeat for several)")
    @click.option("--admin", is_flag=True, help="Sees and acts on every ward")
    @click.option("--file", "path", type=click.Path(path_type=Path, dir_okay=False),
                  default=None, help="Accounts file [default: WEARMON_CONSOLE_USERS_FILE]")
    @click.password_option(help="Prompted for (hidden) when not given; at least 10 characters")
    def add_user(username: str, name: str, wards: tuple[str, ...], admin: bool,
                 path: Path | None, password: str) -> None:
        """Add a care-team account, or replace one (new password, wards; its sessions end).
        Only a scrypt hash is stored. The running console sees the change at once."""
        from wearmon.stream.console.access.accounts import AccountError, add_account

        if not wards and not admin:
            raise click.UsageError("give the account's wards (--ward, repeatable) or --admin")
        target = path or Path(load_settings().console.users_file)
        try:
            added = add_account(target, username, password, name, wards, admin)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        scope = "every ward" if admin else ", ".join(wards)
        click.echo(f"{'added' if added else 'updated'} {username} ({scope}) in {target}")

    @console.command("remove-user")
    @click.argument("username")
    @click.option("--file", "path", type=click.Path(path_type=Path, dir_okay=False),
                  default=None, help="Accounts file [default: WEARMON_CONSOLE_USERS_FILE]")
    def remove_user(username: str, path: Path | None) -> None:
        """Remove a care-team account: its sessions end at once."""
        from wearmon.stream.console.access.accounts import AccountError, remove_account

        target = path or Path(load_settings().console.users_file)
        try:
            removed = remove_account(target, username)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        if not removed:
            raise click.ClickException(f"no account {username} in {target}")
        click.echo(f"removed {username} from {target}")
