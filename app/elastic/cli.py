"""`manage.py elastic ...`: desired/min/max, policy, protection, schedules and a controller pass."""
from __future__ import annotations

import json

import click

from app.core.errors import AppError
from app.tasks.cli import _act_as


def _call(username: str, fn):
    from app.elastic import service
    _act_as(username)
    try:
        out = fn(service)
    except AppError as exc:
        raise click.ClickException(f"{exc.msg}: {exc.detail}")
    if out is not None:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2, default=str))


USER = click.option("--username", default="admin", show_default=True, help="Act as this user (its organisation).")
CLUSTER = click.option("--cluster", required=True, help="Cluster name.")


@click.group("elastic")
def elastic():
    """Elastic clusters: desired capacity, self-healing, schedules (see the README)."""


@elastic.command("status")
@CLUSTER
@USER
def status_cmd(cluster, username):
    """desired/min/max, live machines, the policy."""
    _call(username, lambda s: s.status(cluster))


@elastic.command("set")
@CLUSTER
@click.option("--desired", type=int)
@click.option("--manual", is_flag=True, help="Stop keeping a size (desired = null).")
@click.option("--min", "min_size", type=int)
@click.option("--max", "max_size", type=int)
@USER
def set_cmd(cluster, desired, manual, min_size, max_size, username):
    """Set desired/min/max (min <= desired <= max)."""
    body = {"cluster_name": cluster}
    if manual:
        body["desired"] = None
    elif desired is not None:
        body["desired"] = desired
    if min_size is not None:
        body["min"] = min_size
    if max_size is not None:
        body["max"] = max_size
    _call(username, lambda s: s.set_capacity(_load("CapacitySchema", body)))


@elastic.command("policy")
@CLUSTER
@click.option("--termination", type=click.Choice(["newest", "oldest", "zone"]))
@click.option("--grace", "grace_seconds", type=int, help="Seconds after creation before a machine is judged.")
@click.option("--max-replacements", type=int)
@click.option("--window", "replacement_window_seconds", type=int, help="Seconds the replacement cap counts over.")
@click.option("--fallback", "fallbacks", multiple=True, metavar="ZONE:SUBNET:TYPE",
              help="A fallback placement, in order of preference (repeatable; replaces the list).")
@click.option("--spot/--no-spot", default=None)
@click.option("--spot-price-limit", type=float)
@USER
def policy_cmd(cluster, termination, grace_seconds, max_replacements, replacement_window_seconds, fallbacks, spot,
               spot_price_limit, username):
    """Termination policy, healing limits, fallback placements, spot."""
    body = {"cluster_name": cluster}
    for key, value in (("termination_policy", termination), ("grace_seconds", grace_seconds),
                       ("max_replacements", max_replacements),
                       ("replacement_window_seconds", replacement_window_seconds)):
        if value is not None:
            body[key] = value
    if fallbacks:
        places = [f.split(":") for f in fallbacks]
        if any(len(p) != 3 for p in places):
            raise click.UsageError("--fallback takes ZONE:SUBNET:TYPE")
        body["fallbacks"] = [{"zone_id": z, "subnet_id": s, "instance_type": t} for z, s, t in places]
    if spot is not None:
        body["spot"] = {"enabled": spot, "price_limit": spot_price_limit}
    _call(username, lambda s: s.set_policy(_load("PolicySchema", body)))


@elastic.command("protect")
@CLUSTER
@click.option("--instance", "instance_ids", multiple=True, required=True, help="Instance id (repeatable).")
@click.option("--off", is_flag=True, help="Remove the protection.")
@USER
def protect_cmd(cluster, instance_ids, off, username):
    """Scale-in protection for machines."""
    _call(username, lambda s: s.protect(_load("ProtectionSchema", {
        "cluster_name": cluster, "instance_ids": list(instance_ids), "protected": not off})))


@elastic.command("schedule-add")
@CLUSTER
@click.option("--name", required=True)
@click.option("--cron", required=True, help="minute hour day month weekday, e.g. '0 9 * * 1-5'")
@click.option("--timezone", default="UTC", show_default=True)
@click.option("--desired", type=int)
@click.option("--min", "min_size", type=int)
@click.option("--max", "max_size", type=int)
@USER
def schedule_add_cmd(cluster, name, cron, timezone, desired, min_size, max_size, username):
    """Add a scheduled action."""
    body = {"cluster_name": cluster, "name": name, "cron": cron, "timezone": timezone}
    for key, value in (("desired", desired), ("min", min_size), ("max", max_size)):
        if value is not None:
            body[key] = value
    _call(username, lambda s: s.create_schedule(_load("ScheduleCreateSchema", body)))


@elastic.command("schedules")
@click.option("--cluster", help="Only this cluster's.")
@USER
def schedules_cmd(cluster, username):
    """List scheduled actions."""
    args = {"page_number": 1, "page_size": 50, **({"cluster_name": cluster} if cluster else {})}
    _call(username, lambda s: s.schedules_page(args))


@elastic.command("schedule-delete")
@click.argument("schedule_id", type=int)
@USER
def schedule_delete_cmd(schedule_id, username):
    """Delete a scheduled action."""
    _call(username, lambda s: s.delete_schedule(schedule_id))


@elastic.command("control")
def control_cmd():
    """Run one controller pass now (what beat runs every BRIDGX_ELASTIC_CONTROLLER_SECONDS)."""
    from app.elastic.controller import run_pass
    click.echo(json.dumps(run_pass(), indent=2, default=str))


def _load(schema_name: str, body: dict) -> dict:
    """The API's own validation for a command line body; errors name the field."""
    from marshmallow import ValidationError

    from app.elastic import schemas
    try:
        return getattr(schemas, schema_name)().load(body)
    except ValidationError as exc:
        raise click.ClickException(f"param_invalid: {exc.messages}")
