"""Safe to operate (in process): the CLI validates like the API, failure is visible, logs carry
request ids, configuration errors are one line. The multi-process checks are in test_topology.py."""
from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import account_body

ROOT = Path(__file__).resolve().parent.parent


def _cli(app, command, args):
    """Run one of app/tasks/cli.py's commands the way manage.py does: inside an app context."""
    with app.app_context():
        return CliRunner().invoke(command, args, catch_exceptions=False)


@pytest.fixture
def enqueued(monkeypatch):
    """Record the task ids handed to the broker instead of running them."""
    from app.tasks import service
    calls = []
    monkeypatch.setattr(service, "_enqueue", calls.append)
    return calls


# ---------------------------------------------------------------- 1. one validation path
@pytest.mark.parametrize("count", ["0", "-3", "100000"])
def test_cli_expand_uses_the_api_schema(app, api, sim, cloud_cluster, enqueued, count):
    from app.tasks.cli import expand_cmd
    cluster = cloud_cluster()
    result = _cli(app, expand_cmd, ["--cluster", cluster, "--count", count, "--username", api.username, "--no-wait"])
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: count: Must be greater than or equal to 1 and less than or equal to "
                                     "50000.")
    assert api.get("task/num")[1]["data"]["task_num"] == 0 and enqueued == []
    assert sim.instances() == []


def test_cli_shrink_uses_the_api_schema(app, api, sim, cloud_cluster, enqueued):
    from app.tasks.cli import shrink_cmd
    cluster = cloud_cluster()
    for args, reason in ((["--count", "-3"], "count: Must be greater than or equal to 1"),
                         (["--ip", "not-an-ip"], "ips.0: not an IPv4 address"),
                         (["--ip", "10.0.0.1", "--count", "2"], "count: must equal the number of ips (1)")):
        result = _cli(app, shrink_cmd, ["--cluster", cluster, "--username", api.username, "--no-wait", *args])
        assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
        assert result.output.startswith(f"Error: {reason}"), result.output
    assert api.get("task/num")[1]["data"]["task_num"] == 0 and enqueued == []


def test_cli_errors_are_text_not_dicts(app, api, sim, cloud_cluster, enqueued):
    from app.tasks.cli import expand_cmd
    result = _cli(app, expand_cmd, ["--cluster", "nope", "--count", "2", "--username", api.username, "--no-wait"])
    assert result.output.strip() == "Error: cluster_name: no cluster named 'nope'"


def test_task_wait_unknown_id_is_one_line(app, api):
    from app.tasks.cli import task_wait_cmd
    with app.app_context():
        result = CliRunner().invoke(task_wait_cmd, ["987654", "--username", api.username])
    assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip() == f"Error: no task 987654 in the organisation of {api.username!r}"


# ---------------------------------------------------------------- 2. failure visible: no worker
@pytest.fixture
def no_worker(app):
    """Tasks go to the broker (none of the tests' inline running) and no worker is alive."""
    celery = app.extensions["celery"]
    app.config["EAGER_TASKS"], celery.conf.task_always_eager = False, False
    yield
    app.config["EAGER_TASKS"], celery.conf.task_always_eager = True, True


def test_expand_without_a_live_worker_says_so(app, api, sim, cloud_cluster, enqueued, no_worker, anon):
    cluster = cloud_cluster()
    resp = api.client.post("/api/v1/cluster/expand", json={"task_name": "t", "cluster_name": cluster, "count": 2},
                           headers={"Authorization": f"Bearer {api.token}"})
    assert resp.status_code == 200 and resp.get_json()["data"] == enqueued[0]
    assert "no live Celery worker" in resp.headers["Warning"]
    health = anon.client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["data"]["workers"] == 0
    assert anon.client.get("/readyz").status_code == 200  # this API process itself can serve


def test_healthz_counts_worker_heartbeats(app, anon, no_worker):
    from app.health import service
    with app.app_context():
        service.beat("w1@host", service.WORKER)
        service.beat("beat@host:1", service.BEAT)
    data = anon.client.get("/healthz").get_json()["data"]
    assert (data["workers"], data["beat"], data["worker_names"]) == (1, 1, ["w1@host"])
    assert anon.client.get("/healthz").status_code == 200
    with app.app_context():
        service.forget("w1@host")
    assert anon.client.get("/healthz").status_code == 503


