"""The reconciler under the faults of issue 16, with the emulator's inventory as the oracle."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from tests.conftest import CATALOG, SIM_KEYS, SIM_SECRET, account_body, cluster_body
from tests.test_scaling import assert_db_matches_cloud, cloud_instances, db_instances, describe, expand


def _cluster(app, name):
    from app.clusters.models import Cluster
    from app.extensions import db
    db.session.remove()
    return db.session.query(Cluster).filter_by(name=name, deleted_id=0).one()


def _passes(app, n=2):
    from app.tasks.reconcile import reconcile_all
    with app.app_context():
        return [reconcile_all() for _ in range(n)]


def _age_rows(app, cluster_name, minutes=5):
    """Rows older than the reconciler's grace period (a just-created machine may not be listed yet)."""
    from app.extensions import db
    from app.instances.models import Instance
    with app.app_context():
        c = _cluster(app, cluster_name)
        for row in db.session.query(Instance).filter_by(cluster_id=c.id):
            row.created_at -= timedelta(minutes=minutes)
        db.session.commit()


def test_expand_that_starts_during_a_pass_keeps_its_machines(app, api, sim, cloud_cluster, monkeypatch):
    """Point 2: the lock is read when the reconciler acts, not once per pass."""
    from app.clusters.models import Cluster
    from app.extensions import db
    from app.providers import base
    from app.providers.alibaba import AlibabaProvider
    from app.tasks import engine
    from app.tasks.reconcile import reconcile_all
    cluster = cloud_cluster()
    expand(api, cluster, 2)
    celery = app.extensions["celery"]
    real = AlibabaProvider.describe_instances_by_tags
    started = {}

    def listing_while_an_expand_starts(self, tags):
        if not started:  # the expand is accepted and its first batch made while the pass lists the cloud
            celery.conf.task_always_eager = False
            try:
                started["task"] = expand(api, cluster, 3, name="mid-pass")
            finally:
                celery.conf.task_always_eager = True
            c = db.session.query(Cluster).filter_by(name=cluster, deleted_id=0).one()
            task_tags = {base.TAG_CLUSTER: engine.cluster_tag(c.id), base.TAG_TASK: engine.task_tag(started["task"]),
                         base.TAG_BATCH: "0"}
            self.create_instances(engine.spec_for(c), 3, f"bx-{engine.install_id()}-{started['task']}-0", task_tags,
                                  min_count=1 if self.limits.supports_partial_create else None)
        return real(self, tags)

    monkeypatch.setattr(AlibabaProvider, "describe_instances_by_tags", listing_while_an_expand_starts)
    with app.app_context():
        first, second = reconcile_all(), reconcile_all()
    assert first["deleted"] == second["deleted"] == 0 and first["skipped"] == second["skipped"] == 1
    assert len(cloud_instances(app, sim, cluster)) == 5
    monkeypatch.setattr(AlibabaProvider, "describe_instances_by_tags", real)
    with app.app_context():  # the task runs now and replays its batch token: the 3 machines are its own
        assert engine.run(started["task"]) == "finished"
        db.session.remove()
    assert describe(api, started["task"])["task_status"] == "SUCCESS"
    results = _passes(app, 2)
    assert all(r["deleted"] == r["recorded"] == r["awaiting"] == 0 for r in results), results
    assert_db_matches_cloud(app, sim, cluster, 5)
    assert len(sim.instances(include_deleted=True)) == 5


def test_pending_rows_running_in_the_cloud_and_stuck_batches_are_fixed(app, api, sim, cloud_cluster):
    """Point 2: a task that closed while its machines booted (a database blip) left Pending rows and
    a batch CREATING; the reconciler makes them Running and closes the batch."""
    from app.extensions import db
    from app.instances.models import Instance
    from app.tasks.models import TaskBatch
    cluster = cloud_cluster()
    task_id = expand(api, cluster, 4)
    with app.app_context():
        c = _cluster(app, cluster)
        db.session.query(Instance).filter_by(cluster_id=c.id).update(
            {"status": "Pending", "ip_inner": None, "ip_outer": None, "running_at": None})
        db.session.query(TaskBatch).filter_by(task_id=task_id).update({"state": "CREATING"})
        db.session.commit()
    results = _passes(app, 1)
    assert results[0]["fixed"] == 5 and results[0]["deleted"] == 0, results
    assert_db_matches_cloud(app, sim, cluster, 4)
    assert [b["state"] for b in describe(api, task_id)["batches"]] == ["CREATED"]


