"""The engine under faults (issue 16's engine points, cancel, visible failures): each test uses the
emulator's inventory as the oracle — cloud count = database count = requested, none created
twice, none left unknown."""
from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, update

from tests.test_scaling import (_start_worker, _task, _wait, assert_db_matches_cloud, cloud_instances, db_instances,
                                describe, expand)


@pytest.fixture
def no_worker(app):
    """Tasks are accepted but not run: the test runs the engine itself."""
    celery = app.extensions["celery"]
    celery.conf.task_always_eager = False
    yield
    celery.conf.task_always_eager = True


@pytest.fixture
def shutdown_flag():
    from app.tasks import engine
    yield engine.SHUTDOWN
    engine.SHUTDOWN.clear()


def run_engine(app, task_id):
    from app.tasks import engine
    with app.app_context():
        try:
            return engine.run(task_id)
        finally:
            from app.extensions import db
            db.session.remove()


def task_row(app, task_id):
    from app.extensions import db
    from app.tasks.models import Task
    with app.app_context():
        db.session.remove()
        task = db.session.get(Task, task_id)
        db.session.expunge(task)
        return task


class DatabaseOutage:
    """Every statement on the app's engine fails (as a dropped connection does) while active."""

    def __init__(self, app):
        from app.extensions import db
        with app.app_context():
            self.engine = db.engine
        self.until = 0.0
        self.failures = 0
        dbapi = self.engine.dialect.dbapi

        def refuse(conn, cursor, statement, params, context, executemany):
            if time.time() < self.until:
                self.failures += 1
                raise dbapi.OperationalError(2013, "Lost connection to server during query (simulated)")
        self.hook = refuse
        event.listen(self.engine, "before_cursor_execute", refuse)

    def start(self, seconds):
        self.until = time.time() + seconds

    def close(self):
        self.until = 0.0
        event.remove(self.engine, "before_cursor_execute", self.hook)


# ---------------------------------------------------------------- point 1: a database blip mid-expand
def test_database_blip_mid_expand_leaves_task_open_and_resume_is_exact(app, api, sim, cloud_cluster, no_worker,
                                                                      monkeypatch, caplog):
    from app.providers import base
    from app.providers.alibaba import AlibabaProvider
    from app.tasks.service import stale_tasks
    cluster = cloud_cluster()
    sim.configure(latency={"create": 0.4}, boot_seconds=0.5)
    task_id = expand(api, cluster, 300)
    outage = DatabaseOutage(app)
    real = AlibabaProvider.create_instances

    def blip_after_batch_0(self, spec, count, token, tags, min_count=None):
        result = real(self, spec, count, token, tags, min_count=min_count)
        if tags[base.TAG_BATCH] == "0" and not outage.failures:
            outage.start(1.7)  # the other batches' replies arrive during the blip
        return result

    monkeypatch.setattr(AlibabaProvider, "create_instances", blip_after_batch_0)
    caplog.set_level(logging.INFO, "app.tasks.engine")
    try:
        assert run_engine(app, task_id) == "interrupted"
    finally:
        outage.close()
    assert outage.failures, "the outage never hit the engine"
    status, holder, states = _task(app, task_id)
    assert status == "RUNNING" and task_row(app, task_id).lock_cluster_id is not None  # never closed
    assert not any(r.levelno >= logging.ERROR for r in caplog.records if r.name == "app.tasks.engine")
    with app.app_context():
        _wait(lambda: task_id in stale_tasks(app.config["SCALE_STALE_SECONDS"]), 10, "the task to be resumable")
    # the database is back: the resumer runs it again from its rows
    assert run_engine(app, task_id) == "finished"
    info = describe(api, task_id)
    assert info["task_status"] == "SUCCESS", info
    assert_db_matches_cloud(app, sim, cluster, 300)
    assert len(sim.instances(include_deleted=True)) == 300  # replayed tokens: nothing made twice
    lines = [r.getMessage() for r in caplog.records if r.name == "app.tasks.engine"]
    assert any(f"task {task_id} claimed by worker" in m and "cluster" in m for m in lines), lines
    assert any(f"task {task_id} resumed by worker" in m for m in lines), lines