def test_cli_wait_gives_up_when_no_worker_starts_the_task(app, api, sim, cloud_cluster, enqueued, no_worker):
    from app.tasks.cli import expand_cmd
    cluster = cloud_cluster()
    app.config["WAIT_START_TIMEOUT"] = 1.0
    result = {}

    def run():
        result["r"] = _cli(app, expand_cmd, ["--cluster", cluster, "--count", "2", "--username", api.username])
    try:
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout=60)
    finally:
        app.config["WAIT_START_TIMEOUT"] = 120.0
    assert not thread.is_alive(), "expand --wait hung with no worker"
    out = result["r"].output
    assert result["r"].exit_code == 1
    assert "warning: no live Celery worker" in out
    assert f"Error: task {enqueued[0]} has not started after 1 s (no live Celery worker" in out


# ---------------------------------------------------------------- 4. logs
def test_request_id_is_returned_and_reaches_the_engine_log(app, api, sim, cloud_cluster):
    from app.core import logs
    cluster = cloud_cluster()
    seen = []

    class Spy(logging.Handler):
        def emit(self, record):
            if record.name.startswith("app.tasks"):
                seen.append(logs.REQUEST_ID.get())

    spy = Spy()
    logging.getLogger().addHandler(spy)
    try:
        resp = api.client.post("/api/v1/cluster/expand", json={"task_name": "t", "cluster_name": cluster, "count": 2},
                               headers={"Authorization": f"Bearer {api.token}", "X-Request-Id": "op-4711"})
    finally:
        logging.getLogger().removeHandler(spy)
    assert resp.status_code == 200 and resp.headers["X-Request-Id"] == "op-4711"
    assert seen and set(seen) == {"op-4711"}
    fresh = api.client.get("/healthz", headers={"X-Request-Id": "bad id with spaces <script>"}).headers["X-Request-Id"]
    assert len(fresh) == 32 and fresh.isalnum()


def test_request_id_reaches_the_engines_cloud_call_threads(app, api, sim, cloud_cluster, monkeypatch):
    """Retry lines are written in the engine's create/describe threads: they carry the request id."""
    from app.core import logs
    from app.providers import registry
    from app.providers.retry import RetryPolicy
    monkeypatch.setattr(registry, "_policy", RetryPolicy(max_attempts=8, base=0.001, cap=0.002))
    cluster = cloud_cluster()
    sim.configure(throttle_rate=0.5)
    seen = []

    class Spy(logging.Handler):
        def emit(self, record):
            if record.threadName.startswith(("create", "describe")):
                seen.append(logs.REQUEST_ID.get())

    spy = Spy()
    logging.getLogger().addHandler(spy)
    try:
        resp = api.client.post("/api/v1/cluster/expand", json={"task_name": "t", "cluster_name": cluster,
                                                                "count": 120},
                               headers={"Authorization": f"Bearer {api.token}", "X-Request-Id": "op-4712"})
    finally:
        logging.getLogger().removeHandler(spy)
    assert resp.status_code == 200, resp.get_json()
    assert seen and set(seen) == {"op-4712"}, seen[:5]


def test_json_log_lines_carry_the_request_id():
    import io
    import json

    from app.core import logs
    stream = io.StringIO()
    handler = logs.handler("json")
    handler.setStream(stream)
    log = logging.getLogger("bridgx.test.json")
    log.addHandler(handler)
    log.propagate = False
    token = logs.REQUEST_ID.set("rid-1")
    try:
        log.warning("cluster %s scaled", "web", extra={"cluster": "web"})
    finally:
        logs.REQUEST_ID.reset(token)
        log.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["message"] == "cluster web scaled" and line["request_id"] == "rid-1"
    assert line["level"] == "WARNING" and line["cluster"] == "web" and line["ts"].endswith("+00:00")


