"""Capacity failover, the insufficient-capacity cache, spot with on-demand fallback, and the
emulator's elastic faults, through the real Alibaba SDK against the emulator."""
from __future__ import annotations

from collections import Counter

from tests.test_elastic import capacity, control, set_policy
from tests.test_scaling import _wait, assert_db_matches_cloud, cloud_instances, db_instances, describe, expand

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


def test_spot_first_then_on_demand_when_spot_is_refused(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    set_policy(api, cluster, spot={"enabled": True, "price_limit": 0.05})
    info = describe(api, expand(api, cluster, 4))
    assert info["task_status"] == "SUCCESS"
    assert {i.extra.get("spot_strategy") for i in cloud_instances(app, sim, cluster)} == {"SpotWithPriceLimit"}
    sim.cloud.faults.refuse_spot("AlibabaCloud")
    info = describe(api, expand(api, cluster, 3))
    assert info["task_status"] == "SUCCESS", info
    assert Counter(i.extra.get("spot_strategy") for i in cloud_instances(app, sim, cluster)) == \
        {"SpotWithPriceLimit": 4, "NoSpot": 3}
    assert_db_matches_cloud(app, sim, cluster, 7)


def test_reclaimed_spot_machines_are_replaced_by_self_healing(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    capacity(api, cluster, desired=8)
    set_policy(api, cluster, grace_seconds=0, spot={"enabled": True})
    sim.cloud.faults.die_after(1.5, fraction=1.0, spot_only=True, how="reclaim")
    control(app)  # 8 spot machines, reclaimed 1.5 s after creation (after the task saw them running)
    sim.cloud.faults.rules.clear()
    _wait(lambda: not cloud_instances(app, sim, cluster), 30, "the spot machines to be reclaimed")
    control(app)  # found gone; 8 more
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
                              "--die-after", "30", "--die-fraction", "0.1", "--reclaim-spot-after", "60"])
    faults = Faults(1)
    apply_arguments(faults, args)
    assert faults.stock_outs == {("AlibabaCloud", "cn-qingdao-b", "ecs.g6.large")}
    assert faults.spot_refused == {"AWSCloud"}
    assert [(r["after"], r["fraction"], r["how"]) for r in faults.rules] == [(30.0, 0.1, "die"), (60.0, 1.0, "reclaim")]


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