def test_internal_error_closes_the_task_only_while_holding_it(app, api, sim, cloud_cluster, no_worker, monkeypatch):
    """A run that fails after another worker took the task over must not close that task."""
    from app.extensions import db
    from app.tasks import engine
    from app.tasks.models import Task
    cluster = cloud_cluster()
    task_id = expand(api, cluster, 5)

    def taken_over_then_crash(self):
        db.session.execute(update(Task).where(Task.id == self.task.id).values(holder="other-worker"))
        db.session.commit()
        raise RuntimeError("a bug")

    monkeypatch.setattr(engine.Expander, "run", taken_over_then_crash)
    assert run_engine(app, task_id) == "error"
    task = task_row(app, task_id)
    assert task.status == "RUNNING" and task.holder == "other-worker" and task.lock_cluster_id is not None
    assert task.finished_at is None


# ---------------------------------------------------------------- point 5: adoption retried, batches corrected
def test_adoption_listing_retried_until_it_works(app, api, sim, cloud_cluster, monkeypatch):
    from app.providers import base
    from app.providers.alibaba import AlibabaProvider
    cluster = cloud_cluster()
    real_create, real_list = AlibabaProvider.create_instances, AlibabaProvider.describe_instances_by_tags
    listings = []

    def every_reply_lost(self, spec, count, token, tags, min_count=None):
        real_create(self, spec, count, token, tags, min_count=min_count)
        raise base.CloudUnavailable("connection reset after the call was accepted")

    def listing_fails_three_times(self, tags):
        listings.append(time.time())
        if len(listings) <= 3:
            raise base.CloudUnavailable("listing timed out")
        return real_list(self, tags)

    monkeypatch.setattr(AlibabaProvider, "create_instances", every_reply_lost)
    monkeypatch.setattr(AlibabaProvider, "describe_instances_by_tags", listing_fails_three_times)
    info = describe(api, expand(api, cluster, 250))
    assert len(listings) == 4
    assert info["task_status"] == "SUCCESS", info
    assert [(b["state"], b["instances"], b["error"]) for b in info["batches"]] == [("CREATED", 100, ""),
                                                                                 ("CREATED", 100, ""),
                                                                                 ("CREATED", 50, "")]
    assert_db_matches_cloud(app, sim, cluster, 250)
    assert len(sim.instances(include_deleted=True)) == 250


# ---------------------------------------------------------------- point 6: shrink confirmed by describing
def test_shrink_with_lost_delete_replies_is_confirmed_by_describe(app, api, sim, cloud_cluster, monkeypatch):
    from app.providers import base
    from app.providers.alibaba import AlibabaProvider
    cluster = cloud_cluster()
    expand(api, cluster, 80)
    real = AlibabaProvider.delete_instances

    def reply_lost(self, ids):
        real(self, ids)
        raise base.CloudUnavailable("read timed out")

    monkeypatch.setattr(AlibabaProvider, "delete_instances", reply_lost)
    status, body = api.post("cluster/shrink", {"task_name": "trim", "cluster_name": cluster, "count": 50})
    assert status == 200, body
    info = describe(api, body["data"])
    assert (info["task_status"], info["success_num"], info["fail_num"]) == ("SUCCESS", 50, 0), info
    assert all(b["state"] == "DONE" for b in info["batches"])
    assert_db_matches_cloud(app, sim, cluster, 30)
    assert len(db_instances(app, cluster, ("Deleted",))) == 50


def test_shrink_whose_machines_survive_a_failed_delete_puts_them_back(app, api, sim, cloud_cluster, monkeypatch):
    from app.providers import base
    from app.providers.alibaba import AlibabaProvider
    cluster = cloud_cluster()
    expand(api, cluster, 10)

    def refused(self, ids):
        raise base.CloudUnavailable("service unavailable")

    monkeypatch.setattr(AlibabaProvider, "delete_instances", refused)
    status, body = api.post("cluster/shrink", {"task_name": "trim", "cluster_name": cluster, "count": 4})
    info = describe(api, body["data"])
    assert info["task_status"] == "FAILED" and "service unavailable" in info["fail_reason"], info
    assert_db_matches_cloud(app, sim, cluster, 10)


