"""Scheduled scaling (clock injected), termination policies and scale-in protection."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from tests.test_elastic import capacity, control, set_policy
from tests.test_elastic_capacity import ZONE_B, ZONE_C, second_zone
from tests.test_scaling import assert_db_matches_cloud, cloud_instances, db_instances, describe, expand


def make_schedule(api, cluster, **body):
    status, resp = api.post("elastic/schedule/create", dict(cluster_name=cluster, **body))
    assert status == 200, resp
    return resp["data"]


def next_run_utc(schedule):
    from app.elastic.schedules import next_slot
    from app.core.db import utcnow
    return next_slot(schedule["cron"], schedule["timezone"], utcnow())


def cluster_sizes(app, name):
    from app.clusters.models import Cluster
    from app.extensions import db
    with app.app_context():
        db.session.remove()
        c = db.session.query(Cluster).filter_by(name=name).one()
        return c.desired, c.min_size, c.max_size


def test_a_schedule_fires_once_at_its_minute(app, api, sim, cloud_cluster):
    from app.elastic.schedules import fire_due
    cluster = cloud_cluster()
    capacity(api, cluster, desired=1, max=3)
    control(app)
    s = make_schedule(api, cluster, name="morning", cron="30 9 * * *", timezone="Asia/Shanghai", desired=6, max=6)
    at = next_run_utc(s)
    assert (at.hour, at.minute) == (1, 30)  # 09:30 in Shanghai is 01:30 UTC
    assert control(app, at - timedelta(seconds=1))["schedules"] == []  # a second early: nothing
    assert cluster_sizes(app, cluster) == (1, None, 3)
    # several controller processes at that minute: one fires, the rest find the slot taken
    results = []

    def tick(offset):
        with app.app_context():
            results.extend(fire_due(at + timedelta(seconds=offset)))

    threads = [threading.Thread(target=tick, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1 and results[0]["result"].startswith("fired")
    assert cluster_sizes(app, cluster) == (6, None, 6)
    assert control(app, at + timedelta(seconds=30))["schedules"] == []  # same minute again: nothing
    assert_db_matches_cloud(app, sim, cluster, 6)
    status, body = api.get("elastic/schedules", cluster_name=cluster)
    listed = body["data"]["schedule_list"][0]
    assert listed["last_result"].startswith("fired") and listed["last_run"] and listed["next_run"]


def test_missed_runs_only_the_latest_within_the_grace_window(app, api, sim, cloud_cluster):
    from app.elastic.schedules import fire_due
    cluster = cloud_cluster()
    capacity(api, cluster, desired=0, max=10)
    s = make_schedule(api, cluster, name="every-10", cron="*/10 * * * *", desired=2)
    first = next_run_utc(s)
    grace = app.config["SCHEDULE_GRACE_SECONDS"]
    with app.app_context():
        # down for three slots; back within the grace of the last one: it alone runs
        fired = fire_due(first + timedelta(minutes=20, seconds=grace - 30))
        assert [f["slot"] for f in fired] == [(first + timedelta(minutes=20)).isoformat()]
        assert fired[0]["result"].startswith("fired")
    assert cluster_sizes(app, cluster)[0] == 2
    capacity(api, cluster, desired=0)
    with app.app_context():
        # down far longer than the grace: the latest missed run is recorded as skipped, not run
        fired = fire_due(first + timedelta(minutes=40, seconds=grace + 60))
        assert len(fired) == 1 and fired[0]["result"].startswith("skipped")
    assert cluster_sizes(app, cluster)[0] == 0


def test_schedules_are_validated_edited_and_deleted(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    for body, field in [({"cron": "61 * * * *"}, "cron"), ({"cron": "* * *"}, "cron"),
                        ({"timezone": "Mars/Olympus"}, "timezone"), ({"desired": None}, "desired"),
                        ({"min": 5, "max": 2}, "min"), ({"name": ""}, "name")]:
        status, resp = api.post("elastic/schedule/create", dict({"cluster_name": cluster, "name": "n",
                                                                 "cron": "0 * * * *", "desired": 1}, **body))
        assert status == 400 and field in resp["data"], (body, resp)
    s = make_schedule(api, cluster, name="n", cron="0 8 * * 1-5", timezone="Europe/Berlin", min=2)
    status, resp = api.post("elastic/schedule/create", {"cluster_name": cluster, "name": "n", "cron": "0 * * * *",
                                                        "desired": 1})
    assert status == 409
    status, resp = api.post("elastic/schedule/edit", {"schedule_id": s["schedule_id"], "cron": "0 20 * * *",
                                                      "enabled": False})
    assert status == 200 and resp["data"]["cron"] == "0 20 * * *" and resp["data"]["next_run"] is None
    status, resp = api.post("elastic/schedule/edit", {"schedule_id": s["schedule_id"], "min": None})
    assert status == 400 and "desired" in resp["data"]
    assert api.delete(f"elastic/schedule/delete/{s['schedule_id']}")[0] == 200
    assert api.delete(f"elastic/schedule/delete/{s['schedule_id']}")[0] == 404
    assert api.delete("elastic/schedule/delete/abc")[0] == 400
    assert api.get("elastic/schedules")[1]["data"]["pager"]["total"] == 0


# ---------------------------------------------------------------- termination policy, protection
def test_zone_policy_takes_from_the_most_populated_zone(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    set_policy(api, cluster, termination_policy="zone", fallbacks=[
        {"zone_id": ZONE_C, "subnet_id": second_zone(app, sim, cluster), "instance_type": "ecs.g6.large"}])
    sim.configure(capacity={("AlibabaCloud", ZONE_B, "ecs.g6.large"): 6})
    assert describe(api, expand(api, cluster, 10))["task_status"] == "SUCCESS"
    assert Counter(i.zone for i in cloud_instances(app, sim, cluster)) == {ZONE_B: 6, ZONE_C: 4}
    status, body = api.post("cluster/shrink", {"task_name": "s", "cluster_name": cluster, "count": 4})
    assert status == 200 and describe(api, body["data"])["task_status"] == "SUCCESS"
    assert Counter(i.zone for i in cloud_instances(app, sim, cluster)) == {ZONE_B: 3, ZONE_C: 3}


def test_oldest_policy_and_scale_in_protection(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    expand(api, cluster, 3, name="first")
    expand(api, cluster, 3, name="second")
    rows = sorted(db_instances(app, cluster), key=lambda r: (r.created_at, r.id))
    oldest, newest = rows[:3], rows[3:]
    # protect two of the newest: a shrink by count (newest first) passes over them
    status, body = api.post("elastic/protection", {"cluster_name": cluster, "protected": True,
                                                   "instance_ids": [r.instance_id for r in newest[:2]]})
    assert status == 200 and body["data"]["protected"] == 2
    status, body = api.post("cluster/shrink", {"task_name": "s", "cluster_name": cluster, "count": 2})
    assert status == 200 and describe(api, body["data"])["task_status"] == "SUCCESS"
    left = {r.instance_id for r in db_instances(app, cluster)}
    assert {r.instance_id for r in newest[:2]} <= left and newest[2].instance_id not in left
    assert oldest[2].instance_id not in left  # the next newest unprotected one
    set_policy(api, cluster, termination_policy="oldest")
    status, body = api.post("cluster/shrink", {"task_name": "s", "cluster_name": cluster, "count": 1})
    assert status == 200 and describe(api, body["data"])["task_status"] == "SUCCESS"
    assert oldest[0].instance_id not in {r.instance_id for r in db_instances(app, cluster)}
    # only protected machines plus one left: asking for two more by count is refused, nothing changes
    status, body = api.post("cluster/shrink", {"task_name": "s", "cluster_name": cluster, "count": 2})
    assert status == 400 and "protected" in body["data"]["count"]
    # the controller never picks them either
    capacity(api, cluster, desired=0)
    control(app)
    assert {i.instance_id for i in cloud_instances(app, sim, cluster)} == {r.instance_id for r in newest[:2]}
    status, body = api.post("elastic/protection", {"cluster_name": cluster, "protected": False,
                                                   "instance_ids": ["i-nope"]})
    assert status == 400 and "i-nope" in body["data"]["instance_ids"]


def test_manage_py_elastic_commands(app, api, sim, cloud_cluster):
    import json

    from click.testing import CliRunner

    from app.elastic.cli import elastic
    cluster = cloud_cluster()
    runner = CliRunner()
    user = ["--username", api.username]
    with app.app_context():
        result = runner.invoke(elastic, ["set", "--cluster", cluster, "--desired", "3", "--max", "5"] + user)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["desired"] == 3
        result = runner.invoke(elastic, ["set", "--cluster", cluster, "--desired", "9"] + user)
        assert result.exit_code != 0 and "desired" in result.output
        result = runner.invoke(elastic, ["policy", "--cluster", cluster, "--termination", "oldest", "--grace", "0"]
                               + user)
        assert result.exit_code == 0 and json.loads(result.stdout)["policy"]["termination_policy"] == "oldest"
        result = runner.invoke(elastic, ["schedule-add", "--cluster", cluster, "--name", "night", "--cron",
                                         "0 22 * * *", "--timezone", "Asia/Shanghai", "--desired", "1"] + user)
        assert result.exit_code == 0, result.output
        result = runner.invoke(elastic, ["schedule-add", "--cluster", cluster, "--name", "bad", "--cron", "x"] + user)
        assert result.exit_code != 0 and "cron" in result.output
        result = runner.invoke(elastic, ["control"])
        assert result.exit_code == 0, result.output
    assert_db_matches_cloud(app, sim, cluster, 3)
    with app.app_context():
        result = runner.invoke(elastic, ["schedules", "--cluster", cluster] + user)
        assert json.loads(result.stdout)["schedule_list"][0]["name"] == "night"
