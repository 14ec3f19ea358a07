"""Point 4 of issue 16: a worker holding a scaling task survives a Redis outage.

A real worker (subprocess) on a private redis-server; the server is stopped and started again
(same port) while the worker runs an expand. Afterwards the worker must still be alive and take a
new task, and both tasks end with the requested machines (the emulator's inventory as the oracle).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults import PrivateRedis, swapped_broker
from tests.test_scaling import assert_db_matches_cloud, describe, expand

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed")


def _worker(app, tmp_path, broker_url):
    env = dict(os.environ, BRIDGX_CONFIG="embedded", BRIDGX_HOME=str(tmp_path),
               BRIDGX_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], BRIDGX_BROKER_URL=broker_url,
               BRIDGX_SECRET_KEY=app.config["SECRET_KEY"], BRIDGX_ENCRYPTION_KEY=app.config["ENCRYPTION_KEYS"],
               BRIDGX_SCALE_STALE_SECONDS="2", BRIDGX_SCALE_HEARTBEAT_SECONDS="0.5", BRIDGX_VERIFY_ACCOUNTS="0",
               BRIDGX_ENDPOINT_ALLOWLIST=app.config["ENDPOINT_ALLOWLIST"])
    if app.config["REDIS_URL"]:
        env["BRIDGX_REDIS_URL"] = app.config["REDIS_URL"]
    log = open(tmp_path / "worker.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--pool", "threads",
                             "-c", "2", "-l", "INFO", "-n", "outage@test", "--without-mingle", "--without-gossip"],
                            cwd=Path(__file__).resolve().parent.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, tmp_path / "worker.log"


def _wait(predicate, timeout, what, log=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    tail = log.read_text()[-3000:] if log else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def _status(app, task_id):
    from app.extensions import db
    from app.tasks.models import Task
    with app.app_context():
        db.session.remove()
        task = db.session.get(Task, task_id)
        return task.status, task.holder


def test_worker_survives_a_redis_outage_while_running_a_task(app, api, sim, cloud_cluster, tmp_path):
    cluster = cloud_cluster()
    sim.configure(latency={"create": 0.5}, boot_seconds=2.0)  # the task runs for seconds
    redis = PrivateRedis(tmp_path).start()
    worker, log = None, None
    try:
        with swapped_broker(app, redis.url, timeout=1.0):
            first = expand(api, cluster, 10)
            worker, log = _worker(app, tmp_path, redis.url)
            _wait(lambda: _status(app, first)[0] == "RUNNING", 30, "the worker to claim the task", log)
            redis.stop()
            _wait(lambda: "Connection to broker lost" in log.read_text(), 20, "the worker to notice", log)
            redis.start()
            _wait(lambda: _status(app, first)[0] not in ("INIT", "RUNNING"), 60, "the first task to end", log)
            assert worker.poll() is None, log.read_text()[-3000:]
            sim.configure(latency=0.0, boot_seconds=0.0)
            second = expand(api, cluster, 5, name="after-outage")
            _wait(lambda: _status(app, second)[0] not in ("INIT", "RUNNING"), 30,
                  "the worker to take a task after the outage", log)
        assert worker.poll() is None and "Unrecoverable error" not in log.read_text(), log.read_text()[-3000:]
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        redis.stop()
    assert describe(api, first)["task_status"] == "SUCCESS"
    assert describe(api, second)["task_status"] == "SUCCESS"
    assert_db_matches_cloud(app, sim, cluster, 15)
    assert len(sim.instances(include_deleted=True)) == 15