# ---------------------------------------------------------------- point 7: billing spans
@pytest.mark.parametrize("provider", ["AlibabaCloud", "TencentCloud"])
def test_billing_start_is_the_clouds_accept_time_not_the_late_reply(app, api, sim, cloud_cluster, provider):
    """Batch 0's first four replies are lost, the last of them slowly (the call is replayed with
    the same token): its machines' spans start when the cloud made them, not at the fifth reply."""
    from datetime import timezone
    cluster = cloud_cluster(provider)
    calls = []
    real_record = sim.record

    def lose_four_create_replies(ts, provider_name, api_name, *args):
        real_record(ts, provider_name, api_name, *args)
        if api_name == "RunInstances":
            calls.append(ts)
            if len(calls) == 4:
                sim.configure(lost_reply_rate=0.0)
                time.sleep(2.0)  # a slow lost reply

    sim.configure(lost_reply_rate=1.0)
    sim.record = lose_four_create_replies
    app.config["SCALE_BATCH_CONCURRENCY"] = 1
    try:
        assert describe(api, expand(api, cluster, 150))["task_status"] == "SUCCESS"
    finally:
        sim.record = real_record
        app.config["SCALE_BATCH_CONCURRENCY"] = 16
    assert len(calls) == 6  # five tries for batch 0, one for batch 1
    truth = {i.instance_id: i.created_at for i in cloud_instances(app, sim, cluster)}
    rows = db_instances(app, cluster)
    late = [r for r in rows if r.batch_idx == 0]
    clean = [r for r in rows if r.batch_idx != 0]
    assert len(late) == 100 and len(clean) == 50 and len(sim.instances(include_deleted=True)) == 150

    def error(rs):
        return max(abs(r.created_at.replace(tzinfo=timezone.utc).timestamp() - truth[r.instance_id]) for r in rs)
    # (on a quiet machine both are within 0.02 s; the bounds leave room for a loaded one)
    assert error(late) < 1.0, error(late)  # was the fifth reply's time: +1.5 s and more
    assert error(clean) < 0.5, error(clean)  # clean paths stay the reply time


def test_span_start_bounds():
    from datetime import datetime, timezone

    from app.tasks.engine import likely_accept, span_start
    minute = datetime(2026, 1, 1, 0, 0, tzinfo=timezone.utc)
    second = datetime(2026, 1, 1, 0, 0, 30, tzinfo=timezone.utc)
    t0 = minute.timestamp()
    assert span_start(t0 + 10.02, None) == t0 + 10.02  # no stamp: our estimate
    assert span_start(t0 + 10.02, minute) == t0 + 10.02  # within the minute stamp
    assert span_start(t0 + 70.0, minute) == t0 + 60.0  # a late estimate is bounded by the stamp
    assert span_start(t0 + 30.4, second) == t0 + 30.4
    assert span_start(t0 + 40.0, second) == t0 + 30.5  # outside its second: the stamp wins
    # the first attempt that may have reached the cloud, not a throttled one nor the replay
    assert likely_accept([("throttled", 0.9, 1.0), ("CloudUnavailable", 1.5, 2.0), ("ok", 4.9, 5.0)], 5.1) == 2.0
    assert likely_accept([("CloudUnavailable", 1.5, 31.5), ("ok", 34.9, 35.0)], 35.1) == 1.5  # a timeout
    assert likely_accept([], 5.1) == 5.1 and likely_accept([("ok", 4.0, 5.0)], 5.1) == 5.0


# ---------------------------------------------------------------- point 10: reasons and logs
def test_out_of_stock_reason_names_the_clouds_code(app, api, sim, cloud_cluster, monkeypatch):
    """Stock runs out: one batch gets 50 of 100 (no code: a partial create succeeds), the last one
    is refused with the cloud's code, after the partial reply was handled. Both are in the reason."""
    from app.providers import base
    from app.providers.alibaba import AlibabaProvider
    cluster = cloud_cluster()
    sim.configure(capacity={("AlibabaCloud", "cn-qingdao-b", "ecs.g6.large"): 250})
    real = AlibabaProvider.create_instances

    def last_batch_late(self, spec, count, token, tags, min_count=None):
        if tags[base.TAG_BATCH] == "3":
            _wait(lambda: len(db_instances(app, cluster, ("Pending", "Running"))) == 250, 20, "the partial batch")
        return real(self, spec, count, token, tags, min_count=min_count)

    monkeypatch.setattr(AlibabaProvider, "create_instances", last_batch_late)
    info = describe(api, expand(api, cluster, 400))
    assert info["task_status"] == "PARTIAL_SUCCESS" and info["success_num"] == 250, info
    assert "OperationDenied.NoStock" in info["fail_reason"] and "out of stock" in info["fail_reason"], info
    assert_db_matches_cloud(app, sim, cluster, 250)

    sim.configure(capacity={("AlibabaCloud", "cn-qingdao-b", "ecs.g6.large"): 0})
    status, body = api.post("cluster/expand", {"task_name": "more", "cluster_name": cluster, "count": 10})
    info = describe(api, body["data"])
    assert info["task_status"] == "FAILED" and "OperationDenied.NoStock" in info["fail_reason"], info


