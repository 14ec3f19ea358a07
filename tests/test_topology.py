"""The real process topologies: the Procfile (gunicorn + Celery worker + beat) and `manage.py run`.

Every process here is started in its own process group and stopped with it; the session fixture
in conftest.py fails the run if one is left behind."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import SIM_KEYS, SIM_SECRET, account_body, cluster_body, descendants, reap

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGX_", "PROMETHEUS_"))}
    env.update(BRIDGX_CONFIG="embedded", BRIDGX_HOME=str(home), BRIDGX_VERIFY_ACCOUNTS="0",
               BRIDGX_ENDPOINT_ALLOWLIST="http://127.0.0.1",
               BRIDGX_PROCESS_HEARTBEAT_SECONDS="0.5", BRIDGX_PROCESS_STALE_SECONDS="5",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Http:
    def __init__(self, base: str, token: str | None = None):
        self.base, self.token = base, token

    def call(self, method, path, body=None, headers=None, raw=False):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                payload, status, hdrs = resp.read(), resp.status, resp.headers
        except urllib.error.HTTPError as exc:
            payload, status, hdrs = exc.read(), exc.code, exc.headers
        if raw:
            return status, payload.decode(), hdrs
        return status, json.loads(payload or b"null")

    def wait(self, path, predicate, timeout, what):
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            try:
                last = self.call("GET", path)
                if predicate(*last):
                    return last
            except (OSError, ValueError) as exc:
                last = exc
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}: {last}")


def start(cmd: str | list, env: dict, log: Path) -> subprocess.Popen:
    args = ["bash", "-c", f"exec {cmd}"] if isinstance(cmd, str) else cmd
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever else is left in the group
    except ProcessLookupError:
        pass


def _broker_messages(path: Path) -> int:
    """Messages ever published through the embedded SQLite broker (kombu keeps consumed ones)."""
    try:
        with sqlite3.connect(path, timeout=5) as broker:
            return broker.execute("SELECT count(*) FROM kombu_message").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds:g} s for {what}"
        time.sleep(0.2)


def gone_within(pids: set[int], seconds: float) -> set[int]:
    """The pids still running after `seconds` (exited ones are reaped on the way)."""
    deadline = time.monotonic() + seconds
    while True:
        reap()
        left = {p for p in pids if Path(f"/proc/{p}").exists() and _state(p) != "Z"}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def _state(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def manage(env, *args) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def samples(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(metrics: dict, name: str, **labels) -> float:
    return sum(v for (n, ls), v in metrics.items()
               if n == name and all(dict(ls).get(k) == x for k, x in labels.items()))


# ---------------------------------------------------------------- the Procfile
def procfile() -> dict:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_procfile_topology_metrics_logs_and_health(tmp_path, sim):
    port = free_port()
    env = clean_env(tmp_path, PORT=port, WEB_CONCURRENCY=2, BRIDGX_WEB_THREADS=2, BRIDGX_WORKER_CONCURRENCY=4,
                    BRIDGX_PARENT_PID=os.getpid())
    manage(env, "create-user", "--org", "acme", "--username", "ops", "--password", "Pw-123456", "--admin")
    token = manage(env, "create-token", "--username", "ops").splitlines()[-1]
    lines = procfile()
    procs = {name: start(lines[name], env, tmp_path / f"{name}.log") for name in ("web", "worker", "beat")}
    try:
        http = Http(f"http://127.0.0.1:{port}", token)
        http.wait("/readyz", lambda s, b: s == 200, 90, "the API")
        http.wait("/healthz", lambda s, b: s == 200 and b["data"]["workers"] == 1 and b["data"]["beat"] == 1, 90,
                  "a live worker and beat")

        status, body = http.call("POST", "/api/v1/cloud_account/create",
                                 account_body(key=SIM_KEYS["AlibabaCloud"], secret=SIM_SECRET, endpoint=sim.url))
        assert status == 200, body
        vpc = sim.add_vpc("AlibabaCloud", "cn-qingdao", "v", "10.1.0.0/16")
        network = {"vpc": vpc, "subnet_id": sim.add_subnet("AlibabaCloud", "cn-qingdao", vpc, "cn-qingdao-b", "s",
                                                            "10.1.0.0/18"),
                   "security_group": sim.add_security_group("AlibabaCloud", "cn-qingdao", vpc, "g")}
        assert http.call("POST", "/api/v1/cluster/create",
                         cluster_body(SIM_KEYS["AlibabaCloud"], network_config=network))[0] == 200
        sim.configure(boot_seconds=2.0)
        status, body = http.call("POST", "/api/v1/cluster/expand", {"task_name": "t", "cluster_name": "web",
                                                                     "count": 30}, headers={"X-Request-Id": "topo-1"})
        assert status == 200, body
        task_id = body["data"]

        # worker counters, scraped from the API while the machines boot
        seen_running, deadline = [], time.monotonic() + 90
        while time.monotonic() < deadline:
            task = http.call("GET", f"/api/v1/task/describe?task_id={task_id}")[1]["data"]
            created = total(samples(http.call("GET", "/metrics", raw=True)[1]), "bridgx_machines_created_total",
                            provider="AlibabaCloud")
            if task["task_status"] == "RUNNING":
                seen_running.append(created)
            if task["finish_at"]:
                break
            time.sleep(0.1)
        assert task["task_status"] == "SUCCESS", task
        assert 30 in seen_running, seen_running

        # every gunicorn worker answers with the same, whole counts
        scrapes = [samples(http.call("GET", "/metrics", raw=True)[1]) for _ in range(8)]
        for m in scrapes:
            assert total(m, "bridgx_machines_created_total") == 30
            assert total(m, "bridgx_cloud_calls_total", api="RunInstances", outcome="ok") >= 1
            assert total(m, "bridgx_live_processes", kind="worker") == 1
            assert total(m, "bridgx_scaling_task_seconds_count", action="EXPAND", status="SUCCESS") == 1
            assert total(m, "bridgx_celery_task_seconds_count", task="bridgx.scaling.run") == 1
            assert total(m, "bridgx_http_requests_total", endpoint="/api/v1/cluster/expand", status="200") == 1
            assert ("bridgx_queue_depth", ()) in m and ("bridgx_oldest_unfinished_task_age_seconds", ()) in m
        # resume_stale ran (at worker start, then from beat) without a log line
        quiet_runs = total(samples(http.call("GET", "/metrics", raw=True)[1]), "bridgx_celery_task_seconds_count",
                           task="bridgx.scaling.resume_stale")
        assert quiet_runs >= 1
        info = json.loads(manage(env, "info", "--json"))
        assert len(info["workers"]) == 1 and len(info["beat"]) == 1 and info["tasks_running"] == 0
    finally:
        for proc in procs.values():
            stop(proc)

    web_log = (tmp_path / "web.log").read_text()
    worker_log = (tmp_path / "worker.log").read_text()
    access = [json.loads(line) for line in web_log.splitlines() if '"gunicorn.access"' in line]
    assert any("/api/v1/cluster/expand" in a["message"] and "request_id=topo-1" in a["message"] for a in access)
    # every line is JSON, except Celery's own shutdown notice (a print, not a log record)
    worker_lines = [json.loads(line) for line in worker_log.splitlines()
                    if line.strip() and not line.startswith("worker: Warm shutdown")]
    for line in (tmp_path / "beat.log").read_text().splitlines():
        assert json.loads(line)["level"], line
    assert any(line["logger"].startswith("app.tasks") and line["request_id"] == "topo-1" for line in worker_lines)
    assert not any("resume_stale" in line["message"] for line in worker_lines)


# ---------------------------------------------------------------- manage.py run --demo
def _login(http: Http, home: Path) -> None:
    password = (home / "admin_password").read_text().strip()
    status, body = http.call("POST", "/user/login", {"username": "admin", "password": password})
    assert status == 200, body
    http.token = body["data"]


def _expand(http, count, name):
    status, body = http.call("POST", "/api/v1/cluster/expand", {"task_name": name, "cluster_name": "demo",
                                                                 "count": count})
    assert status == 200, body
    return body["data"]


def _finished(http, task_id, timeout=60):
    return http.wait(f"/api/v1/task/describe?task_id={task_id}", lambda s, b: s == 200 and b["data"]["finish_at"],
                     timeout, f"task {task_id}")[1]["data"]


def test_demo_survives_restart_and_run_never_leaves_children(tmp_path):
    port, demo_port = free_port(), free_port()
    env = clean_env(tmp_path)
    cmd = [sys.executable, "manage.py", "run", "--demo", "--port", str(port), "--demo-port", str(demo_port)]
    http = Http(f"http://127.0.0.1:{port}")

    def boot(log):
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=(tmp_path / log).open("w"), stderr=subprocess.STDOUT)
        try:
            http.wait("/healthz", lambda s, b: s == 200, 90, "run --demo to be healthy")
        except AssertionError:
            stop(proc)
            raise
        return proc

    first = boot("first.log")
    try:
        _login(http, tmp_path)
        body = json.loads((tmp_path / "demo_cluster.json").read_text())
        assert http.call("POST", "/api/v1/cluster/create", body)[0] == 200
        assert _finished(http, _expand(http, 3, "one"))["task_status"] == "SUCCESS"
        # beat publishes its schedule through the SQLite broker without corrupting it (a beat
        # forked from the worker inherited the worker's SQLite connections, fds closed and reused)
        wait_for(lambda: _broker_messages(tmp_path / "broker.sqlite") >= 6, 60, "beat to send its scheduled tasks")
        with sqlite3.connect(tmp_path / "broker.sqlite") as broker:
            assert broker.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        log = (tmp_path / "first.log").read_text()
        for bad in ("Couldn't apply scheduled task", "database disk image is malformed", "file is not a database"):
            assert bad not in log, bad
        children = descendants(first.pid)
        assert len(children) >= 2  # the worker and its beat
        first.kill()  # no clean-up at all: the children must notice and stop by themselves
        first.wait()
        left = gone_within(children, 15)
        assert not left, f"orphans after SIGKILL of run: {left}"
    finally:
        stop(first)

    second = boot("second.log")
    try:
        _login(http, tmp_path)
        # the emulator kept the demo network and machines: scaling the same cluster works
        info = _finished(http, _expand(http, 2, "two"))
        assert info["task_status"] == "SUCCESS", info
        assert info["before_instance_count"] == 3 and info["after_instance_count"] == 5
        task_id = _expand(http, 20, "three")
        http.wait(f"/api/v1/task/describe?task_id={task_id}", lambda s, b: b["data"]["task_status"] == "RUNNING", 30,
                  "the task to run")
        children = descendants(second.pid)
        began = time.monotonic()
        second.send_signal(signal.SIGTERM)  # Ctrl-C / a service manager, in the middle of a task
        second.wait(timeout=30)
        left = gone_within(children, max(0.0, 10 - (time.monotonic() - began)))
        assert not left, f"children still running 10 s after SIGTERM: {left}"
    finally:
        stop(second)
