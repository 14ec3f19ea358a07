#!/usr/bin/env python
"""BridgX-Py command line: run the embedded service, manage users and tokens, run the emulator."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))


def make_app():
    """The app for a command, or a one-line error (bad configuration, unreachable database)."""
    from config import ConfigError
    try:
        from app import create_app
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc))


def app_with_schema():
    """The app, with its database at the latest schema: the embedded config migrates on the spot
    (a fresh BRIDGX_HOME just works); elsewhere a missing schema is a one-line error."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError
    app = make_app()
    with app.app_context():
        from app.extensions import db
        try:
            tables = set(inspect(db.engine).get_table_names())
        except SQLAlchemyError as exc:
            raise click.ClickException(f"cannot reach the database: {type(exc).__name__}: "
                                       f"{str(exc.orig if getattr(exc, 'orig', None) else exc)[:200]}")
        if "users" not in tables:
            if os.environ.get("BRIDGX_CONFIG", "embedded") != "embedded":
                raise click.ClickException("the database has no schema yet: run `python manage.py migrate` first")
            _migrate(app)
            click.echo("applied the database migrations (fresh BRIDGX_HOME)", err=True)
    return app


def _migrate(app) -> None:
    from app.core import schema
    schema.upgrade(app)


class LazyGroup(click.Group):
    """Commands defined in app/ are imported only when run: `--help` and the commands that need
    no app start in a fraction of a second."""

    LAZY = {  # name → (module:attribute, one-line help, needs an app context)
        "expand": ("app.tasks.cli:expand_cmd", "Add machines to a cluster.", True),
        "shrink": ("app.tasks.cli:shrink_cmd", "Remove machines from a cluster.", True),
        "task-wait": ("app.tasks.cli:task_wait_cmd", "Follow a running task with a progress bar.", True),
        "task-cancel": ("app.tasks.cli:task_cancel_cmd", "Stop an unfinished task (machines made stay).", True),
        "set-quota": ("app.auth.cli:set_quota_cmd", "Show or set an organisation's quotas.", True),
        "revoke-token": ("app.auth.cli:revoke_token_cmd", "Revoke API tokens and the JWTs minted from them.", True),
        "rotate-keys": ("app.auth.cli:rotate_keys_cmd", "Re-encrypt every secret with the newest key.", True),
        "set-password": ("app.users.cli:set_password_cmd", "Set a user's password (prompts).", True),
        "disable-user": ("app.users.cli:disable_user_cmd", "Disable a user: login refused, tokens end.", True),
        "enable-user": ("app.users.cli:enable_user_cmd", "Enable a disabled user again.", True),
        "set-role": ("app.users.cli:set_role_cmd", "Make a user ADMIN or COMMON.", True),
        "refresh-catalog": ("app.catalog.cli:refresh_catalog", "Refresh every cached catalogue list.", False),
        "usage-report": ("app.usage.cli:usage_report", "Per-day, per-cluster machine-seconds.", False),
        "elastic": ("app.elastic.cli:elastic", "Elastic clusters: desired size, healing, schedules.", True),
    }

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.LAZY))

    def get_command(self, ctx, name):
        if name not in self.LAZY:
            return super().get_command(ctx, name)
        import importlib
        target, _, needs_app = self.LAZY[name]
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        return _with_app(command) if needs_app else command

    def format_commands(self, ctx, formatter):
        rows = []
        for name in self.list_commands(ctx):
            if name in self.LAZY:
                rows.append((name, self.LAZY[name][1]))
            else:
                rows.append((name, super().get_command(ctx, name).get_short_help_str(formatter.width - 20)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _with_app(command: click.Command) -> click.Command:
    """A copy of `command` that runs inside an application context and prints our errors as one line
    (a group: a copy whose subcommands do)."""
    import copy
    if isinstance(command, click.Group):
        group = copy.copy(command)
        group.commands = {name: _with_app(sub) for name, sub in command.commands.items()}
        return group
    callback = command.callback

    def wrapped(*args, **kwargs):
        from app.core.errors import AppError, one_line
        with app_with_schema().app_context():
            try:
                return callback(*args, **kwargs)
            except AppError as exc:
                raise click.ClickException(one_line(exc))
    command = copy.copy(command)
    command.callback = wrapped
    return command


@click.group(cls=LazyGroup)
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
    from app.core.serving import EmbeddedServer

    os.umask(0o077)  # every file under BRIDGX_HOME (databases, broker, metrics, beat schedule): owner only
    _metrics_dir()
    app = make_app()
    with app.app_context():
        _upgrade_and_bootstrap(app, host, port)
    server = EmbeddedServer(app, host, port)  # fails early if the port is taken
    sim = _start_demo(app, demo_port) if demo else None
    home = app.config["HOME"]
    # The worker and beat each run in a process group of their own: stopping `run` stops both
    # groups, and BRIDGX_PARENT_PID makes them stop by themselves if `run` is killed. Beat is its own
    # process, not forked from the worker (`worker -B`): a fork inherits the worker's open SQLite
    # connections, whose files celery closes and reuses in the child (a corrupt broker, a stuck beat).
    env = dict(os.environ, BRIDGX_HOME=str(home), BRIDGX_PARENT_PID=str(os.getpid()))
    concurrency = str(workers or app.config["WORKER_CONCURRENCY"])
    celery = [sys.executable, "-m", "celery", "-A", "workers.app", "--quiet"]
    worker = subprocess.Popen(celery + ["worker", "--pool", "threads", "-c", concurrency, "-l", "INFO",
                                        "-n", f"bridgx@{os.uname().nodename}"],
                              cwd=ROOT, env=env, start_new_session=True)
    beat = subprocess.Popen(celery + ["beat", "-l", "INFO", "-s", str(home / "celerybeat-schedule")],
                            cwd=ROOT, env=env, start_new_session=True)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)  # even when started with SIGINT ignored (nohup, `&`)
    threading.Thread(target=_watch_worker, args=(worker, server), daemon=True).start()
    click.echo(f"BridgX-Py API on http://{host}:{port}  (OpenAPI page: http://{host}:{port}/api/docs)")
    stopped_by_us = False
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        stopped_by_us = True
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        began = time.monotonic()
        stop_group(worker, grace=STOP_GRACE_SECONDS)
        stop_group(beat, grace=STOP_GRACE_SECONDS)
        if sim is not None:
            sim.stop()
        click.echo(f"stopped the worker and beat in {time.monotonic() - began:.1f} s", err=True)
    # Everything is stopped and saved. Tearing down an interpreter that loaded five cloud SDKs
    # takes seconds on a busy machine; nothing is left that needs it.
    import logging
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if stopped_by_us else 1)  # the worker died on its own: say so to a supervisor


