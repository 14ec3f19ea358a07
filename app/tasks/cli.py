"""`manage.py expand|shrink|task-wait`: the scaling API from a shell, with a progress bar."""
from __future__ import annotations

import time

import click
from flask import g
from sqlalchemy import select

from app.auth.models import User
from app.auth.service import Principal
from app.core.errors import AppError
from app.extensions import db


def _act_as(username: str) -> None:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    g.principal = Principal(user.id, user.org_id, user.username, user.is_admin)


def wait_for(task_id: int, poll: float = 0.5) -> dict:
    """Follow a task to its end with a progress bar; returns its final description."""
    from tqdm import tqdm

    from app.tasks import service
    task = service.get(task_id)
    with tqdm(total=task.count, unit="machine", desc=f"task {task_id} {task.action.lower()}") as bar:
        while True:
            db.session.expire_all()
            info = service.detail(service.get(task_id), batches=False)
            bar.update(info["success_num"] + info["fail_num"] - bar.n)
            bar.set_postfix(status=info["task_status"], refresh=False)
            if info["finish_at"]:
                return info
            time.sleep(poll)


def _run(username: str, call, wait: bool):
    from app.tasks import service
    _act_as(username)
    try:
        task_id = call(service)
    except AppError as exc:
        raise click.ClickException(f"{exc.msg}: {exc.detail}")
    click.echo(f"task {task_id} accepted")
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
    _run(username, lambda s: s.expand({"cluster_name": cluster, "count": count, "task_name": task_name}), wait)


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
    body = {"cluster_name": cluster, "task_name": task_name}
    if ips:
        body.update(ips=list(ips), count=len(ips))
    elif count:
        body["count"] = count
    elif not everything:
        raise click.UsageError("give --count, --ip or --all")
    _run(username, lambda s: s.shrink(body, all_instances=everything), wait)


@click.command("task-wait")
@click.argument("task_id", type=int)
@click.option("--username", default="admin", show_default=True)
def task_wait_cmd(task_id, username):
    """Follow a running task with a progress bar."""
    _act_as(username)
    info = wait_for(task_id)
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
        raise click.ClickException(f"{exc.msg}: {exc.detail}")
    click.echo(f"task {task_id} cancel requested ({task.status}); machines already created stay in the cluster")
