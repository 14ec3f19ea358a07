"""`manage.py expand|shrink|task-wait`: the scaling API from a shell, with a progress bar.

The CLI validates with the API's own schemas and calls the same service, so a request the API
would refuse is refused here too, with the same reasons, before anything starts.
"""
from __future__ import annotations

import time

import click
from flask import current_app, g
from marshmallow import ValidationError
from sqlalchemy import select

from app.auth.models import User
from app.auth.service import Principal
from app.core.errors import AppError, flatten_messages, human, one_line
from app.extensions import db


def _act_as(username: str) -> None:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    g.principal = Principal(user.id, user.org_id, user.username, user.is_admin)


def _load(schema_cls, body: dict) -> dict:
    try:
        return schema_cls().load(body)
    except ValidationError as exc:
        raise click.ClickException(human(flatten_messages(exc.messages)))


def wait_for(task_id: int, poll: float = 0.5, start_timeout: float | None = None) -> dict:
    """Follow a task to its end with a progress bar; returns its final description.

    A task nobody starts (no live worker) ends the wait after `start_timeout` seconds
    (BRIDGX_WAIT_START_TIMEOUT) with a message saying so, instead of waiting forever."""
    from tqdm import tqdm

    from app.health import service as health
    from app.tasks import service
    if start_timeout is None:
        start_timeout = current_app.config["WAIT_START_TIMEOUT"]
    task = service.get(task_id)
    began = time.monotonic()
    with tqdm(total=task.count, unit="machine", desc=f"task {task_id} {task.action.lower()}") as bar:
        while True:
            db.session.expire_all()
            info = service.detail(service.get(task_id), batches=False)
            bar.update(info["success_num"] + info["fail_num"] - bar.n)
            bar.set_postfix(status=info["task_status"], refresh=False)
            if info["finish_at"]:
                return info
            if info["task_status"] == "INIT" and time.monotonic() - began > start_timeout:
                why = health.no_worker_warning() or "a worker is live but has not claimed it"
                raise click.ClickException(f"task {task_id} has not started after {start_timeout:g} s ({why}); "
                                           f"it stays queued: follow it with `manage.py task-wait {task_id}`")
            time.sleep(poll)


def _run(username: str, call, wait: bool):
    from app.health import service as health
    from app.tasks import service
    _act_as(username)
    try:
        task_id = call(service)
    except AppError as exc:
        raise click.ClickException(one_line(exc))
    click.echo(f"task {task_id} accepted")
    warning = health.no_worker_warning()
    if warning:
        click.echo(f"warning: {warning}", err=True)
    if wait:
        info = wait_for(task_id)
        click.echo(f"task {task_id} {info['task_status']}: {info['success_num']}/{info['total_num']} "
                   f"in {info['elapsed_seconds']}s {info['fail_reason']}")
        if info["task_status"] != "SUCCESS":
            raise SystemExit(1)


@click.command("expand")
@click.option("--cluster", required=True, help="Cluster name.")
@click.option("--count", required=True, type=int)
@click.option("--task-name", default="cli-expand", show_default=True)
@click.option("--username", default="admin", show_default=True, help="Act as this user (its organisation).")
@click.option("--wait/--no-wait", default=True, show_default=True)
def expand_cmd(cluster, count, task_name, username, wait):
    """Add machines to a cluster."""
    from app.tasks.schemas import ExpandSchema
    body = _load(ExpandSchema, {"cluster_name": cluster, "count": count, "task_name": task_name})
    _run(username, lambda s: s.expand(body), wait)


@click.command("shrink")
@click.option("--cluster", required=True, help="Cluster name.")
@click.option("--count", type=int, help="How many machines to remove (pending first, then newest).")
@click.option("--ip", "ips", multiple=True, help="Inner IP of a machine to remove (repeatable).")
@click.option("--all", "everything", is_flag=True, help="Remove every live machine.")
@click.option("--task-name", default="cli-shrink", show_default=True)
@click.option("--username", default="admin", show_default=True)
@click.option("--wait/--no-wait", default=True, show_default=True)
def shrink_cmd(cluster, count, ips, everything, task_name, username, wait):
    """Remove machines from a cluster."""
    from app.tasks.schemas import ShrinkAllSchema, ShrinkSchema
    if everything:
        body = _load(ShrinkAllSchema, {"cluster_name": cluster, "task_name": task_name})
    else:
        body = {"cluster_name": cluster, "task_name": task_name}
        if ips:
            body["ips"] = list(ips)
        if count is not None:
            body["count"] = count
        elif not ips:
            raise click.UsageError("give --count, --ip or --all")
        if ips and count is None:
            body["count"] = len(ips)
        body = _load(ShrinkSchema, body)
    _run(username, lambda s: s.shrink(body, all_instances=everything), wait)


@click.command("task-wait")
@click.argument("task_id", type=int)
@click.option("--username", default="admin", show_default=True)
def task_wait_cmd(task_id, username):
    """Follow a running task with a progress bar."""
    _act_as(username)
    try:
        info = wait_for(task_id)
    except AppError:
        raise click.ClickException(f"no task {task_id} in the organisation of {username!r}")
    click.echo(f"task {task_id} {info['task_status']}: {info['success_num']}/{info['total_num']}")


@click.command("task-cancel")
@click.argument("task_id", type=int)
@click.option("--username", default="admin", show_default=True, help="Act as this user (its organisation).")
def task_cancel_cmd(task_id, username):
    """Stop an unfinished task: no new batch starts; machines already created stay in the cluster."""
    from app.tasks import service
    _act_as(username)
    try:
        task = service.cancel(task_id)
    except AppError as exc:
        raise click.ClickException(one_line(exc))
    click.echo(f"task {task_id} cancel requested ({task.status}); machines already created stay in the cluster")