# Ctrl-C → SIGTERM to the worker's group (warm shutdown); still there after this long → SIGKILL.
# A task cut short resumes from its batch rows on the next start (see app/tasks/engine.py).
STOP_GRACE_SECONDS = 6.0


def stop_group(proc: subprocess.Popen, grace: float) -> None:
    """Stop `proc` and every process of its group: SIGTERM, then SIGKILL after `grace` seconds."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # also a beat child still draining
    except ProcessLookupError:
        pass
    proc.wait()


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


def _upgrade_and_bootstrap(app, host: str = "127.0.0.1", port: int = 9090) -> None:
    """Apply migrations; on first run create an admin and say how to log in."""
    from sqlalchemy import func, select

    from app.auth.models import User
    from app.auth.service import create_user
    from app.extensions import db

    _migrate(app)
    password_file = app.config["HOME"] / "admin_password"
    if db.session.scalar(select(func.count()).select_from(User)) == 0:
        password = _new_password()
        create_user("default", "admin", password, admin=True)
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        click.echo(f"Created organisation 'default' and user 'admin' with password: {password}")
    if password_file.exists():
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        click.echo(f"Log in: curl -s -X POST http://{shown}:{port}/user/login "
                   f"-d '{{\"username\":\"admin\",\"password\":\"'$(cat {password_file})'\"}}'")


def _new_password() -> str:
    """A random password that meets the user password policy."""
    from app.auth.passwords import problem
    while True:
        password = secrets.token_urlsafe(12)
        if problem(password) is None:
            return password


DEMO_NETWORK = {  # provider → (region, zone, instance type, image) in the emulator's catalogue
    "AlibabaCloud": ("cn-qingdao", "cn-qingdao-b", "ecs.g6.large", "centos_7_6_x64_20G_alibase_20211030.vhd"),
    "TencentCloud": ("ap-guangzhou", "ap-guangzhou-3", "S5.MEDIUM4", "img-9qabwvbn"),
    "AWSCloud": ("us-east-1", "us-east-1a", "t3.micro", "ami-0c02fb55956c7d316"),
    "HuaweiCloud": ("cn-north-4", "cn-north-4a", "s6.large.2", "67f433d8-ed0e-4321-a8a2-a71838539e09"),
    "BaiduCloud": ("bj", "cn-bj-a", "bcc.g4.c2m8", "m-jDhcEVZs"),
}


def _start_demo(app, port: int):
    """Serve the local cloud emulator and point a demo account of each cloud of org 'default' at it.

    The emulator's state (machines, networks, client tokens) is kept in
    BRIDGX_HOME/cloudsim-state.pickle: a restart finds the demo cluster's network and machines."""
    import json

    from sqlalchemy import select

    from app.accounts.models import CloudAccount
    from app.auth.models import Organization
    from app.core.crypto import encrypt
    from app.extensions import db
    from cloudsim import CloudSim

    home = app.config["HOME"]
    keys = {provider: (f"DEMO{provider[:5].upper()}KEY", secrets.token_urlsafe(18)) for provider in DEMO_NETWORK}
    sim = CloudSim(credentials=dict(keys.values()), boot_seconds=3.0)
    persister = sim.persist(home / "cloudsim-state.pickle")
    server = sim.serve(port=port)
    _allow_endpoint(app, server.url)
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
    body_file = home / "demo_cluster.json"
    body = json.loads(body_file.read_text()) if body_file.exists() else None
    if body is None or not sim.cloud.vpcs("AlibabaCloud", region, ids=[body["network_config"]["vpc"]]):
        vpc = sim.add_vpc("AlibabaCloud", region, "demo-vpc", "10.1.0.0/16")
        body = {"name": "demo", "provider": "AlibabaCloud", "account_key": keys["AlibabaCloud"][0],
                "region_id": region, "zone_id": zone, "instance_type": itype, "image": image,
                "password": "Demo-pass1", "charge_type": "PostPaid",
                "network_config": {"vpc": vpc,
                                   "subnet_id": sim.add_subnet("AlibabaCloud", region, vpc, zone, "demo-subnet",
                                                               "10.1.0.0/18"),
                                   "security_group": sim.add_security_group("AlibabaCloud", region, vpc, "demo-sg")},
                "disks": {"system_disk": {"category": "cloud_efficiency", "size": 40}, "data_disk": []}}
        body_file.write_text(json.dumps(body, indent=2))
    persister.save()
    click.echo(f"Demo cloud emulator on {server.url}; demo accounts {', '.join(k for k, _ in keys.values())}.")
    click.echo(f"A ready-to-post cluster/create body is in {body_file}")
    return _Demo(server, persister)