def test_one_observation_never_destroys(app, api, sim, cloud_cluster):
    """Point 2: evidence for a destructive decision is kept in the database, so a pass right after a
    restart (a new process, a new session) still needs its own second sighting."""
    from app.extensions import db
    from app.providers import base
    from app.tasks.engine import cluster_tag, provider_for, spec_for
    from app.tasks.models import ReconcileMark
    cluster = cloud_cluster()
    expand(api, cluster, 2)
    with app.app_context():
        c = _cluster(app, cluster)
        provider_for(c).create_instances(spec_for(c), 2, "stray", {base.TAG_CLUSTER: cluster_tag(c.id)})
    first = _passes(app, 1)[0]
    assert first["awaiting"] == 2 and first["deleted"] == 0
    with app.app_context():
        assert db.session.query(ReconcileMark).count() == 2  # the evidence outlives the process
    assert len(cloud_instances(app, sim, cluster)) == 4
    second = _passes(app, 1)[0]
    assert second["deleted"] == 2
    assert_db_matches_cloud(app, sim, cluster, 2)


def _other_org_cluster(make_user, sim, name):
    provider = "AlibabaCloud"
    region, zone, itype, image = CATALOG[provider]
    other = make_user("second-org")
    status, body = other.post("cloud_account/create", account_body(provider, key=SIM_KEYS[provider],
                                                                   secret=SIM_SECRET, endpoint=sim.url))
    assert status == 200, body
    vpc = sim.add_vpc(provider, region, "vpc-b", "10.2.0.0/16")
    subnet = sim.add_subnet(provider, region, vpc, zone, "subnet-b", "10.2.0.0/18")
    group = sim.add_security_group(provider, region, vpc, "sg-b")
    body = cluster_body(SIM_KEYS[provider], name=name, provider=provider, region_id=region, zone_id=zone,
                        instance_type=itype, image=image,
                        network_config={"vpc": vpc, "subnet_id": subnet, "security_group": group})
    status, resp = other.post("cluster/create", body)
    assert status == 200, resp
    return other


def test_an_id_another_cluster_owns_never_stops_the_pass(app, api, make_user, sim, cloud_cluster, caplog):
    """Point 9: the first cluster's listing returns an id whose row belongs to another organisation's
    cluster; that machine is skipped with a WARNING and the later cluster is still reconciled."""
    from app.extensions import db
    from app.instances.models import Instance
    from app.providers import base
    from app.tasks.engine import cluster_tag, provider_for, spec_for
    first = cloud_cluster(name="first")
    expand(api, first, 1)
    other = _other_org_cluster(make_user, sim, "second")
    assert other.post("cluster/expand", {"task_name": "b", "cluster_name": "second", "count": 2})[0] == 200
    with app.app_context():
        a, b = _cluster(app, first), _cluster(app, "second")
        assert a.id < b.id and a.org_id != b.org_id
        shared = provider_for(a).create_instances(spec_for(a), 1, "shared", {base.TAG_CLUSTER: cluster_tag(a.id)})
        db.session.add(Instance(org_id=b.org_id, cluster_id=b.id, account_id=b.account_id,
                                instance_id=shared.instance_ids[0], provider=b.provider, region_id=b.region_id,
                                zone_id=b.zone_id, instance_type=b.instance_type, status="Deleted"))
        stray = provider_for(b).create_instances(spec_for(b), 2, "stray-b", {base.TAG_CLUSTER: cluster_tag(b.id)})
        db.session.commit()
    caplog.set_level(logging.WARNING, logger="app.tasks.reconcile")
    results = _passes(app, 2)
    assert results[1]["deleted"] == 2 and results[1]["failed"] == 0, results
    assert any("belong to other clusters" in r.getMessage() and shared.instance_ids[0] in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)
    live = {i.instance_id for i in sim.instances()}
    assert shared.instance_ids[0] in live and not live & set(stray.instance_ids)
    assert_db_matches_cloud(app, sim, "second", 2)
    rows = {r.instance_id for r in db_instances(app, first)}
    assert len(rows) == 1 and {i.instance_id for i in cloud_instances(app, sim, first)} == rows | set(shared.instance_ids)


