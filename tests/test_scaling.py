"""The scaling engine through the API, the real SDKs and the emulator."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

PROVIDERS = ["AlibabaCloud", "TencentCloud", "AWSCloud", "HuaweiCloud", "BaiduCloud"]


def db_instances(app, cluster_name, statuses=("Running",)):
    from app.clusters.models import Cluster
    from app.extensions import db
    from app.instances.models import Instance
    with app.app_context():
        db.session.remove()
        cluster = db.session.query(Cluster).filter_by(name=cluster_name, deleted_id=0).one()
        return db.session.query(Instance).filter(Instance.cluster_id == cluster.id,
                                                 Instance.status.in_(statuses)).all()


def cloud_instances(app, sim, cluster_name):
    from app.clusters.models import Cluster
    from app.extensions import db
    from app.providers.base import TAG_CLUSTER
    from app.tasks.engine import cluster_tag
    with app.app_context():
        cluster = db.session.query(Cluster).filter_by(name=cluster_name, deleted_id=0).one()
        return sim.instances(tags={TAG_CLUSTER: cluster_tag(cluster.id)})


def describe(api, task_id):
    status, body = api.get("task/describe", task_id=task_id)
    assert status == 200, body
    return body["data"]


def expand(api, cluster, count, name="grow"):
    status, body = api.post("cluster/expand", {"task_name": name, "cluster_name": cluster, "count": count})
    assert status == 200 and isinstance(body["data"], int), body
    return body["data"]


def assert_db_matches_cloud(app, sim, cluster, count):
    rows = db_instances(app, cluster)
    live = cloud_instances(app, sim, cluster)
    assert len(rows) == count and all(r.ip_inner for r in rows)
    assert {r.instance_id for r in rows} == {i.instance_id for i in live}
    assert all(i.status == "running" for i in live)
    return rows


@pytest.mark.parametrize("provider", PROVIDERS)
def test_expand_250_then_shrink(app, api, sim, cloud_cluster, provider):
    cluster = cloud_cluster(provider)
    task_id = expand(api, cluster, 250)
    info = describe(api, task_id)
    assert info["task_status"] == "SUCCESS", info
    assert (info["success_num"], info["fail_num"], info["total_num"], info["success_rate"]) == (250, 0, 250, "1.00")
    assert (info["before_instance_count"], info["expect_instance_count"], info["after_instance_count"]) == (0, 250, 250)
    assert [b["count"] for b in info["batches"]] == [100, 100, 50]
    assert all(b["state"] == "CREATED" for b in info["batches"])
    rows = assert_db_matches_cloud(app, sim, cluster, 250)

    # shrink by count: the newest go first
    newest = sorted(rows, key=lambda r: (r.created_at, r.id))[-30:]
    status, body = api.post("cluster/shrink", {"task_name": "trim", "cluster_name": cluster, "count": 30})
    assert status == 200, body
    assert describe(api, body["data"])["task_status"] == "SUCCESS"
    left = assert_db_matches_cloud(app, sim, cluster, 220)
    assert not {r.instance_id for r in newest} & {r.instance_id for r in left}

    # shrink by IPs
    ips = [r.ip_inner for r in left[:5]]
    status, body = api.post("cluster/shrink", {"task_name": "pick", "cluster_name": cluster, "ips": ips, "count": 5})
    assert status == 200, body
    assert describe(api, body["data"])["task_status"] == "SUCCESS"
    left = assert_db_matches_cloud(app, sim, cluster, 215)
    assert not set(ips) & {r.ip_inner for r in left}

    # shrink_all
    status, body = api.post("cluster/shrink_all", {"cluster_name": cluster})
    assert status == 200, body
    info = describe(api, body["data"])
    assert info["task_status"] == "SUCCESS" and info["success_num"] == 215
    assert cloud_instances(app, sim, cluster) == [] and db_instances(app, cluster) == []
    deleted = db_instances(app, cluster, ("Deleted",))
    assert len(deleted) == 250 and all(r.deleted_at and r.deleted_at >= r.created_at for r in deleted)


def test_shrink_rejects_bad_requests_and_deletes_nothing(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    expand(api, cluster, 3)
    rows = db_instances(app, cluster)
    status, body = api.post("cluster/shrink", {"task_name": "t", "cluster_name": cluster,
                                               "ips": [rows[0].ip_inner, "10.9.9.9"], "count": 2})
    assert status == 400 and "10.9.9.9" in body["data"]["ips"] and rows[0].ip_inner not in body["data"]["ips"]
    status, body = api.post("cluster/shrink", {"task_name": "t", "cluster_name": cluster, "count": 4})
    assert status == 400 and "count" in body["data"]
    status, body = api.post("cluster/shrink", {"task_name": "t", "cluster_name": cluster, "ips": [rows[0].ip_inner],
                                               "count": 2})
    assert status == 400 and "count" in body["data"]
    assert api.post("cluster/shrink", {"task_name": "t", "cluster_name": cluster})[0] == 400
    assert api.post("cluster/shrink", {"task_name": "t", "cluster_name": cluster, "ips": ["nope"]})[0] == 400
    assert len(db_instances(app, cluster)) == 3 and len(cloud_instances(app, sim, cluster)) == 3
    assert api.get("task/num")[1]["data"] == {"task_num": 1}


@pytest.mark.parametrize("body,field", [
    ({"task_name": "t", "cluster_name": "nope", "count": 1}, "cluster_name"),
    ({"task_name": "t", "cluster_name": "web", "count": 0}, "count"),
    ({"task_name": "t", "cluster_name": "web", "count": "5"}, "count"),
    ({"task_name": "t", "cluster_name": "web", "count": 50001}, "count"),
    ({"cluster_name": "web", "count": 1}, "task_name"),
])
def test_expand_rejects_bad_input(api, sim, cloud_cluster, body, field):
    cloud_cluster()
    status, resp = api.post("cluster/expand", body)
    assert status == 400 and field in resp["data"], resp
    assert api.get("task/num")[1]["data"]["task_num"] == 0


def test_throttled_30_percent_still_exact(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    sim.configure(throttle_rate=0.3)
    info = describe(api, expand(api, cluster, 250))
    assert info["task_status"] == "SUCCESS", info
    assert_db_matches_cloud(app, sim, cluster, 250)
    assert any(r.outcome != "ok" for r in sim.requests), "the emulator throttled nothing"


def test_lost_replies_are_replayed_with_the_same_token(app, api, sim, cloud_cluster):
    """The cloud created the machines but the reply was lost: the retry must not create more."""
    cluster = cloud_cluster()
    sim.configure(lost_reply_rate=0.3)
    info = describe(api, expand(api, cluster, 250))
    assert info["task_status"] == "SUCCESS", info
    assert_db_matches_cloud(app, sim, cluster, 250)
    assert len(sim.instances(include_deleted=True)) == 250


def test_capacity_250_of_400_is_partial_success(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    sim.configure(capacity={("AlibabaCloud", "cn-qingdao-b", "ecs.g6.large"): 250})
    info = describe(api, expand(api, cluster, 400))
    assert info["task_status"] == "PARTIAL_SUCCESS", info
    assert info["success_num"] == 250 and info["fail_num"] == 150
    assert "NoStock" in info["fail_reason"] or "OutOfCapacity" in info["fail_reason"], info["fail_reason"]
    assert_db_matches_cloud(app, sim, cluster, 250)


def test_nothing_created_is_failed(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    sim.configure(capacity={("AlibabaCloud", "cn-qingdao-b", "ecs.g6.large"): 0})
    info = describe(api, expand(api, cluster, 10))
    assert info["task_status"] == "FAILED" and info["fail_reason"]
    assert db_instances(app, cluster, ("Pending", "Running")) == []


def test_machines_never_ready_are_deleted_and_reported(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    sim.configure(boot_seconds=30)
    app.config["SCALE_READY_TIMEOUT"] = 1.0
    try:
        info = describe(api, expand(api, cluster, 5))
    finally:
        app.config["SCALE_READY_TIMEOUT"] = 600.0
    assert info["task_status"] == "FAILED" and "not ready" in info["fail_reason"]
    assert cloud_instances(app, sim, cluster) == []
    assert len(db_instances(app, cluster, ("Failed",))) == 5


def test_outer_ip_when_bandwidth_asked(app, api, sim, cloud_cluster):
    cluster = cloud_cluster(bandwidth=10)
    assert describe(api, expand(api, cluster, 3))["task_status"] == "SUCCESS"
    assert all(r.ip_outer for r in db_instances(app, cluster))


def test_machines_becoming_running_are_written_in_few_statements(app, api, sim, cloud_cluster):
    """The machines one describe finds running are one UPDATE with each machine's own IPs, not one
    UPDATE (a database round trip) per machine: 20,000 of those slowed a 20,000-machine fleet."""
    from sqlalchemy import event

    from app.extensions import db
    cluster = cloud_cluster(bandwidth=10)
    with app.app_context():
        engine = db.engine
    writes = []

    def count(_conn, _cursor, statement, parameters, _context, executemany):
        if statement.lstrip().upper().startswith("UPDATE INSTANCES"):
            writes.append(len(parameters) if executemany else 1)
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert describe(api, expand(api, cluster, 250))["task_status"] == "SUCCESS"
    finally:
        event.remove(engine, "before_cursor_execute", count)
    rows = assert_db_matches_cloud(app, sim, cluster, 250)
    cloud = {i.instance_id: i for i in cloud_instances(app, sim, cluster)}
    assert all((r.ip_inner, r.ip_outer) == (cloud[r.instance_id].ip_inner, cloud[r.instance_id].ip_outer)
               and r.ip_outer for r in rows)
    assert len({r.ip_inner for r in rows}) == 250
    assert sum(writes) <= 25, writes


def test_a_second_scaling_task_on_a_busy_cluster_is_409(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    celery = app.extensions["celery"]
    celery.conf.task_always_eager = False  # no worker: the first task stays unfinished
    try:
        first = expand(api, cluster, 2)
        status, body = api.post("cluster/expand", {"task_name": "b", "cluster_name": cluster, "count": 2})
        assert status == 409 and str(first) in body["data"]["cluster_name"]
        assert api.post("cluster/shrink_all", {"cluster_name": cluster})[0] in (400, 409)
        assert api.post("cluster/edit", {"name": cluster, "desc": "x"})[0] == 409
    finally:
        celery.conf.task_always_eager = True
    assert describe(api, first)["task_status"] == "INIT"


def test_same_task_run_twice_at_once_creates_once(app, api, sim, cloud_cluster):
    """Two deliveries of one message race: one claims, the other does nothing."""
    from app.tasks import engine
    cluster = cloud_cluster()
    sim.configure(latency={"create": 0.3})
    celery = app.extensions["celery"]
    celery.conf.task_always_eager = False
    try:
        task_id = expand(api, cluster, 150)
    finally:
        celery.conf.task_always_eager = True
    results = []

    def deliver():
        with app.app_context():
            results.append(engine.run(task_id))

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["finished", "not-claimed", "not-claimed"]
    with app.app_context():
        assert engine.run(task_id) == "not-claimed"  # a late redelivery after the end
    assert describe(api, task_id)["task_status"] == "SUCCESS"
    assert_db_matches_cloud(app, sim, cluster, 150)
    assert len(sim.instances(include_deleted=True)) == 150


def test_task_routes(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    task_id = expand(api, cluster, 12, name="first")
    status, body = api.get("task/list")
    assert status == 200
    [item] = body["data"]["task_list"]
    assert item == {**item, "task_id": str(task_id), "task_name": "first", "task_action": "EXPAND",
                    "status": "SUCCESS", "cluster_name": cluster}
    assert item["create_at"].endswith("CST") and item["finish_at"]
    status, body = api.get("task/describe_all", task_status="SUCCESS", cluster_name=cluster)
    assert body["data"]["pager"]["total"] == 1 and body["data"]["task_list"][0]["task_id"] == str(task_id)
    assert api.get("task/describe_all", task_status="BOGUS")[0] == 400
    status, body = api.get("task/instances", task_id=task_id, page_size=5)
    assert body["data"]["pager"] == {"page_number": 1, "page_size": 5, "total": 12}
    assert all(i["status"] == "Running" and i["ip_inner"] for i in body["data"]["instance_list"])
    assert api.get("task/describe", task_id=999999)[0] == 404
    assert api.get("task/describe")[0] == 400
    metrics = api.client.get("/metrics").get_data(as_text=True)
    assert 'bridgx_tasks{status="SUCCESS"}' in metrics
    assert "bridgx_machines_created_total" in metrics and "bridgx_cloud_calls_total" in metrics


def test_other_org_cannot_see_or_scale(make_user, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    task_id = expand(api, cluster, 2)
    other = make_user("intruder-org")
    assert other.get("task/describe", task_id=task_id)[0] == 404
    assert other.get("task/instances", task_id=task_id)[0] == 404
    assert other.get("task/list")[1]["data"]["pager"]["total"] == 0
    assert other.post("cluster/expand", {"task_name": "x", "cluster_name": cluster, "count": 1})[0] == 400
    assert other.post("cluster/shrink_all", {"cluster_name": cluster})[0] == 400


def test_reconciler_records_deletes_and_marks(app, api, sim, cloud_cluster):
    from app.clusters.models import Cluster
    from app.extensions import db
    from app.instances.models import Instance
    from app.providers import base
    from app.tasks.engine import cluster_tag, provider_for, spec_for
    from app.tasks.reconcile import reconcile_all
    cluster = cloud_cluster()
    expand(api, cluster, 4)
    with app.app_context():
        c = db.session.query(Cluster).filter_by(name=cluster).one()
        provider = provider_for(c)
        # a machine tagged with the cluster that the database never heard of
        stray = provider.create_instances(spec_for(c), 2, "stray-token", {base.TAG_CLUSTER: cluster_tag(c.id)})
        # a machine the database thinks is live but that is gone from the cloud
        victim = db.session.query(Instance).filter_by(cluster_id=c.id).first()
        provider.delete_instances([victim.instance_id])
        from datetime import timedelta
        victim.created_at -= timedelta(minutes=5)
        db.session.commit()
        first = reconcile_all()  # destructive decisions wait for a second observation
        assert (first["recorded"], first["deleted"], first["marked_gone"], first["awaiting"]) == (0, 0, 0, 3)
        assert len(cloud_instances(app, sim, cluster)) == 5
        second = reconcile_all()
        assert (second["recorded"], second["deleted"], second["marked_gone"], second["awaiting"]) == (2, 2, 1, 0)
        third = reconcile_all()
        assert (third["recorded"], third["deleted"], third["marked_gone"], third["awaiting"]) == (0, 0, 0, 0)
    live = {i.instance_id for i in cloud_instances(app, sim, cluster)}
    assert not live & set(stray.instance_ids)
    assert {r.instance_id for r in db_instances(app, cluster, ("Pending", "Running"))} == live and len(live) == 3


# ---------------------------------------------------------------- a real worker, killed
def _start_worker(app, tmp_path, name, extra_env=None):
    env = dict(os.environ, BRIDGX_CONFIG="embedded", BRIDGX_HOME=str(tmp_path),
               BRIDGX_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               BRIDGX_BROKER_URL=app.config["CELERY_BROKER_URL"], BRIDGX_SECRET_KEY=app.config["SECRET_KEY"],
               BRIDGX_ENCRYPTION_KEY=app.config["ENCRYPTION_KEYS"], BRIDGX_SCALE_STALE_SECONDS="2",
               BRIDGX_SCALE_HEARTBEAT_SECONDS="0.5", BRIDGX_VERIFY_ACCOUNTS="0",
               BRIDGX_ENDPOINT_ALLOWLIST=app.config["ENDPOINT_ALLOWLIST"])
    if app.config["REDIS_URL"]:
        env["BRIDGX_REDIS_URL"] = app.config["REDIS_URL"]
    env.update(extra_env or {})
    root = Path(__file__).resolve().parent.parent
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-B", "--pool", "threads",
                             "-c", "4", "-l", "INFO", "-n", f"{name}@test", "-s", str(tmp_path / f"{name}-beat")],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _task(app, task_id):
    from app.extensions import db
    from app.tasks.models import Task, TaskBatch
    with app.app_context():
        db.session.remove()
        task = db.session.get(Task, task_id)
        states = [b.state for b in db.session.query(TaskBatch).filter_by(task_id=task_id)]
        return task.status, task.holder, states


@pytest.mark.parametrize("kill_at", ["before", "during", "after"])
def test_worker_killed_mid_expand_resumes_exactly(app, api, sim, cloud_cluster, tmp_path, kill_at):
    cluster = cloud_cluster()
    sim.configure(latency={"create": 1.0}, boot_seconds=3.0)
    celery = app.extensions["celery"]
    celery.conf.task_always_eager = False
    try:
        task_id = expand(api, cluster, 250)
    finally:
        celery.conf.task_always_eager = True
    creates = lambda: sum(1 for r in sim.requests if r.api == "RunInstances")  # noqa: E731
    first = _start_worker(app, tmp_path, "first")
    try:
        if kill_at == "before":
            _wait(lambda: _task(app, task_id)[1] is not None, 60, "the worker to claim the task")
        elif kill_at == "during":
            _wait(lambda: creates() >= 1, 60, "the first create call")
        else:
            _wait(lambda: _task(app, task_id)[2].count("CREATED") == 3, 60, "all create calls")
        status, _, states = _task(app, task_id)
        if kill_at == "after":
            assert status == "RUNNING"  # machines still booting
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    second = _start_worker(app, tmp_path, "second")
    try:
        _wait(lambda: _task(app, task_id)[0] not in ("INIT", "RUNNING"), 90, "the resumed task to finish")
    finally:
        second.terminate()
        second.wait(timeout=30)
    info = describe(api, task_id)
    assert info["task_status"] == "SUCCESS", (info, (tmp_path / "second.log").read_text()[-3000:])
    assert_db_matches_cloud(app, sim, cluster, 250)
    assert len(sim.instances(include_deleted=True)) == 250


def test_batch_lost_after_all_retries_is_adopted_by_tag(app, api, sim, cloud_cluster, monkeypatch):
    """The cloud made a batch's machines but every reply was lost: the task finds them by tag."""
    from app.providers import base
    from app.providers.alibaba import AlibabaProvider
    cluster = cloud_cluster()
    real = AlibabaProvider.create_instances

    def reply_lost_for_batch_0(self, spec, count, token, tags, min_count=None):
        result = real(self, spec, count, token, tags, min_count=min_count)
        if tags[base.TAG_BATCH] == "0":
            raise base.CloudUnavailable("connection reset after the call was accepted")
        return result

    monkeypatch.setattr(AlibabaProvider, "create_instances", reply_lost_for_batch_0)
    info = describe(api, expand(api, cluster, 150))
    assert info["task_status"] == "SUCCESS", info
    # the adoption corrected the batch row: it made its 100 machines
    assert info["batches"][0] == {**info["batches"][0], "state": "CREATED", "instances": 100, "error": ""}
    assert_db_matches_cloud(app, sim, cluster, 150)


def test_two_expands_posted_at_once_one_wins(app, api, sim, cloud_cluster):
    """Posted at the same moment from two threads: exactly one task is accepted, the other is 409."""
    cluster = cloud_cluster()
    celery = app.extensions["celery"]
    celery.conf.task_always_eager = False
    barrier, answers = threading.Barrier(4), []

    def post(i):
        client = app.test_client()
        barrier.wait()
        resp = client.post("/api/v1/cluster/expand", json={"task_name": f"t{i}", "cluster_name": cluster, "count": 5},
                           headers={"Authorization": f"Bearer {api.token}"})
        answers.append(resp.status_code)

    try:
        threads = [threading.Thread(target=post, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        celery.conf.task_always_eager = True
    assert sorted(answers) == [200, 409, 409, 409]
    assert api.get("task/num")[1]["data"]["task_num"] == 1