def test_periodic_task_chatter_is_filtered():
    from app.core.logs import QuietPeriodic
    quiet = QuietPeriodic()

    def record(name, msg, args, data=None):
        rec = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
        if data is not None:
            rec.data = data
        return rec
    data = {"name": "bridgx.scaling.resume_stale", "id": "x", "runtime": 0.01, "return_value": "[]"}
    assert not quiet.filter(record("celery.app.trace", "Task %(name)s succeeded", (data,), data))
    assert not quiet.filter(record("celery.beat", "Scheduler: Sending due task %s (%s)",
                                   ("resume-stale-tasks", "bridgx.scaling.resume_stale")))
    run = dict(data, name="bridgx.scaling.run")
    assert quiet.filter(record("celery.app.trace", "Task %(name)s succeeded", (run,), run))


def test_cloud_retry_line_is_one_short_line(app, api, sim, cloud_cluster, monkeypatch, caplog):
    from app.providers import registry
    from app.providers.retry import RetryPolicy
    cluster = cloud_cluster()
    monkeypatch.setattr(registry, "_policy", RetryPolicy(3, 0.001, 0.002))
    sim.configure(error_rate=0.5)
    caplog.set_level(logging.INFO, logger="app.providers.registry")
    api.post("cluster/expand", {"task_name": "t", "cluster_name": cluster, "count": 40})
    retries = [r for r in caplog.records if r.name == "app.providers.registry" and "retry" in r.getMessage()]
    assert retries
    for rec in retries:
        line = rec.getMessage()
        assert len(line) < 160 and "\n" not in line, line
        assert line.startswith("cloud retry AlibabaCloud cn-qingdao ") and " attempt " in line
        assert rec.error and rec.attempt >= 1


# ---------------------------------------------------------------- 6. unreachable cloud
def test_unreachable_cloud_is_502_not_a_bad_key(app, api, monkeypatch):
    import socket

    from app.providers import registry
    from app.providers.retry import RetryPolicy
    monkeypatch.setattr(registry, "_policy", RetryPolicy(2, 0.001, 0.002))
    monkeypatch.setitem(app.config, "VERIFY_ACCOUNTS", True)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status, body = api.post("cloud_account/create", account_body(endpoint=f"http://127.0.0.1:{port}"))
    assert status == 502 and body["msg"] == "cloud_error", body
    assert "could not reach the AlibabaCloud API" in body["data"]["endpoint"]
    assert "account_key" not in body["data"] and "Traceback" not in str(body)


# ---------------------------------------------------------------- 6. the emulator keeps its state
def test_emulator_state_survives_a_restart(tmp_path):
    from cloudsim import CloudSim
    first = CloudSim(credentials={"AK": "SK"}, seed=3)
    keeper = first.persist(tmp_path / "state.pickle", interval=0.05)
    vpc = first.add_vpc("AlibabaCloud", "cn-qingdao", "v", "10.1.0.0/16")
    keeper.stop()
    second = CloudSim(credentials={"AK": "SK"})
    again = second.persist(tmp_path / "state.pickle")
    try:
        assert [v.vpc_id for v in second.cloud.vpcs("AlibabaCloud")] == [vpc]
        assert second.add_vpc("AlibabaCloud", "cn-qingdao", "w", "10.2.0.0/16") != vpc  # the id stream goes on
    finally:
        again.stop()


# ---------------------------------------------------------------- 7. configuration and start-up
def _manage(*args, env=None, timeout=60):
    import os
    full = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("name,value,message", [
    ("BRIDGX_WORKER_CONCURRENCY", "eight", "BRIDGX_WORKER_CONCURRENCY must be an integer, not 'eight'"),
    ("BRIDGX_SCALE_READY_TIMEOUT", "-1", "BRIDGX_SCALE_READY_TIMEOUT must be at least 0.0, not '-1'"),
    ("BRIDGX_PROVIDER_RATES", "{nope", "BRIDGX_PROVIDER_RATES is not valid JSON"),
    ("BRIDGX_VERIFY_ACCOUNTS", "maybe", "BRIDGX_VERIFY_ACCOUNTS must be one of"),
    ("BRIDGX_ENCRYPTION_KEY", "not-a-key", "BRIDGX_ENCRYPTION_KEY key #1 is not a Fernet key"),
])
def test_bad_settings_are_one_line_errors(tmp_path, name, value, message):
    result = _manage("info", env={"BRIDGX_HOME": str(tmp_path), "BRIDGX_CONFIG": "embedded", name: value})
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {message}") and len(result.stderr.strip().splitlines()) == 1, \
        result.stderr