def test_abandoned_batch_rows_get_the_clouds_precise_time_and_deletions_name_the_task(app, api, sim, cloud_cluster,
                                                                                     caplog):
    """Points 7 and 10: the state a database blip left on today's code (task closed FAILED, batch
    CREATING, machines made but never recorded). The reconciler records them with the creation time
    the cloud accepted them at (Alibaba writes whole minutes; the batch's request time narrows it),
    deletes them, and its WARNING names the task and the count."""
    from app.core.db import utcnow
    from app.extensions import db
    from app.providers import base
    from app.tasks import engine
    from app.tasks.models import Task, TaskBatch
    from app.instances.models import Instance
    cluster = cloud_cluster()
    celery = app.extensions["celery"]
    celery.conf.task_always_eager = False
    try:
        task_id = expand(api, cluster, 3)
    finally:
        celery.conf.task_always_eager = True
    with app.app_context():
        c = _cluster(app, cluster)
        cid = c.id
        token = f"bx-{engine.install_id()}-{task_id}-0"
        asked = utcnow()
        db.session.add(TaskBatch(task_id=task_id, idx=0, count=3, client_token=token, state="CREATING",
                                 created_at=asked, updated_at=asked))
        db.session.commit()
        tags = {base.TAG_CLUSTER: engine.cluster_tag(c.id), base.TAG_TASK: engine.task_tag(task_id),
                base.TAG_BATCH: "0"}
        made = engine.provider_for(c).create_instances(engine.spec_for(c), 3, token, tags).instance_ids
        task = db.session.get(Task, task_id)
        task.status, task.lock_cluster_id, task.fail_reason = "FAILED", None, "internal error: OperationalError"
        db.session.commit()
    caplog.set_level(logging.WARNING, logger="app.tasks.reconcile")
    results = _passes(app, 2)
    assert results[1]["recorded"] == results[1]["deleted"] == 3, results
    assert not cloud_instances(app, sim, cluster)
    accepted = {i.instance_id: i.created_at for i in sim.instances(include_deleted=True)}
    with app.app_context():
        rows = db.session.query(Instance).filter(Instance.instance_id.in_(made)).all()
        assert len(rows) == 3 and all(r.status == "Deleted" and r.task_id == task_id for r in rows)
        for r in rows:
            assert abs(engine._epoch(r.created_at) - accepted[r.instance_id]) < 1.0, (r.created_at, accepted)
    deletions = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "deleting" in r.getMessage()]
    assert any(f"task {task_id}: 3" in m and f"cluster {cid}" in m for m in deletions), deletions
    assert describe(api, task_id)["batches"][0]["state"] == "FAILED"


def test_ghost_rows_end_when_the_cloud_was_last_seen_running_them(app, api, sim, cloud_cluster):
    """Point 7: a machine that vanished is billed until its last sighting, not until the pass that noticed."""
    from app.extensions import db
    from app.instances.models import Instance
    from app.tasks import engine
    cluster = cloud_cluster()
    expand(api, cluster, 2)
    _age_rows(app, cluster)
    _passes(app, 1)  # sees both running
    with app.app_context():
        c = _cluster(app, cluster)
        victim = db.session.query(Instance).filter_by(cluster_id=c.id).first().instance_id
        engine.provider_for(c).delete_instances([victim])
    _passes(app, 2)
    vanished = next(i for i in sim.instances(include_deleted=True) if i.instance_id == victim).deleted_at
    with app.app_context():
        row = db.session.query(Instance).filter_by(instance_id=victim).one()
        assert row.status == "Deleted" and row.last_seen_at is not None
        assert row.deleted_at == row.last_seen_at and engine._epoch(row.deleted_at) <= vanished
    assert_db_matches_cloud(app, sim, cluster, 1)