def test_a_task_that_is_not_a_success_always_has_a_reason(app, api, sim, cloud_cluster, monkeypatch):
    """Machines removed behind the engine's back (as the reconciler once did): the task says so."""
    from app.extensions import db
    from app.instances.models import Instance
    from app.providers import base
    from app.providers.alibaba import AlibabaProvider
    cluster = cloud_cluster()
    real = AlibabaProvider.create_instances

    def batch_1_waits_for_batch_0_to_be_removed(self, spec, count, token, tags, min_count=None):
        if tags[base.TAG_BATCH] == "1":
            def running():
                return len(db_instances(app, cluster)) == 100
            _wait(running, 20, "batch 0 running")
            ids = [r.instance_id for r in db_instances(app, cluster)]
            real_delete(self, ids)
            with app.app_context():
                db.session.execute(update(Instance).where(Instance.instance_id.in_(ids)).values(status="Deleted"))
                db.session.commit()
                db.session.remove()
        return real(self, spec, count, token, tags, min_count=min_count)

    real_delete = AlibabaProvider.delete_instances
    app.config["SCALE_BATCH_CONCURRENCY"] = 1
    monkeypatch.setattr(AlibabaProvider, "create_instances", batch_1_waits_for_batch_0_to_be_removed)
    try:
        info = describe(api, expand(api, cluster, 150))
    finally:
        app.config["SCALE_BATCH_CONCURRENCY"] = 16
    assert info["task_status"] == "PARTIAL_SUCCESS" and info["success_num"] == 50, info
    assert info["fail_reason"] and "100 of 150" in info["fail_reason"], info


# ---------------------------------------------------------------- issue 13: visible failures
def test_cloud_outage_marks_the_running_task_waiting(app, api, sim, cloud_cluster, no_worker, caplog):
    cluster = cloud_cluster()
    sim.configure(boot_seconds=1.0)
    task_id = expand(api, cluster, 20)
    caplog.set_level(logging.INFO, "app.tasks.engine")
    results = []
    worker = threading.Thread(target=lambda: results.append(run_engine(app, task_id)))
    # the machines are created, then the cloud goes down while they boot
    real_record = sim.record

    def outage_after_create(ts, provider, api_name, *args):
        real_record(ts, provider, api_name, *args)
        if api_name == "RunInstances":
            sim.configure(error_rate=1.0)
    sim.record = outage_after_create
    try:
        worker.start()

        def waiting():
            return describe(api, task_id)["waiting"]
        _wait(waiting, 30, "the task to show it waits for the cloud")
        info = describe(api, task_id)
        assert info["task_status"] == "RUNNING" and info["waiting_reason"].startswith("waiting for the cloud")
        assert info["last_error"] and info["last_progress_at"]  # the machines were created
    finally:
        sim.record = real_record
        sim.configure(error_rate=0.0)
        worker.join(60)
    assert results == ["finished"]
    info = describe(api, task_id)
    assert info["task_status"] == "SUCCESS" and not info["waiting"] and info["last_progress_at"], info
    assert any(r.levelno == logging.WARNING and "waiting for the cloud" in r.getMessage() for r in caplog.records)
    assert_db_matches_cloud(app, sim, cluster, 20)


