"""Operator commands: `manage.py set-quota`, `revoke-token`, `rotate-keys` (run in an app context)."""
from __future__ import annotations

import click

from app.core.errors import AppError


def _limit(value):
    """A quota option: a number (0 = no limit) or `default` (back to BRIDGX_QUOTA_*)."""
    if value is None or value == "default":
        return value
    try:
        number = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a whole number or 'default'")
    if number < 0:
        raise click.BadParameter("must be 0 (no limit) or more")
    return number


@click.command("set-quota")
@click.option("--org", required=True, help="Organisation name.")
@click.option("--live-instances", help="Most live (or requested) machines at once; 0 = no limit; 'default'.")
@click.option("--instances-per-task", help="Most machines one expand may ask for; 0 = no limit; 'default'.")
@click.option("--tasks-in-flight", help="Most unfinished expand/shrink tasks; 0 = no limit; 'default'.")
def set_quota_cmd(org, live_instances, instances_per_task, tasks_in_flight):
    """Set (or show, without options) an organisation's quotas."""
    from app.tasks import quota
    values = {"max_live_instances": _limit(live_instances), "max_instances_per_task": _limit(instances_per_task),
              "max_tasks_in_flight": _limit(tasks_in_flight)}
    values = {k: (None if v == "default" else v) for k, v in values.items() if v is not None}
    try:
        limits = quota.set_quota(org, values)
    except AppError as exc:
        raise click.ClickException(str(exc.detail))
    click.echo(f"organisation {org}: " + ", ".join(f"{k}={v or 'unlimited'}" for k, v in limits.items()))


@click.command("revoke-token")
@click.option("--id", "token_id", type=int, help="The token's id (see `GET /api/v1/token/list`).")
@click.option("--token", help="The bxt_ token itself.")
@click.option("--username", help="With --all: every token of this user.")
@click.option("--all", "everything", is_flag=True, help="Revoke every token of --username and end its sessions.")
def revoke_token_cmd(token_id, token, username, everything):
    """Revoke a bxt_ token and every JWT minted from it (or, with --username --all, all of a user's)."""
    from app.auth import service
    try:
        if everything and username:
            count = service.revoke_user_tokens(username)
            click.echo(f"revoked {count} tokens of {username} and ended its sessions")
            return
        if token_id is None and not token:
            raise click.UsageError("give --id, --token, or --username with --all")
        row = service.revoke_token(token_id=token_id, token=token)
    except AppError as exc:
        raise click.ClickException(str(exc.detail))
    click.echo(f"revoked token {row.id} ({row.name})")


@click.command("rotate-keys")
def rotate_keys_cmd():
    """Re-encrypt every stored secret with the first BRIDGX_ENCRYPTION_KEY (MultiFernet rotate)."""
    from app.core import keys
    try:
        counts = keys.rotate_all()
    except keys.KeyMismatch as exc:
        raise click.ClickException(str(exc))
    click.echo("re-encrypted " + ", ".join(f"{n} {what}" for what, n in counts.items())
               + " with the newest key; older keys may now be removed")