def test_rotating_the_secret_key_loses_no_machine(app, api, sim, cloud_cluster):
    """Point 3: the deployment id is stored, so tags survive a secret rotation (and a rotation back)."""
    cluster = cloud_cluster()
    expand(api, cluster, 3)
    _age_rows(app, cluster)
    old = app.config["SECRET_KEY"]
    try:
        app.config["SECRET_KEY"] = "a-completely-new-secret-key-" + "y" * 32
        results = _passes(app, 2)
        assert all(r["marked_gone"] == r["deleted"] == 0 for r in results), results
        assert_db_matches_cloud(app, sim, cluster, 3)
    finally:
        app.config["SECRET_KEY"] = old
    results = _passes(app, 2)
    assert all(r["marked_gone"] == r["deleted"] == 0 for r in results), results
    assert_db_matches_cloud(app, sim, cluster, 3)
    assert len(sim.instances(include_deleted=True)) == 3


MIGRATION_SCRIPT = r"""
import hashlib, sys
from sqlalchemy import text
from app import create_app
from app.core.schema import upgrade
from app.extensions import db
app = create_app()
with app.app_context():
    upgrade(app, revision="0001")
    with db.engine.begin() as conn:  # a machine recorded before the upgrade
        conn.execute(text("PRAGMA foreign_keys=OFF"))
        conn.execute(text("INSERT INTO instances (org_id, cluster_id, account_id, instance_id, provider, region_id, "
                          "zone_id, instance_type, image_id, status, created_at) VALUES (1, 1, 1, 'i-1', "
                          "'AlibabaCloud', 'r', 'z', 't', '', 'Running', CURRENT_TIMESTAMP)"))
    upgrade(app, revision="r16b")
    from app.core.deployment import deployment_id, legacy_id
    print("IDS", deployment_id(), legacy_id(app.config["SECRET_KEY"]))
"""


def test_migration_keeps_the_id_tags_were_issued_under(tmp_path):
    """Point 3: on a database with history the stored id is the one the old derivation gave, so
    machines tagged before the upgrade still match; on an empty one it is new and random."""
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, BRIDGX_CONFIG="embedded", BRIDGX_HOME=str(tmp_path),
               BRIDGX_DATABASE_URL=f"sqlite:///{tmp_path / 'm.sqlite'}", BRIDGX_SECRET_KEY="s" * 40,
               BRIDGX_ENCRYPTION_KEY="", BRIDGX_BROKER_URL=f"bxsqla+sqlite:///{tmp_path / 'b.sqlite'}")
    env.pop("BRIDGX_ENCRYPTION_KEY")
    out = subprocess.run([sys.executable, "-c", MIGRATION_SCRIPT], cwd=root, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    stored, legacy = next(line for line in out.stdout.splitlines() if line.startswith("IDS")).split()[1:]
    assert stored == legacy


def test_machines_tagged_with_an_unfinished_task_are_left_alone(app, api, sim, cloud_cluster):
    """Point 2: a machine carrying the tag of a task that is still running is never touched, even
    when the cluster it is listed under has no lock."""
    from app.extensions import db
    from app.providers import base
    from app.tasks import engine
    from app.tasks.models import Task
    idle, busy = cloud_cluster(name="idle"), cloud_cluster(name="busy")
    celery = app.extensions["celery"]
    celery.conf.task_always_eager = False
    try:
        running = expand(api, busy, 1)  # stays INIT: it holds its lock
    finally:
        celery.conf.task_always_eager = True
    with app.app_context():
        c = _cluster(app, idle)
        tags = {base.TAG_CLUSTER: engine.cluster_tag(c.id), base.TAG_TASK: engine.task_tag(running)}
        made = engine.provider_for(c).create_instances(engine.spec_for(c), 2, "odd", tags).instance_ids
    results = _passes(app, 2)
    assert all(r["deleted"] == 0 for r in results), results
    assert {i.instance_id for i in cloud_instances(app, sim, idle)} == set(made)
    with app.app_context():  # the task ends (without them): now they are unknown and go
        task = db.session.get(Task, running)
        task.status, task.lock_cluster_id = "FAILED", None
        db.session.commit()
    results = _passes(app, 2)
    assert results[1]["deleted"] == 2, results
    assert not cloud_instances(app, sim, idle)
