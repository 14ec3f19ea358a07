"""Many clusters scaling at once on one account (issue 15): no task waits behind another's."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.test_engine_faults import no_worker, run_engine  # noqa: F401 - a fixture
from tests.test_scaling import _wait, expand


def _claimed(app, ids) -> dict:
    """task id -> status, for the tasks some worker holds."""
    from app.extensions import db
    from app.tasks.models import Task
    with app.app_context():
        db.session.remove()
        return {t.id: t.status for t in db.session.query(Task).filter(Task.id.in_(ids), Task.holder.is_not(None))}


def _default_worker(app, tmp_path):
    """A worker started as the Procfile or an operator would, without its own thread count."""
    env = dict(os.environ, BRIDGX_CONFIG="embedded", BRIDGX_HOME=str(tmp_path),
               BRIDGX_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               BRIDGX_BROKER_URL=app.config["CELERY_BROKER_URL"], BRIDGX_SECRET_KEY=app.config["SECRET_KEY"],
               BRIDGX_ENCRYPTION_KEY=app.config["ENCRYPTION_KEYS"], BRIDGX_VERIFY_ACCOUNTS="0",
               BRIDGX_ENDPOINT_ALLOWLIST=app.config["ENDPOINT_ALLOWLIST"])
    env.pop("BRIDGX_WORKER_CONCURRENCY", None)
    if app.config["REDIS_URL"]:
        env["BRIDGX_REDIS_URL"] = app.config["REDIS_URL"]
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--pool", "threads",
                             "-l", "INFO", "-n", "fleet@test"], cwd=Path(__file__).resolve().parent.parent, env=env,
                            stdout=open(tmp_path / "worker.log", "w"), stderr=subprocess.STDOUT)


def test_one_worker_works_on_twenty_expands_at_once(app, api, sim, cloud_cluster, tmp_path, monkeypatch):
    """A scaling task holds a worker thread until its machines have booted. With 8 threads the 9th
    cluster's expand waited for earlier tasks' boot times while the account's create budget sat
    idle. All 20 tasks must be claimed while none of them can have finished."""
    monkeypatch.setitem(app.config, "QUOTA_TASKS_IN_FLIGHT", 0)  # 20 tasks at once (0 = no limit)
    names = [cloud_cluster(name=f"fleet-{i}") for i in range(20)]
    sim.configure(boot_seconds=600)  # no task can finish during the test
    celery = app.extensions["celery"]
    celery.conf.task_always_eager = False
    try:
        ids = []
        for name in names:
            status, body = api.post("cluster/expand", {"task_name": "grow", "cluster_name": name, "count": 1})
            assert status == 200, body
            ids.append(body["data"])
    finally:
        celery.conf.task_always_eager = True
    worker = _default_worker(app, tmp_path)
    try:
        deadline = time.monotonic() + 90
        while len(_claimed(app, ids)) < 20:
            assert time.monotonic() < deadline, f"only {len(_claimed(app, ids))} of 20 tasks claimed"
            time.sleep(0.1)
        assert set(_claimed(app, ids).values()) == {"RUNNING"}
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()


def test_an_expand_does_not_spin_while_its_machines_boot(app, api, sim, cloud_cluster, monkeypatch):
    """Between describe polls nothing is in flight: the engine must sleep until the next poll is
    due, not loop (`concurrent.futures.wait([])` returns at once). A spinning loop took a CPU core
    per task while machines booted, so twenty tasks on one worker competed for the GIL."""
    from app.tasks.readiness import Readiness
    cluster = cloud_cluster()
    sim.configure(boot_seconds=3.0)
    rounds = []
    original = Readiness.next_due
    monkeypatch.setattr(Readiness, "next_due", lambda self, now: rounds.append(now) or original(self, now))
    status, body = api.post("cluster/expand", {"task_name": "grow", "cluster_name": cluster, "count": 150})
    assert status == 200, body
    status, body = api.get("task/describe", task_id=body["data"])
    assert body["data"]["task_status"] == "SUCCESS", body
    # ~3 s of boot: a handful of polls for two batches and a wake-up at most every second.
    assert len(rounds) < 100, f"{len(rounds)} engine loop rounds while waiting {rounds[-1] - rounds[0]:.1f} s"


def test_a_resumed_expand_does_not_spin_while_its_creates_are_in_flight(app, api, sim, cloud_cluster, no_worker,
                                                                        monkeypatch):
    """A resumed task lists its machines by tag once its creates are done; until then the pending
    listing must not wake the loop at once. It did: the engine spun for as long as the creates took,
    and in a fresh worker that starved the thread importing the cloud SDK for ~50 s."""
    from app.extensions import db
    from app.tasks.models import Task
    from app.tasks.readiness import Readiness
    cluster = cloud_cluster()
    sim.configure(latency={"create": 1.5})
    task_id = expand(api, cluster, 10)
    with app.app_context():
        db.session.get(Task, task_id).runs = 1  # an earlier run claimed it, then died
        db.session.commit()
    rounds = []
    original = Readiness.next_due
    monkeypatch.setattr(Readiness, "next_due", lambda self, now: rounds.append(now) or original(self, now))
    run_engine(app, task_id)
    status, body = api.get("task/describe", task_id=task_id)
    assert body["data"]["task_status"] == "SUCCESS", body
    # 1.5 s of create, a short boot: a handful of rounds, not a loop at full speed
    assert len(rounds) < 100, f"{len(rounds)} engine loop rounds in {rounds[-1] - rounds[0]:.1f} s"


def test_a_late_tasks_first_batch_is_created_before_the_batches_other_tasks_queued(app, api, sim, cloud_cluster,
                                                                                   no_worker, monkeypatch):
    """Tasks share the account's create budget. One task's ten batches wait for tokens; three tasks
    that start meanwhile must get their first batch created next, not after that queue: their first
    machines would wait for the whole of it (issue 15: no task starved)."""
    from app.providers import base, registry
    from app.tasks.engine import task_tag
    for quota in ("QUOTA_TASKS_IN_FLIGHT", "QUOTA_INSTANCES_PER_TASK", "QUOTA_LIVE_INSTANCES"):
        monkeypatch.setitem(app.config, quota, 0)
    monkeypatch.setitem(registry.settings().rate_overrides, "AlibabaCloud", {"RunInstances": 2.0})
    early = expand(api, cloud_cluster(name="early"), 1000)  # ten batches of 100
    late = [expand(api, cloud_cluster(name=f"late-{i}"), 100) for i in range(3)]
    with app.app_context():
        tasks = {task_tag(t): t for t in [early, *late]}

    def batches():
        """The task of each batch, in the order the cloud created the batches."""
        seen = []
        for inst in sim.instances("AlibabaCloud"):
            batch = (tasks[inst.tags[base.TAG_TASK]], inst.tags[base.TAG_BATCH])
            if batch not in seen:
                seen.append(batch)
        return [task for task, _ in seen]

    threads = [threading.Thread(target=run_engine, args=(app, early))]
    threads[0].start()
    _wait(batches, 30, "the early task's first batch")
    before = len(batches())  # its other batches are waiting for tokens (one every 0.5 s)
    threads += [threading.Thread(target=run_engine, args=(app, task)) for task in late]
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(120)
    order = batches()
    assert len(order) == 13, order
    last_late = max(order.index(task) for task in late)
    # the late tasks take a moment to start: allow three more early batches (1.5 s) before theirs
    assert order[:last_late].count(early) <= before + 3, order


def test_only_a_tasks_first_create_and_its_first_polls_are_urgent(app, api, sim, cloud_cluster, monkeypatch):
    """Urgent calls must stay few, or they are just the queue again: one create per task, and the
    polls of its oldest batch until a machine runs."""
    from types import SimpleNamespace

    from app.providers import registry
    limiter, calls = registry._get_limiter(), []

    def acquire(key, rate, urgent=False):
        calls.append((key[3], urgent))
        return limiter.acquire(key, rate, urgent)
    monkeypatch.setattr(registry, "_get_limiter", lambda: SimpleNamespace(acquire=acquire))
    sim.configure(boot_seconds=1.0)
    expand(api, cloud_cluster(), 300)  # three batches; runs in the request (eager)
    creates = [urgent for name, urgent in calls if name == "RunInstances"]
    polls = [urgent for name, urgent in calls if name == "DescribeInstances"]
    assert sorted(creates) == [False, False, True]
    assert polls[0] is True and polls[-1] is False, polls
