"""Capacity failover, the insufficient-capacity cache, spot with on-demand fallback, and the
emulator's elastic faults, through the real SDKs against the emulator (Alibaba, and spot on every cloud)."""
from __future__ import annotations

from collections import Counter

import pytest

from cloudsim.lifecycle_faults import is_spot
from tests.test_elastic import capacity, control, heal_passes, set_policy
from tests.test_scaling import (
    PROVIDERS, _wait, assert_db_matches_cloud, cloud_instances, db_instances, describe, expand,
)

ZONE_B, ZONE_C = "cn-qingdao-b", "cn-qingdao-c"


def second_zone(app, sim, cluster_name):
    """A subnet in zone C of the cluster's VPC."""
    from app.clusters.models import Cluster
    from app.extensions import db
    with app.app_context():
        c = db.session.query(Cluster).filter_by(name=cluster_name).one()
        vpc = c.network_config["vpc"]
    return sim.add_subnet("AlibabaCloud", "cn-qingdao", vpc, ZONE_C, "subnet-c", "10.1.64.0/18")


def creates(sim):
    return [r for r in sim.requests if r.api == "RunInstances"]


def test_stock_out_in_the_first_choice_is_filled_from_the_fallbacks(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    subnet_c = second_zone(app, sim, cluster)
    set_policy(api, cluster, fallbacks=[{"zone_id": ZONE_B, "subnet_id": _subnet_b(app, cluster),
                                         "instance_type": "ecs.c6.large"},
                                        {"zone_id": ZONE_C, "subnet_id": subnet_c, "instance_type": "ecs.g6.large"}])
    sim.cloud.faults.stock_out("AlibabaCloud", ZONE_B, "ecs.g6.large")
    sim.configure(capacity={("AlibabaCloud", ZONE_B, "ecs.c6.large"): 130})
    info = describe(api, expand(api, cluster, 250))
    assert info["task_status"] == "SUCCESS", info
    rows = assert_db_matches_cloud(app, sim, cluster, 250)
    in_cloud = Counter((i.zone, i.instance_type) for i in cloud_instances(app, sim, cluster))
    assert in_cloud == {(ZONE_B, "ecs.c6.large"): 130, (ZONE_C, "ecs.g6.large"): 120}
    assert Counter((r.zone_id, r.instance_type) for r in rows) == in_cloud  # the database knows where each is
    assert len(sim.instances(include_deleted=True)) == 250  # exactly once
    assert sum(b["instances"] for b in info["batches"]) == 250
    assert [b["state"] for b in info["batches"]][:3] == ["FAILED"] * 3
    # the cache remembers: the next task goes straight past the stocked-out choices
    before = len(creates(sim))
    sim.configure(capacity={})
    info = describe(api, expand(api, cluster, 10))
    assert info["task_status"] == "SUCCESS"
    later = creates(sim)[before:]
    assert len(later) == 1
    assert Counter((i.zone, i.instance_type) for i in cloud_instances(app, sim, cluster))[(ZONE_C, "ecs.g6.large")] \
        == 130
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'bridgx_capacity_cache_hits_total{provider="AlibabaCloud"}' in metrics
    assert 'bridgx_capacity_fallbacks_total{provider="AlibabaCloud"}' in metrics


def _subnet_b(app, cluster_name):
    from app.clusters.models import Cluster
    from app.extensions import db
    with app.app_context():
        return db.session.query(Cluster).filter_by(name=cluster_name).one().network_config["subnet_id"]


def test_without_fallbacks_a_stock_out_still_stops_the_task(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    sim.cloud.faults.stock_out("AlibabaCloud", ZONE_B, "ecs.g6.large")
    info = describe(api, expand(api, cluster, 5))
    assert info["task_status"] == "FAILED" and "OutOfCapacity" in info["fail_reason"]
    assert cloud_instances(app, sim, cluster) == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_spot_first_then_on_demand_exactly_once_when_spot_is_refused(app, api, sim, cloud_cluster, provider):
    cluster = cloud_cluster(provider)
    set_policy(api, cluster, spot={"enabled": True, "price_limit": 0.05})
    info = describe(api, expand(api, cluster, 4))
    assert info["task_status"] == "SUCCESS", info
    made = cloud_instances(app, sim, cluster)
    assert len(made) == 4 and all(is_spot(i) for i in made)  # the cloud saw spot requests ...
    assert {float(i.extra["spot_price_limit"]) for i in made} == {0.05}  # ... with the price ceiling

    sim.cloud.faults.refuse_spot(provider)
    info = describe(api, expand(api, cluster, 3))
    assert info["task_status"] == "SUCCESS", info
    assert [(b["state"], b["instances"]) for b in info["batches"]] == [("FAILED", 0), ("CREATED", 3)], info
    assert Counter(is_spot(i) for i in cloud_instances(app, sim, cluster)) == {True: 4, False: 3}
    assert_db_matches_cloud(app, sim, cluster, 7)
    assert len(sim.instances(provider=provider, include_deleted=True)) == 7  # exactly the count, no duplicates


@pytest.mark.parametrize("provider", PROVIDERS)
def test_reclaimed_spot_machines_are_replaced_by_self_healing(app, api, sim, cloud_cluster, provider):
    cluster = cloud_cluster(provider)
    capacity(api, cluster, desired=8)
    set_policy(api, cluster, grace_seconds=0, spot={"enabled": True})
    sim.cloud.faults.die_after(1.5, fraction=1.0, spot_only=True, how="reclaim")
    control(app)  # 8 spot machines, reclaimed 1.5 s after creation (after the task saw them running)
    sim.cloud.faults.rules.clear()
    _wait(lambda: not cloud_instances(app, sim, cluster), 30, "the spot machines to be reclaimed")
    heal_passes(app)  # found gone twice; 8 more
    assert_db_matches_cloud(app, sim, cluster, 8)
    assert len(sim.cloud.faults.killed) == 8 and {k[3] for k in sim.cloud.faults.killed} == {"reclaim"}
    status, body = api.get("elastic/replacements", cluster_name=cluster)
    assert body["data"]["pager"]["total"] == 8


def test_faults_from_the_command_line():
    import argparse

    from cloudsim.lifecycle_faults import Faults, add_arguments, apply_arguments
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--stock-out", "AlibabaCloud:cn-qingdao-b:ecs.g6.large", "--refuse-spot", "AWSCloud",
                              "--die-after", "30", "--die-fraction", "0.1", "--reclaim-spot-after", "60",
                              "--stop-after", "90"])
    faults = Faults(1)
    apply_arguments(faults, args)
    assert faults.stock_outs == {("AlibabaCloud", "cn-qingdao-b", "ecs.g6.large")}
    assert faults.spot_refused == {"AWSCloud"}
    assert [(r["after"], r["fraction"], r["how"]) for r in faults.rules] == [
        (30.0, 0.1, "die"), (90.0, 0.1, "stop"), (60.0, 1.0, "reclaim")]


