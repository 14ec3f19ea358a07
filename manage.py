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
    from config import ConfigError
    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc))


@click.group()
def cli():
    """BridgX-Py control plane."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9090, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Also start the local cloud emulator and register demo accounts on it.")
@click.option("--demo-port", default=9091, show_default=True, type=int, help="The emulator's port with --demo.")
@click.option("--workers", default=None, type=int, help="Celery worker threads (default BRIDGX_WORKER_CONCURRENCY).")
def run(host, port, demo, demo_port, workers):
    """Serve the API with a Celery worker and beat: SQLite and a SQLite broker by default."""
    from werkzeug.serving import make_server

    _metrics_dir()
    app = make_app()
    with app.app_context():
        _upgrade_and_bootstrap(app)
    server = make_server(host, port, app, threaded=True)  # fails early if the port is taken
    sim = _start_demo(app, demo_port) if demo else None
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


def _metrics_dir() -> None:
    """API and worker share Prometheus counters through files (set before prometheus_client loads)."""
    import shutil
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its multiprocess directory was set")
    path = Path(os.environ.get("BRIDGX_HOME", "./instance")).resolve() / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


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


DEMO_NETWORK = {  # provider → (region, zone, instance type, image) in the emulator's catalogue
    "AlibabaCloud": ("cn-qingdao", "cn-qingdao-b", "ecs.g6.large", "centos_7_6_x64_20G_alibase_20211030.vhd"),
    "TencentCloud": ("ap-guangzhou", "ap-guangzhou-3", "S5.MEDIUM4", "img-9qabwvbn"),
    "AWSCloud": ("us-east-1", "us-east-1a", "t3.micro", "ami-0c02fb55956c7d316"),
    "HuaweiCloud": ("cn-north-4", "cn-north-4a", "s6.large.2", "67f433d8-ed0e-4321-a8a2-a71838539e09"),
    "BaiduCloud": ("bj", "cn-bj-a", "bcc.g4.c2m8", "m-jDhcEVZs"),
}


def _start_demo(app, port: int):
    """Serve the local cloud emulator and point a demo account of each cloud of org 'default' at it."""
    import json

    from sqlalchemy import select

    from app.accounts.models import CloudAccount
    from app.auth.models import Organization
    from app.core.crypto import encrypt
    from app.extensions import db
    from cloudsim import CloudSim

    keys = {provider: (f"DEMO{provider[:5].upper()}KEY", secrets.token_urlsafe(18)) for provider in DEMO_NETWORK}
    sim = CloudSim(credentials=dict(keys.values()), boot_seconds=3.0)
    server = sim.serve(port=port)
    with app.app_context():
        org = db.session.scalar(select(Organization).where(Organization.name == "default"))
        for provider, (key, secret) in keys.items():
            acc = db.session.scalar(select(CloudAccount).where(CloudAccount.org_id == org.id,
                                                               CloudAccount.account_key == key,
                                                               CloudAccount.deleted_id == 0))
            if acc is None:
                acc = CloudAccount(org_id=org.id, account_name=f"demo {provider}", provider=provider,
                                   account_key=key, create_by="demo",
                                   project_id="0" * 32 if provider == "HuaweiCloud" else None)
                db.session.add(acc)
            acc.secret_encrypted, acc.endpoint = encrypt(secret), server.url
        db.session.commit()
    region, zone, itype, image = DEMO_NETWORK["AlibabaCloud"]
    vpc = sim.add_vpc("AlibabaCloud", region, "demo-vpc", "10.1.0.0/16")
    body = {"name": "demo", "provider": "AlibabaCloud", "account_key": keys["AlibabaCloud"][0],
            "region_id": region, "zone_id": zone, "instance_type": itype, "image": image,
            "password": "Demo-pass1", "charge_type": "PostPaid",
            "network_config": {"vpc": vpc, "subnet_id": sim.add_subnet("AlibabaCloud", region, vpc, zone, "demo-subnet",
                                                                        "10.1.0.0/18"),
                               "security_group": sim.add_security_group("AlibabaCloud", region, vpc, "demo-sg")},
            "disks": {"system_disk": {"category": "cloud_efficiency", "size": 40}, "data_disk": []}}
    (app.config["HOME"] / "demo_cluster.json").write_text(json.dumps(body, indent=2))
    click.echo(f"Demo cloud emulator on {server.url}; demo accounts {', '.join(k for k, _ in keys.values())}.")
    click.echo(f"A ready-to-post cluster/create body is in {app.config['HOME'] / 'demo_cluster.json'}")
    return server


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


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.pass_context
def cloudsim(ctx):
    """The local cloud emulator (every cloud on one port); `cloudsim --help` for its options."""
    from cloudsim.cli import main
    raise SystemExit(main(ctx.args))


@cli.command()
def migrate():
    """Apply database migrations (production deploys run this once per release)."""
    from flask_migrate import upgrade
    app = make_app()
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    click.echo("database is at the latest revision")


def _with_app(command: click.Command) -> click.Command:
    """Run a command defined inside app/ within an application context."""
    callback = command.callback

    def wrapped(*args, **kwargs):
        with make_app().app_context():
            return callback(*args, **kwargs)
    command.callback = wrapped
    return command


def _register() -> None:
    from app.catalog.cli import refresh_catalog
    from app.elastic.cli import elastic
    from app.tasks.cli import expand_cmd, shrink_cmd, task_wait_cmd
    from app.usage.cli import usage_report
    for command in (expand_cmd, shrink_cmd, task_wait_cmd):
        cli.add_command(_with_app(command))
    for command in elastic.commands.values():
        _with_app(command)
    cli.add_command(elastic)
    cli.add_command(refresh_catalog)  # these two make their own app
    cli.add_command(usage_report)


_register()

if __name__ == "__main__":
    cli()
