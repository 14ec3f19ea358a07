"""Elastic clusters through the API, the real SDKs and the emulator: desired capacity, the
controller's lease, self-healing, min/max under concurrency, a controller killed mid-run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.test_scaling import (
    PROVIDERS, _wait, assert_db_matches_cloud, cloud_instances, db_instances, describe, expand,
)


def capacity(api, cluster, **sizes):
    status, body = api.post("elastic/capacity", dict(cluster_name=cluster, **sizes))
    assert status == 200, body
    return body["data"]


def set_policy(api, cluster, **fields):
    status, body = api.post("elastic/policy", dict(cluster_name=cluster, **fields))
    assert status == 200, body
    return body["data"]


def control(app, now=None):
    from app.elastic.controller import run_pass
    from app.extensions import db
    with app.app_context():
        db.session.remove()
        return run_pass(now)


def heal_passes(app, n=2):
    """n controller passes a controller interval apart (self-healing acts on the second sighting of a
    dead machine, at least half an interval after the first); the last pass's result."""
    from datetime import timedelta

    from app.core.db import utcnow
    step, start = timedelta(seconds=app.config["ELASTIC_CONTROLLER_SECONDS"]), utcnow()
    return [control(app, start + k * step) for k in range(n)][-1]


def kill_in_cloud(app, sim, cluster, n):
    """Delete n of the cluster's running machines behind BridgX's back (as a cloud failure would)."""
    victims = sorted(r.instance_id for r in db_instances(app, cluster, ("Running",)))[:n]
    sim.cloud.delete_instances("AlibabaCloud", victims)
    return victims


def test_capacity_is_validated_and_nothing_half_written(api, sim, cloud_cluster):
    cluster = cloud_cluster()
    assert capacity(api, cluster, desired=2, min=1, max=4)["desired"] == 2
    for body, field in [({"min": 5}, "min"), ({"desired": 9}, "desired"), ({"max": 1}, "max"),
                        ({"desired": -1}, "desired"), ({"desired": "3"}, "desired"), ({}, "desired"),
                        ({"min": 3, "max": 2}, "min")]:
        status, resp = api.post("elastic/capacity", dict(cluster_name=cluster, **body))
        assert status == 400 and field in resp["data"], (body, resp)
    status, resp = api.post("elastic/capacity", {"cluster_name": "nope", "desired": 1})
    assert status == 400 and "cluster_name" in resp["data"]
    status, resp = api.get("elastic/status", cluster_name=cluster)
    assert status == 200 and (resp["data"]["desired"], resp["data"]["min"], resp["data"]["max"]) == (2, 1, 4)