def test_balanced_zones_split_expands_to_even_out_live_machines(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    set_policy(api, cluster, balance_zones=True, fallbacks=[
        {"zone_id": ZONE_C, "subnet_id": second_zone(app, sim, cluster), "instance_type": "ecs.g6.large"}])
    assert describe(api, expand(api, cluster, 10))["task_status"] == "SUCCESS"
    assert Counter(i.zone for i in cloud_instances(app, sim, cluster)) == {ZONE_B: 5, ZONE_C: 5}
    ips = [r.ip_inner for r in db_instances(app, cluster) if r.zone_id == ZONE_B][:2]
    status, body = api.post("cluster/shrink", {"task_name": "s", "cluster_name": cluster, "ips": ips, "count": 2})
    assert status == 200 and describe(api, body["data"])["task_status"] == "SUCCESS"
    assert describe(api, expand(api, cluster, 4))["task_status"] == "SUCCESS"
    assert Counter(i.zone for i in cloud_instances(app, sim, cluster)) == {ZONE_B: 6, ZONE_C: 6}
    assert_db_matches_cloud(app, sim, cluster, 12)


def test_failover_across_a_hand_back_on_shutdown_is_exactly_once(app, api, sim, cloud_cluster):
    """The worker's shutdown signal while a stocked-out batch is in flight (engine fault handling,
    issue 16, meets capacity failover): the remainder's row is written with the failed batch,
    nothing new is sent, the task is handed back; the next run fills it from the fallback once."""
    from app.extensions import db
    from app.tasks import engine
    import threading

    from sqlalchemy import select

    from app.tasks.models import Task, TaskBatch
    from workers.tasks import _hand_back_on_shutdown
    cluster = cloud_cluster()
    subnet_c = second_zone(app, sim, cluster)
    set_policy(api, cluster, fallbacks=[{"zone_id": ZONE_C, "subnet_id": subnet_c, "instance_type": "ecs.g6.large"}])
    sim.cloud.faults.stock_out("AlibabaCloud", ZONE_B, "ecs.g6.large")
    sim.configure(latency={"create": 2.0})  # the first create is still in flight when the signal lands
    celery = app.extensions["celery"]
    celery.conf.task_always_eager = False
    app.config["SCALE_BATCH_CONCURRENCY"] = 1
    results = []
    try:
        task_id = expand(api, cluster, 250)
        with app.app_context():
            worker = threading.Thread(target=lambda: results.append(_run(app, task_id)))
            worker.start()
        def sent_first():
            with app.app_context():
                try:
                    return db.session.scalar(select(TaskBatch.requested_at).where(TaskBatch.task_id == task_id,
                                                                                 TaskBatch.idx == 0)) is not None
                finally:
                    db.session.remove()
        _wait(sent_first, 20, "the first create call")
        _hand_back_on_shutdown(sig="SIGTERM", how="Warm", exitcode=0)
        worker.join(30)
        assert results == ["handed-back"], results
        sent = creates(sim)  # the in-flight ones finished (refused: out of stock); nothing new started
        assert len(sent) == 1 and all("NoStock" in r.outcome for r in sent) and sim.instances() == [], sent
        with app.app_context():
            states = [(b.state, b.placement["zone_id"]) for b in db.session.scalars(
                select(TaskBatch).where(TaskBatch.task_id == task_id).order_by(TaskBatch.idx))]
        assert states.count(("FAILED", ZONE_B)) == len(sent) and ("CREATING", ZONE_C) in states, states
        engine.SHUTDOWN.clear()
        assert _run(app, task_id) == "finished"
    finally:
        engine.SHUTDOWN.clear()
        app.config["SCALE_BATCH_CONCURRENCY"] = 16
        celery.conf.task_always_eager = True
    info = describe(api, task_id)
    assert (info["task_status"], info["success_num"]) == ("SUCCESS", 250), info
    assert_db_matches_cloud(app, sim, cluster, 250)
    assert Counter((i.zone, i.instance_type) for i in cloud_instances(app, sim, cluster)) == {(ZONE_C, "ecs.g6.large"): 250}
    assert len(sim.instances(include_deleted=True)) == 250  # exactly once
    with app.app_context():
        assert db.session.get(Task, task_id).runs == 2


def _run(app, task_id):
    from app.extensions import db
    from app.tasks import engine
    with app.app_context():
        try:
            return engine.run(task_id)
        finally:
            db.session.remove()