class _Demo:
    def __init__(self, server, persister):
        self.server, self.persister, self.url = server, persister, server.url

    def stop(self) -> None:
        self.server.stop()
        self.persister.stop()


def _allow_endpoint(app, url: str) -> None:
    """Put the demo emulator on the endpoint allow-list of this process and of the worker it starts."""
    import dataclasses

    from app.providers import registry
    from app.providers.endpoints import parse_allowlist, with_entry

    allowlist = with_entry(app.config["ENDPOINT_ALLOWLIST"], url)
    app.config["ENDPOINT_ALLOWLIST"] = os.environ["BRIDGX_ENDPOINT_ALLOWLIST"] = allowlist
    registry.configure(dataclasses.replace(registry.settings(), endpoint_allowlist=parse_allowlist(allowlist)))


@cli.command("create-user")
@click.option("--org", required=True, help="Organisation name (created when new).")
@click.option("--username", required=True)
@click.option("--password", required=True,
              help="8-128 characters with three of upper case, lower case, digit, other character.")
@click.option("--admin", is_flag=True, help="ADMIN role: manages users, cloud accounts and the organisation.")
def create_user_cmd(org, username, password, admin):
    """Create a user in an organisation."""
    from app.auth.service import create_user
    from app.core.errors import AppError, human

    app = app_with_schema()
    with app.app_context():
        try:
            create_user(org, username, password, admin=admin)
        except AppError as exc:
            raise click.ClickException(human(exc.detail))
    click.echo(f"created user {username} in organisation {org}{' (admin)' if admin else ''}")


@cli.command("create-token")
@click.option("--username", required=True)
@click.option("--name", default="script", show_default=True, help="A label for the token.")
def create_token_cmd(username, name):
    """Print a long-lived API token for scripts (shown once)."""
    from app.auth.service import create_api_token
    from app.core.errors import AppError, human

    app = app_with_schema()
    with app.app_context():
        try:
            click.echo(create_api_token(username, name))
        except AppError as exc:
            raise click.ClickException(human(exc.detail))


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.pass_context
def cloudsim(ctx):
    """The local cloud emulator (every cloud on one port); `cloudsim --help` for its options."""
    from cloudsim.cli import main
    raise SystemExit(main(ctx.args))


@cli.command()
def migrate():
    """Apply database migrations (production deploys run this once per release)."""
    app = make_app()
    with app.app_context():
        _migrate(app)
    click.echo("database is at the latest revision")


@cli.command("gen-key")
@click.option("--kind", type=click.Choice(["encryption", "secret"]), default="encryption", show_default=True)
def gen_key(kind):
    """Print a new BRIDGX_ENCRYPTION_KEY (Fernet) or BRIDGX_SECRET_KEY value."""
    if kind == "secret":
        click.echo(secrets.token_urlsafe(48))
    else:
        import base64
        click.echo(base64.urlsafe_b64encode(os.urandom(32)).decode())


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of lines.")
def info(as_json):
    """Version, deployment id, database and broker (no passwords), workers seen, tasks in flight."""
    import json
    from app.health.service import describe_deployment
    app = app_with_schema()
    with app.app_context():
        facts = describe_deployment()
    if as_json:
        click.echo(json.dumps(facts, indent=2, ensure_ascii=False))
        return
    for key, value in facts.items():
        if isinstance(value, list):
            value = ", ".join(value) if value else "none"
        click.echo(f"{key + ':':<18} {value}")


if __name__ == "__main__":
    cli()