def test_controller_closes_the_gap_both_ways(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    capacity(api, cluster, desired=7, min=0, max=20)
    out = control(app)
    assert out["clusters"], out
    assert_db_matches_cloud(app, sim, cluster, 7)
    assert control(app)["clusters"].popitem()[1] == "at desired"
    capacity(api, cluster, desired=3)
    control(app)
    assert_db_matches_cloud(app, sim, cluster, 3)
    capacity(api, cluster, desired=None)  # manual again: the controller leaves it alone
    kill_in_cloud(app, sim, cluster, 1)
    assert control(app)["clusters"] == {}
    # every change was an ordinary, visible task
    status, body = api.get("task/describe_all", page_size=50)
    assert status == 200
    assert sorted(t["task_action"] for t in body["data"]["task_list"]) == ["EXPAND", "SHRINK"]


def test_manual_scaling_moves_desired_within_min_and_max(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    capacity(api, cluster, desired=2, min=1, max=4)
    control(app)
    status, body = api.post("cluster/expand", {"task_name": "big", "cluster_name": cluster, "count": 3})
    assert status == 400 and "max 4" in body["data"]["count"]
    assert describe(api, expand(api, cluster, 2))["task_status"] == "SUCCESS"
    assert capacity(api, cluster, min=1)["desired"] == 4
    status, body = api.post("cluster/shrink", {"task_name": "s", "cluster_name": cluster, "count": 4})
    assert status == 400 and "min 1" in body["data"]["count"]
    status, body = api.post("cluster/shrink_all", {"cluster_name": cluster})
    assert status == 400 and "min 1" in body["data"]["cluster_name"]
    status, body = api.post("cluster/shrink", {"task_name": "s", "cluster_name": cluster, "count": 3})
    assert status == 200, body
    assert capacity(api, cluster, min=1)["desired"] == 1
    control(app)  # the controller does not undo a manual change
    assert_db_matches_cloud(app, sim, cluster, 1)


def test_lease_has_one_holder_at_a_time(app):
    from datetime import timedelta

    from app.core.db import utcnow
    from app.elastic.controller import release_lease, take_lease
    with app.app_context():
        now = utcnow()
        assert take_lease("a", now) and take_lease("a", now)
        assert not take_lease("b", now)
        assert take_lease("b", now + timedelta(seconds=app.config["ELASTIC_LEASE_SECONDS"] + 1))  # a lapsed
        assert not take_lease("a", now + timedelta(seconds=2))
        release_lease("b")
        assert take_lease("a", now)
        release_lease("a")


def test_a_pass_finding_the_lease_held_does_nothing(app, api, sim, cloud_cluster):
    from app.elastic.controller import release_lease, take_lease
    cluster = cloud_cluster()
    capacity(api, cluster, desired=3)
    with app.app_context():
        assert take_lease("someone-else")
    assert control(app) == {"lease": "held elsewhere"}
    assert cloud_instances(app, sim, cluster) == []
    with app.app_context():
        release_lease("someone-else")
    control(app)
    assert_db_matches_cloud(app, sim, cluster, 3)


# ---------------------------------------------------------------- self-healing
def test_killing_10_percent_heals_back_to_desired_exactly(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    capacity(api, cluster, desired=60, max=60)
    set_policy(api, cluster, grace_seconds=0)
    control(app)
    before = assert_db_matches_cloud(app, sim, cluster, 60)
    victims = kill_in_cloud(app, sim, cluster, 6)
    out = heal_passes(app)
    assert "expand task" in list(out["clusters"].values())[0], out
    rows = assert_db_matches_cloud(app, sim, cluster, 60)
    assert not set(victims) & {r.instance_id for r in rows}
    assert len({r.instance_id for r in rows}) == 60 and len({r.ip_inner for r in rows}) == 60
    assert len(sim.instances(include_deleted=True)) == 66  # exactly 6 new machines, no duplicates
    assert {r.instance_id for r in before} - set(victims) <= {r.instance_id for r in rows}
    status, body = api.get("elastic/replacements", cluster_name=cluster, page_size=50)
    assert status == 200 and body["data"]["pager"]["total"] == 6
    assert {r["instance_id"] for r in body["data"]["replacement_list"]} == set(victims)
    assert all(r["reason"] == "vanished" and r["detected_at"] for r in body["data"]["replacement_list"])
    gone = db_instances(app, cluster, ("Deleted",))
    assert {r.instance_id for r in gone} == set(victims) and all(r.deleted_at for r in gone)
    assert control(app)["clusters"].popitem()[1] == "at desired"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stopped_machines_are_deleted_and_replaced(app, api, sim, cloud_cluster, provider):
    cluster = cloud_cluster(provider)
    capacity(api, cluster, desired=5)
    set_policy(api, cluster, grace_seconds=0)
    control(app)
    stopped = sorted(r.instance_id for r in db_instances(app, cluster))[:2]
    sim.cloud.faults.kill(provider, stopped, how="stop")
    out = heal_passes(app)
    assert "heal shrink task" in list(out["clusters"].values())[0], out
    assert not set(stopped) & {i.instance_id for i in cloud_instances(app, sim, cluster)}
    control(app)
    rows = assert_db_matches_cloud(app, sim, cluster, 5)
    assert not set(stopped) & {r.instance_id for r in rows}
    status, body = api.get("elastic/replacements", cluster_name=cluster)
    assert {(r["instance_id"], r["reason"]) for r in body["data"]["replacement_list"]} == \
        {(i, "stopped") for i in stopped}


def test_young_machines_are_not_judged_and_replacements_are_capped(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    capacity(api, cluster, desired=10)
    control(app)
    kill_in_cloud(app, sim, cluster, 4)
    control(app)  # default grace 120 s: just-made machines are not judged yet
    assert len(db_instances(app, cluster, ("Running",))) == 10
    set_policy(api, cluster, grace_seconds=0, max_replacements=3, replacement_window_seconds=600)
    heal_passes(app)
    assert len(cloud_instances(app, sim, cluster)) == 9  # 3 replaced, 1 waits for the window
    heal_passes(app)
    assert len(cloud_instances(app, sim, cluster)) == 9
    status, body = api.get("elastic/replacements", cluster_name=cluster)
    assert body["data"]["pager"]["total"] == 3


def test_one_sighting_never_replaces_a_machine(app, api, sim, cloud_cluster, monkeypatch):
    """A describe that once omits a live machine replaces nothing; a describe the cloud refuses (a
    rotated key) or that fails counts as no sighting; a machine really gone is replaced on the second
    sighting half an interval or more after the first, from evidence kept in the database."""
    from datetime import timedelta

    from app.core.db import utcnow
    from app.elastic import controller
    from app.extensions import db
    from app.providers import base
    from app.tasks.models import ReconcileMark
    from app.tasks.reconcile import reconcile_all
    from tests.conftest import SIM_SECRET
    cluster = cloud_cluster()
    capacity(api, cluster, desired=5)
    set_policy(api, cluster, grace_seconds=0)
    control(app)
    rows = assert_db_matches_cloud(app, sim, cluster, 5)
    step, t = timedelta(seconds=app.config["ELASTIC_CONTROLLER_SECONDS"]), utcnow()
    real = controller._describe
    blink = max(r.instance_id for r in rows)  # kill_in_cloud below takes the smallest id: never the same one
    monkeypatch.setattr(controller, "_describe", lambda p, ids: [i for i in real(p, ids) if i.instance_id != blink])
    assert control(app, t + step)["clusters"].popitem()[1] == "at desired"  # one glitch: nothing replaced
    monkeypatch.setattr(controller, "_describe", real)
    assert control(app, t + 2 * step)["clusters"].popitem()[1] == "at desired"
    assert_db_matches_cloud(app, sim, cluster, 5)

    [victim] = kill_in_cloud(app, sim, cluster, 1)
    keys = sim.credentials
    try:  # the cloud refuses the key: no sighting at all, however many passes
        sim.configure(credentials={k: SIM_SECRET + "-rotated" for k in keys})
        for k in (3, 4):
            assert control(app, t + k * step)["clusters"].popitem()[1].startswith("cloud error"), k
    finally:
        sim.configure(credentials=keys)

    def failing(p, ids):
        raise base.CloudUnavailable("the describe timed out")
    monkeypatch.setattr(controller, "_describe", failing)
    assert control(app, t + 5 * step)["clusters"].popitem()[1].startswith("cloud error")
    monkeypatch.setattr(controller, "_describe", real)
    assert control(app, t + 6 * step)["clusters"].popitem()[1] == "at desired"  # first sighting
    with app.app_context():
        reconcile_all()  # the reconciler keeps its own evidence and leaves this one alone
        assert [m.instance_id for m in db.session.query(ReconcileMark)] == [victim]
    assert control(app, t + 6 * step + step / 4)["clusters"].popitem()[1] == "at desired"  # too soon after
    monkeypatch.setattr(controller, "_describe", failing)  # a failure between two sightings changes nothing
    assert control(app, t + 7 * step)["clusters"].popitem()[1].startswith("cloud error")
    monkeypatch.setattr(controller, "_describe", real)
    assert control(app, t + 8 * step)["clusters"].popitem()[1].startswith("expand task")
    rows = assert_db_matches_cloud(app, sim, cluster, 5)
    assert victim not in {r.instance_id for r in rows} and blink in {r.instance_id for r in rows}
    status, body = api.get("elastic/replacements", cluster_name=cluster)
    assert [(r["instance_id"], r["reason"]) for r in body["data"]["replacement_list"]] == [(victim, "vanished")]
    with app.app_context():
        assert db.session.query(ReconcileMark).count() == 0


# ---------------------------------------------------------------- max under concurrency
def test_max_never_exceeded_under_concurrent_manual_and_controlled_changes(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    capacity(api, cluster, desired=4, min=0, max=8)
    set_policy(api, cluster, grace_seconds=0)
    stop, seen, errors = threading.Event(), [], []

    def watch():
        while not stop.is_set():
            seen.append(len(cloud_instances(app, sim, cluster)))
            time.sleep(0.005)

    def manual(i):
        client = app.test_client()
        headers = {"Authorization": f"Bearer {api.token}"}
        for n in range(6):
            # thread 0 only grows (without the max check it would pass 8), thread 1 alternates
            path = "/api/v1/cluster/expand" if i == 0 or n % 2 == 0 else "/api/v1/cluster/shrink"
            resp = client.post(path, json={"task_name": f"m{i}{n}", "cluster_name": cluster, "count": 1 + (n % 3)},
                               headers=headers)
            if resp.status_code not in (200, 400, 409):
                errors.append((resp.status_code, resp.get_json()))

    def controller():
        for _ in range(8):
            try:
                control(app)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))
            kill_in_cloud(app, sim, cluster, 1)

    watcher = threading.Thread(target=watch)
    workers = [threading.Thread(target=manual, args=(i,)) for i in range(2)] + [threading.Thread(target=controller)]
    watcher.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    control(app)
    stop.set()
    watcher.join()
    assert not errors, errors[:3]
    assert seen and max(seen) <= 8
    with app.app_context():
        from app.clusters.models import Cluster
        from app.extensions import db
        c = db.session.query(Cluster).filter_by(name=cluster).one()
        assert 0 <= c.desired <= 8
        desired = c.desired
    heal_passes(app)  # machines killed in the last passes are replaced on their second sighting
    assert len(cloud_instances(app, sim, cluster)) == desired


# ---------------------------------------------------------------- a controller killed mid-run
SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from app import create_app
    from app.elastic.controller import run_pass
    app = create_app()
    app.extensions["celery"].conf.task_always_eager = True  # the expand runs inside this pass
    with app.app_context():
        print(run_pass(), flush=True)
""")


def test_controller_sigkilled_mid_run_leaves_no_double_expansion(app, api, sim, cloud_cluster, tmp_path):
    from app.extensions import db
    from app.tasks import engine
    from app.tasks.models import Task
    from app.tasks.service import stale_tasks
    cluster = cloud_cluster()
    capacity(api, cluster, desired=150)
    sim.configure(latency={"create": 1.0}, boot_seconds=0.5)
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, BRIDGX_CONFIG="embedded", BRIDGX_HOME=str(tmp_path),
               BRIDGX_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               BRIDGX_BROKER_URL=app.config["CELERY_BROKER_URL"], BRIDGX_SECRET_KEY=app.config["SECRET_KEY"],
               BRIDGX_ENCRYPTION_KEY=app.config["ENCRYPTION_KEYS"], BRIDGX_ELASTIC_LEASE_SECONDS="1",
               BRIDGX_SCALE_HEARTBEAT_SECONDS="0.5", BRIDGX_VERIFY_ACCOUNTS="0",
               BRIDGX_ENDPOINT_ALLOWLIST=app.config["ENDPOINT_ALLOWLIST"])
    if app.config["REDIS_URL"]:
        env["BRIDGX_REDIS_URL"] = app.config["REDIS_URL"]
    log = open(tmp_path / "pass.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(root=str(root))], cwd=root, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: any(r.api == "RunInstances" for r in sim.requests) or proc.poll() is not None, 60,
              "the controller's first create call")
        assert proc.poll() is None, (tmp_path / "pass.log").read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    log.close()
    # another process's passes: the lease lapses, the dead holder's task is resumed, not repeated
    with app.app_context():
        stale = lambda: stale_tasks(app.config["SCALE_STALE_SECONDS"])  # noqa: E731 - what the resumer runs
        _wait(lambda: (db.session.remove() or True) and stale() != [], 30, "the task to go stale")
        for task_id in stale():
            engine.run(task_id)
        db.session.remove()
    time.sleep(1.1)  # let the killed pass's 1 s lease lapse
    assert control(app)["clusters"].popitem()[1] == "at desired"
    assert_db_matches_cloud(app, sim, cluster, 150)
    assert len(sim.instances(include_deleted=True)) == 150
    with app.app_context():
        assert db.session.query(Task).count() == 1


def test_custom_clusters_are_never_elastic(app, api):
    """A custom cluster of existing machines: the elastic routes refuse it, and a stray desired
    (a row written some other way) is skipped by the controller: no task, nothing created."""
    from app.clusters.models import Cluster
    from app.extensions import db
    from app.tasks.models import Task
    from tests.test_custom_clusters import machines
    assert api.post("cluster/create_custom_private", {"name": "idc", "instance_list": machines(2)})[0] == 200
    status, body = api.post("elastic/capacity", {"cluster_name": "idc", "desired": 5})
    assert status == 400 and "cluster_name" in str(body), body
    with app.app_context():
        db.session.query(Cluster).filter_by(name="idc").update({"desired": 5})
        db.session.commit()
    assert control(app)["clusters"] == {}
    with app.app_context():
        assert db.session.query(Task).count() == 0


def test_controller_tasks_obey_the_organisation_quota(app, api, sim, cloud_cluster):
    """The controller opens tasks through the user's path: a quota that forbids the expand leaves
    the cluster alone (named in the pass's result), and lifting it lets the next pass expand."""
    from app.clusters.models import Cluster
    from app.extensions import db
    from app.auth.models import Organization
    from app.tasks import engine, quota
    from app.tasks.models import Task
    cluster = cloud_cluster()
    with app.app_context():
        org = db.session.get(Organization, db.session.query(Cluster).filter_by(name=cluster).one().org_id).name
        quota.set_quota(org, {"max_live_instances": 3})
    capacity(api, cluster, desired=5)
    [result] = control(app)["clusters"].values()
    assert result.startswith("quota_exceeded") and "max_live_instances" in result, result
    with app.app_context():
        assert db.session.query(Task).count() == 0
        quota.set_quota(org, {"max_live_instances": None})
    [result] = control(app)["clusters"].values()
    assert result.startswith("expand task"), result
    with app.app_context():
        [task] = db.session.query(Task).all()
        assert task.create_by == "elastic-controller" and task.count == 5
        engine.run(task.id)
    assert_db_matches_cloud(app, sim, cluster, 5)


def test_one_clusters_unexpected_failure_never_stops_the_pass(app, api, sim, cloud_cluster, monkeypatch, caplog):
    """A bug or a lost row on one cluster is logged with the cluster named and the pass goes on."""
    from app.elastic import controller
    first, second = cloud_cluster(name="first"), cloud_cluster(name="second")
    capacity(api, first, desired=2)
    capacity(api, second, desired=3)
    real = controller.heal
    with app.app_context():
        from app.clusters.models import Cluster
        from app.extensions import db
        broken = db.session.query(Cluster).filter_by(name=first).one().id

    def heal(cluster, now):
        if cluster.id == broken:
            raise KeyError("unexpected")
        return real(cluster, now)
    monkeypatch.setattr(controller, "heal", heal)
    out = control(app)
    assert out["clusters"][broken].startswith("failed: KeyError"), out
    assert [v for k, v in out["clusters"].items() if k != broken][0].startswith("expand task"), out
    assert any(f"elastic cluster {broken} skipped this pass" in r.getMessage() for r in caplog.records)