def test_create_user_on_a_fresh_home_then_info(tmp_path):
    env = {"BRIDGX_HOME": str(tmp_path / "fresh"), "BRIDGX_CONFIG": "embedded", "BRIDGX_LOG_LEVEL": "WARNING"}
    result = _manage("create-user", "--org", "acme", "--username", "ops", "--password", "Pw-123456", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "created user ops in organisation acme"
    again = _manage("create-user", "--org", "acme", "--username", "ops", "--password", "Pw-123456", env=env)
    assert again.returncode == 1 and again.stderr.strip() == "Error: username: user 'ops' already exists"
    info = _manage("info", "--json", env=env)
    import json
    facts = json.loads(info.stdout)
    assert facts["version"] and len(facts["deployment_id"]) == 8 and facts["workers"] == []
    assert facts["database"].startswith("sqlite:///") and facts["tasks_running"] == 0


def test_info_hides_passwords(app):
    from app.health.service import safe_url
    assert safe_url("mysql+pymysql://bridgx:s3cret@db:3306/bridgx") == "mysql+pymysql://bridgx:***@db:3306/bridgx"
    assert "hunter2" not in safe_url("redis://:hunter2@cache:6379/0")


def test_help_starts_without_importing_the_app():
    """`manage.py --help` and commands that need no app must not load Flask, SQLAlchemy or the SDKs."""
    probe = ("import sys, runpy; sys.argv = ['manage.py', '--help']\n"
             "try:\n    runpy.run_path('manage.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "heavy = sorted(m for m in ('flask', 'sqlalchemy', 'celery', 'app') if m in sys.modules)\n"
             "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert "HEAVY []" in out, out
    assert "expand" in out and "usage-report" in out  # lazy commands are still listed


def test_login_hint_honours_the_port(app, capsys, monkeypatch, tmp_path):
    sys.path.insert(0, str(ROOT))
    import manage
    (app.config["HOME"] / "admin_password").write_text("x\n")
    monkeypatch.setattr("flask_migrate.upgrade", lambda **kw: None)
    with app.app_context():
        from app.auth.service import create_user
        create_user("default", "someone", "Pw-123456")
        manage._upgrade_and_bootstrap(app, "0.0.0.0", 8181)
    assert "curl -s -X POST http://127.0.0.1:8181/user/login" in capsys.readouterr().out


def test_gen_key_makes_a_key_the_config_accepts():
    from config import check_encryption_keys
    result = _manage("gen-key")
    check_encryption_keys(result.stdout.strip())


# ---------------------------------------------------------------- 3. the dashboard reads real metrics
def test_grafana_dashboard_uses_only_exported_metrics(anon):
    import json
    import re
    text = anon.client.get("/metrics").get_data(as_text=True)
    families = {re.sub(r"_total$", "", name) for name in re.findall(r"^# TYPE (\S+) ", text, re.M)}
    for family in ("bridgx_http_requests", "bridgx_http_request_seconds", "bridgx_celery_task_seconds",
                   "bridgx_scaling_task_seconds", "bridgx_queue_depth", "bridgx_oldest_unfinished_task_age_seconds",
                   "bridgx_live_processes", "bridgx_reconcile_passes", "bridgx_reconcile_actions"):
        assert family in families, family
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    used = {name for p in dashboard["panels"] for t in p["targets"] for name in re.findall(r"bridgx_\w+", t["expr"])}
    assert len(used) >= 12
    for name in used:
        base = re.sub(r"_(total|bucket|count|sum)$", "", name)
        assert base in families, name


def test_procfile_processes_refuse_bad_settings_in_one_line(tmp_path):
    import os
    env = dict(os.environ, BRIDGX_HOME=str(tmp_path), BRIDGX_CONFIG="embedded", BRIDGX_PROVIDER_RATES="[1]",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    for cmd in (["celery", "-A", "workers.app", "worker"], ["gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"]):
        result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode != 0
        assert result.stderr.strip().splitlines()[-1] == "Error: BRIDGX_PROVIDER_RATES must be a JSON object", \
            result.stderr[-500:]
        assert "Traceback" not in result.stderr
