#!/usr/bin/env python
"""BridgX-Py command line: run the embedded service, manage users and tokens, run the emulator."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))


def make_app():
    from app import create_app
    return create_app()


@click.group()
def cli():
    """BridgX-Py control plane."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9090, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Also start the local cloud emulator and register a demo account on it.")
@click.option("--workers", default=None, type=int, help="Celery worker threads (default BRIDGX_WORKER_CONCURRENCY).")
def run(host, port, demo, workers):
    """Serve the API with a Celery worker and beat: SQLite and a SQLite broker by default."""
    from werkzeug.serving import make_server

    app = make_app()
    with app.app_context():
        _upgrade_and_bootstrap(app)
    sim = None
    if demo:
        sim = _start_demo(app)
    server = make_server(host, port, app, threaded=True)  # fails early if the port is taken
    home = app.config["HOME"]
    env = dict(os.environ, BRIDGX_HOME=str(home))
    concurrency = str(workers or app.config["WORKER_CONCURRENCY"])
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-B", "--pool", "threads",
         "-c", concurrency, "-l", "INFO", "-n", f"bridgx@{os.uname().nodename}",
         "-s", str(home / "celerybeat-schedule")], cwd=ROOT, env=env)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    threading.Thread(target=_watch_worker, args=(worker, server), daemon=True).start()
    click.echo(f"BridgX-Py API on http://{host}:{port}  (OpenAPI page: http://{host}:{port}/api/docs)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        if sim is not None:
            sim.stop()


def _raise_interrupt(*_):
    raise KeyboardInterrupt


def _watch_worker(worker, server) -> None:
    """The API without its worker would accept tasks nobody runs: stop both."""
    code = worker.wait()
    click.echo(f"the Celery worker exited with code {code}; stopping", err=True)
    server.shutdown()


def _upgrade_and_bootstrap(app) -> None:
    """Apply migrations; on first run create an admin and say how to log in."""
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from app.auth.models import User
    from app.auth.service import create_user
    from app.extensions import db

    upgrade(directory=app.extensions["migrate"].directory)
    password_file = app.config["HOME"] / "admin_password"
    if db.session.scalar(select(func.count()).select_from(User)) == 0:
        password = secrets.token_urlsafe(12)
        create_user("default", "admin", password, admin=True)
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        click.echo(f"Created organisation 'default' and user 'admin' with password: {password}")
    if password_file.exists():
        click.echo(f"Log in: curl -s -X POST http://127.0.0.1:9090/user/login "
                   f"-d '{{\"username\":\"admin\",\"password\":\"'$(cat {password_file})'\"}}'")


def _start_demo(app):
    raise click.ClickException("--demo needs the cloud emulator (cloudsim), not installed yet")


@cli.command("create-user")
@click.option("--org", required=True, help="Organisation name (created when new).")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--admin", is_flag=True, help="May manage cloud accounts.")
def create_user_cmd(org, username, password, admin):
    """Create a user in an organisation."""
    from app.auth.service import create_user
    from app.core.errors import AppError

    app = make_app()
    with app.app_context():
        try:
            create_user(org, username, password, admin=admin)
        except AppError as exc:
            raise click.ClickException(str(exc.detail))
    click.echo(f"created user {username} in organisation {org}{' (admin)' if admin else ''}")


@cli.command("create-token")
@click.option("--username", required=True)
@click.option("--name", default="script", show_default=True, help="A label for the token.")
def create_token_cmd(username, name):
    """Print a long-lived API token for scripts (shown once)."""
    from app.auth.service import create_api_token
    from app.core.errors import AppError

    app = make_app()
    with app.app_context():
        try:
            click.echo(create_api_token(username, name))
        except AppError as exc:
            raise click.ClickException(str(exc.detail))


@cli.command()
def migrate():
    """Apply database migrations (production deploys run this once per release)."""
    from flask_migrate import upgrade
    app = make_app()
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    click.echo("database is at the latest revision")


if __name__ == "__main__":
    cli()