def test_celery_result_reflects_the_task_outcome(app, api, sim, cloud_cluster, no_worker):
    from workers.tasks import TaskNotSuccessful, run_scaling_task
    cluster = cloud_cluster()
    sim.configure(capacity={("AlibabaCloud", "cn-qingdao-b", "ecs.g6.large"): 30})
    task_id = expand(api, cluster, 100)
    with app.app_context():
        result = run_scaling_task.apply(args=(task_id,))
    assert result.state == "FAILURE" and isinstance(result.result, TaskNotSuccessful)
    assert "PARTIAL_SUCCESS: 30 of 100" in str(result.result)
    assert describe(api, task_id)["task_status"] == "PARTIAL_SUCCESS"
    sim.configure(capacity={})
    status, body = api.post("cluster/expand", {"task_name": "ok", "cluster_name": cluster, "count": 5})
    with app.app_context():
        result = run_scaling_task.apply(args=(body["data"],))
    assert (result.state, result.result) == ("SUCCESS", "finished")


# ---------------------------------------------------------------- issue 11: cancel
def test_cancel_stops_creating_between_batches(app, api, sim, cloud_cluster, no_worker):
    cluster = cloud_cluster()
    sim.configure(latency={"create": 0.3})
    task_id = expand(api, cluster, 500)
    app.config["SCALE_BATCH_CONCURRENCY"] = 1
    results = []
    worker = threading.Thread(target=lambda: results.append(run_engine(app, task_id)))
    try:
        worker.start()
        _wait(lambda: len(sim.instances()) >= 100, 30, "the first batch")
        status, body = api.post("task/cancel", {"task_id": task_id})
        assert status == 200 and body["data"]["cancel_requested_at"], body
        worker.join(60)
    finally:
        app.config["SCALE_BATCH_CONCURRENCY"] = 16
    info = describe(api, task_id)
    made = len(sim.instances(include_deleted=True))
    assert 100 <= made <= 200, made  # at most the batch in flight when the cancel came
    assert info["task_status"] == "PARTIAL_SUCCESS" and info["success_num"] == made, info
    assert "cancelled by" in info["fail_reason"] and info["cancel_by"] == api.username
    assert [b["state"] for b in info["batches"]].count("SKIPPED") == 5 - made // 100
    assert_db_matches_cloud(app, sim, cluster, made)  # machines already made stay, running
    assert api.post("task/cancel", {"task_id": task_id})[0] == 409  # finished


def test_cancel_of_an_unstarted_task_closes_it_and_is_org_scoped(app, api, make_user, sim, cloud_cluster, no_worker):
    cluster = cloud_cluster()
    assert run_engine(app, expand(api, cluster, 6)) == "finished"
    task_id = expand(api, cluster, 10)  # never started: no worker
    assert make_user("other-org").post("task/cancel", {"task_id": task_id})[0] == 404
    assert api.post("task/cancel", {"task_id": "x"})[0] == 400
    assert api.post("task/cancel", {})[0] == 400
    status, body = api.post("task/cancel", {"task_id": task_id})
    assert status == 200 and body["data"]["task_status"] == "FAILED", body
    assert "cancelled by" in body["data"]["fail_reason"]
    assert run_engine(app, task_id) == "not-claimed"
    assert len(sim.instances(include_deleted=True)) == 6
    # a shrink cancelled before it started puts its machines back
    status, body = api.post("cluster/shrink", {"task_name": "t", "cluster_name": cluster, "count": 4})
    shrink_id = body["data"]
    status, body = api.post("task/cancel", {"task_id": shrink_id})
    assert status == 200 and body["data"]["task_status"] == "FAILED"
    assert_db_matches_cloud(app, sim, cluster, 6)
    # the cluster is free again
    assert api.post("cluster/expand", {"task_name": "n", "cluster_name": cluster, "count": 1})[0] == 200


def test_cancel_survives_a_dead_worker(app, api, sim, cloud_cluster, no_worker):
    """The cancel is a durable row: a task whose worker died resumes, sees it and creates nothing."""
    from app.extensions import db
    from app.tasks.models import Task
    cluster = cloud_cluster()
    task_id = expand(api, cluster, 10)
    with app.app_context():
        old = db.session.get(Task, task_id).created_at - timedelta(minutes=1)
        db.session.execute(update(Task).where(Task.id == task_id).values(
            holder="dead-worker", heartbeat_at=old, status="RUNNING", runs=1, started_at=old))
        db.session.commit()
        db.session.remove()
    status, body = api.post("task/cancel", {"task_id": task_id})
    assert status == 200 and body["data"]["task_status"] == "RUNNING"
    assert run_engine(app, task_id) == "finished"
    info = describe(api, task_id)
    assert info["task_status"] == "FAILED" and "cancelled by" in info["fail_reason"]
    assert sim.instances(include_deleted=True) == []


