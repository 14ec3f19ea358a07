"""`manage.py set-password|disable-user|enable-user|set-role`: user administration for operators."""
from __future__ import annotations

import click

from app.core.errors import AppError
from app.users import service


def _call(fn, *args) -> None:
    try:
        fn(*args)
    except AppError as exc:
        raise click.ClickException(str(exc.detail))


@click.command("set-password")
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The new password (prompted when omitted); the password policy applies.")
def set_password_cmd(username, password):
    """Set a user's password (e.g. a forgotten one)."""
    _call(service.operator_set_password, username, password)
    click.echo(f"password of {username} changed")


@click.command("disable-user")
@click.option("--username", required=True)
def disable_user_cmd(username):
    """Disable a user: it cannot log in, and every token it holds stops working at once."""
    _call(service.operator_set_disabled, username, True)
    click.echo(f"user {username} disabled")


@click.command("enable-user")
@click.option("--username", required=True)
def enable_user_cmd(username):
    """Enable a disabled user again."""
    _call(service.operator_set_disabled, username, False)
    click.echo(f"user {username} enabled")


@click.command("set-role")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["ADMIN", "COMMON"]))
def set_role_cmd(username, role):
    """Make a user ADMIN (manages users, cloud accounts, the organisation) or COMMON."""
    _call(service.operator_set_role, username, role)
    click.echo(f"user {username} is now {role}")


COMMANDS = (set_password_cmd, disable_user_cmd, enable_user_cmd, set_role_cmd)