def test_task_cancel_command(app, api, sim, cloud_cluster, no_worker):
    from click.testing import CliRunner

    from app.tasks.cli import task_cancel_cmd
    cluster = cloud_cluster()
    task_id = expand(api, cluster, 3)
    runner = CliRunner()
    with app.app_context():
        result = runner.invoke(task_cancel_cmd, [str(task_id), "--username", api.username])
        assert result.exit_code == 0, result.output
        assert "cancel requested" in result.output
        result = runner.invoke(task_cancel_cmd, [str(task_id), "--username", api.username])
        assert result.exit_code == 1 and "already finished" in result.output
        result = runner.invoke(task_cancel_cmd, ["999999", "--username", api.username])
        assert result.exit_code == 1 and "not found" in result.output
    assert describe(api, task_id)["task_status"] == "FAILED"


# ---------------------------------------------------------------- point 11: SIGTERM hands the task back
def test_sigterm_hands_the_task_back_at_once(app, api, sim, cloud_cluster, tmp_path, no_worker):
    """A deploy stops a busy worker: it exits without finishing the task and with its claim
    released (holder cleared), so the next worker resumes it at once instead of after the stale
    period; the resumed task ends exact."""
    cluster = cloud_cluster()
    sim.configure(latency={"create": 1.0}, boot_seconds=6.0)
    task_id = expand(api, cluster, 300)
    env = {"BRIDGX_SCALE_STALE_SECONDS": "120", "BRIDGX_SCALE_BATCH_CONCURRENCY": "1"}
    first = _start_worker(app, tmp_path, "first", env)
    try:
        _wait(lambda: _task(app, task_id)[2].count("CREATED") >= 1, 60, "the first batch")
        first.send_signal(signal.SIGTERM)
        stopped = time.time()
        first.wait(timeout=30)
        took = time.time() - stopped
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    log = (tmp_path / "first.log").read_text()
    status, holder, states = _task(app, task_id)
    # it left before finishing the task (the machines boot for 6 s), and released its claim
    assert status == "RUNNING" and holder is None, (status, holder, states, log[-3000:])
    assert took < 10, took
    assert "handed back" in log
    assert run_engine(app, task_id) == "finished"  # the next worker claims it at once
    info = describe(api, task_id)
    assert info["task_status"] == "SUCCESS", info
    assert_db_matches_cloud(app, sim, cluster, 300)
    assert len(sim.instances(include_deleted=True)) == 300


def test_shrink_hands_back_between_batches_on_shutdown(app, api, sim, cloud_cluster, no_worker, shutdown_flag):
    """The worker's shutdown signal mid-shrink: the batch in flight completes, the rest are left
    for the next run (not put back in the inventory), and the resumed shrink ends exact."""
    from workers.tasks import _hand_back_on_shutdown
    cluster = cloud_cluster()
    assert run_engine(app, expand(api, cluster, 250)) == "finished"
    sim.configure(latency={"delete": 0.5})
    status, body = api.post("cluster/shrink", {"task_name": "t", "cluster_name": cluster, "count": 250})
    task_id = body["data"]
    app.config["SCALE_BATCH_CONCURRENCY"] = 1
    results = []
    worker = threading.Thread(target=lambda: results.append(run_engine(app, task_id)))
    try:
        worker.start()
        _wait(lambda: any(r.api == "DeleteInstances" for r in sim.requests), 20, "the first delete call")
        _hand_back_on_shutdown(sig="SIGTERM", how="Warm", exitcode=0)  # what Celery sends on SIGTERM
        worker.join(30)
    finally:
        app.config["SCALE_BATCH_CONCURRENCY"] = 16
    assert results == ["handed-back"]
    status, holder, states = _task(app, task_id)
    assert status == "RUNNING" and holder is None and "DONE" in states and "DELETING" in states, states
    assert len(db_instances(app, cluster, ("Running",))) == 0  # none put back: they are still to delete
    shutdown_flag.clear()
    assert run_engine(app, task_id) == "finished"
    info = describe(api, task_id)
    assert (info["task_status"], info["success_num"]) == ("SUCCESS", 250), info
    assert cloud_instances(app, sim, cluster) == [] and len(db_instances(app, cluster, ("Deleted",))) == 250
