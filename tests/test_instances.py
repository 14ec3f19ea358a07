"""Instance inventory: describe_all filters and order, id/describe, num; rows seeded via the model."""
from __future__ import annotations

import itertools
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import account_body, cluster_body

SHANGHAI = ZoneInfo("Asia/Shanghai")
_seq = itertools.count(1)


def utc(local: str) -> datetime:
    """'2021-10-11 08:00:00[.ffffff]' in Asia/Shanghai (the test deployment's zone) → naive UTC."""
    return datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(timezone.utc).replace(tzinfo=None)


class Fleet:
    """Seeds Instance rows directly (as the scaling engine would) into one user's organisation."""

    def __init__(self, app, api):
        self.app, self.api, self.key = app, api, f"LTAI{next(_seq):06d}"
        assert api.post("cloud_account/create", account_body(key=self.key))[0] == 200
        self.clusters: dict[str, int] = {}

    def cluster(self, name: str, **overrides) -> int:
        if name not in self.clusters:
            body = cluster_body(overrides.pop("account_key", self.key), name=name, **overrides)
            status, body = self.api.post("cluster/create", body)
            assert status == 200, body
            self.clusters[name] = self.api.get(f"cluster/name/{name}")[1]["data"]["id"]
        return self.clusters[name]

    def add(self, cluster: str, created: str | datetime, deleted: str | datetime | None = None, **fields) -> str:
        """One instance; times are Shanghai local strings or naive-UTC datetimes. Returns its cloud id."""
        from app.clusters.models import Cluster
        from app.extensions import db
        from app.instances.models import DELETED, RUNNING, Instance

        cid = self.cluster(cluster)
        n = next(_seq)
        with self.app.app_context():
            c = db.session.get(Cluster, cid)
            row = dict(org_id=c.org_id, cluster_id=cid, account_id=c.account_id, instance_id=f"i-{n:08x}",
                       provider=c.provider, region_id=c.region_id, zone_id=c.zone_id, instance_type=c.instance_type,
                       image_id=c.image, ip_inner=f"10.0.{n // 250}.{n % 250 + 1}", ip_outer=None,
                       status=DELETED if deleted else RUNNING,
                       created_at=utc(created) if isinstance(created, str) else created,
                       deleted_at=utc(deleted) if isinstance(deleted, str) else deleted)
            row.update(fields)
            db.session.add(Instance(**row))
            db.session.commit()
        return row["instance_id"]


@pytest.fixture
def fleet(app, api):
    return Fleet(app, api)


ITEM_KEYS = {"instance_id", "ip_inner", "ip_outer", "provider", "create_at", "status", "startup_time",
             "cluster_name", "instance_type"}


def ids(body) -> list[str]:
    return [i["instance_id"] for i in body["data"]["instance_list"]]


def test_describe_all_keys_order_and_paging(api, fleet):
    a = fleet.add("web", "2021-11-12 09:38:31", running_at=utc("2021-11-12 09:38:36"), ip_outer="106.14.169.121")
    b = fleet.add("web", "2021-11-12 09:38:31")  # same created_at: the higher row id is newer
    c = fleet.add("db", "2021-11-12 19:58:21", "2021-11-13 10:00:00")
    d = fleet.add("db", "2021-11-10 08:00:00", status="Pending")

    status, body = api.get("instance/describe_all")
    assert status == 200 and body["code"] == 200 and body["msg"] == "success"
    assert ids(body) == [c, b, a, d]
    assert body["data"]["pager"] == {"page_number": 1, "page_size": 10, "total": 4}
    item = body["data"]["instance_list"][2]
    assert ITEM_KEYS <= set(item)  # the manual's keys; BridgX's beside them (issue 12)
    assert {k: item[k] for k in ITEM_KEYS} == {"instance_id": a, "ip_inner": item["ip_inner"], "ip_outer": "106.14.169.121",
                    "provider": "AlibabaCloud", "create_at": "2021-11-12 09:38:31 +0800 CST", "status": "Running",
                    "startup_time": 5, "cluster_name": "web", "instance_type": "ecs.g6.large"}
    assert body["data"]["instance_list"][0]["status"] == "Deleted"
    assert body["data"]["instance_list"][0]["startup_time"] == 0 and body["data"]["instance_list"][0]["ip_outer"] == ""

    pages = [ids(api.get("instance/describe_all", page_size=3, page_number=n)[1]) for n in (1, 2, 3)]
    assert pages == [[c, b, a], [d], []]
    status, body = api.get("instance/describe_all", page_size=500)
    assert status == 200 and body["data"]["pager"]["page_size"] == 50


@pytest.mark.parametrize("query,field", [
    ({"status": "running,exploded"}, "status"), ({"status": ","}, "status"), ({"provider": "OracleCloud"}, "provider"),
    ({"cluster_name": "nope"}, "cluster_name"), ({"ip": "x" * 65}, "ip"),
])
def test_describe_all_bad_input_is_400_naming_the_field(api, fleet, query, field):
    fleet.cluster("web")
    status, body = api.get("instance/describe_all", **query)
    assert status == 400 and body["msg"] == "param_invalid" and field in body["data"], body


def test_describe_all_filters(api, fleet):
    acc2 = "LTAIsecond"
    assert api.post("cloud_account/create", account_body(key=acc2))[0] == 200
    fleet.cluster("other", account_key=acc2)
    run = fleet.add("web", "2021-11-01 10:00:00", ip_inner="10.1.1.1", ip_outer="47.1.1.1")
    gone = fleet.add("web", "2021-11-01 11:00:00", "2021-11-02 11:00:00", ip_inner="10.1.1.2")
    pend = fleet.add("other", "2021-11-01 12:00:00", status="Pending", ip_inner="47.1.1.1")
    aws = fleet.add("other", "2021-11-01 13:00:00", provider="AWSCloud", ip_inner="10.1.1.10")

    def q(**query):
        status, body = api.get("instance/describe_all", **query)
        assert status == 200, body
        return ids(body)

    assert q(ip="10.1.1.1") == [run]                     # exact, not a prefix of 10.1.1.10
    assert q(ip="47.1.1.1") == [pend, run]               # inner of one, outer of another
    assert q(instance_id=gone) == [gone] and q(instance_id="i-nope") == []
    assert q(provider="AWSCloud") == [aws]
    assert q(cluster_name="web") == [gone, run]
    assert q(status="running,DELETED") == [aws, gone, run]
    assert q(status=" pending ") == [pend]
    assert q(account=acc2) == [aws, pend] and q(account=fleet.key) == [gone, run]
    assert q(account="LTAIunknown") == []
    assert q(cluster_name="other", status="Running") == [aws]


def test_describe_shows_storage_and_network(api, fleet):
    fleet.cluster("big", disks={"system_disk": {"category": "cloud_efficiency", "size": 40},
                                "data_disk": [{"category": "cloud_ssd", "size": 100},
                                              {"category": "cloud", "size": 50}]},
                  network_config={"vpc": "vpc-2zelmm", "subnet_id": "vsw-2zeq6", "security_group": "sg-2zefbt"})
    iid = fleet.add("big", "2021-11-12 09:38:31", ip_outer="1.2.3.4", image_id="m-2ze")
    status, body = api.get("instance/id/describe", instance_id=iid)
    assert status == 200, body
    data = body["data"]
    assert data == {
        "instance_id": iid, "provider": "AlibabaCloud", "region_id": "cn-qingdao", "image_id": "m-2ze",
        "instance_type": "ecs.g6.large", "ip_inner": data["ip_inner"], "ip_outer": "1.2.3.4",
        "create_at": "2021-11-12 09:38:31 +0800 CST",
        "storage_config": {"system_disk_type": "cloud_efficiency", "system_disk_size": 40,
                           "data_disks": [{"data_disk_type": "cloud_ssd", "data_disk_size": 100},
                                          {"data_disk_type": "cloud", "data_disk_size": 50}],
                           "data_disk_num": 2},
        "network_config": {"vpc_name": "vpc-2zelmm", "subnet_id_name": "vsw-2zeq6", "security_group_name": "sg-2zefbt"}}

    status, body = api.get("instance/id/describe")
    assert status == 400 and "instance_id" in body["data"]
    status, body = api.get("instance/id/describe", instance_id="i-unknown")
    assert status == 404 and body["msg"] == "not_found"


def test_num_counts_running_instances(api, fleet):
    acc2 = "LTAInum2"
    api.post("cloud_account/create", account_body(key=acc2))
    fleet.cluster("b", account_key=acc2)
    fleet.add("a", "2021-11-01 10:00:00")
    fleet.add("a", "2021-11-01 10:00:00")
    fleet.add("a", "2021-11-01 10:00:00", status="Pending")
    fleet.add("a", "2021-11-01 10:00:00", "2021-11-02 10:00:00")
    fleet.add("b", "2021-11-01 10:00:00")

    def num(**query):
        status, body = api.get("instance/num", **query)
        assert status == 200, body
        assert set(body["data"]) == {"instance_num"}
        return body["data"]["instance_num"]

    assert num() == 3
    assert num(cluster_name="a") == 2 and num(cluster_name="b") == 1
    assert num(account=acc2) == 1 and num(account=fleet.key) == 2 and num(account="LTAInone") == 0
    assert num(account=acc2, cluster_name="a") == 0
    status, body = api.get("instance/num", cluster_name="zzz")
    assert status == 400 and "cluster_name" in body["data"]


def test_deleted_cluster_keeps_its_instances_listed_by_name(app, api, fleet):
    iid = fleet.add("old", "2021-11-01 10:00:00", "2021-11-01 12:00:00")
    assert api.delete(f"cluster/delete/{fleet.clusters['old']}")[0] == 200
    status, body = api.get("instance/describe_all", cluster_name="old")
    assert status == 200 and ids(body) == [iid]
    assert body["data"]["instance_list"][0]["cluster_name"] == "old"


def test_an_organisation_never_sees_another_organisations_instances(app, make_user):
    a, b = make_user("org-a"), make_user("org-b")
    fa, fb = Fleet(app, a), Fleet(app, b)
    mine = fa.add("shared-name", "2021-11-01 10:00:00", ip_inner="10.9.9.9")
    fa.add("secret", "2021-11-01 10:00:00")
    theirs = fb.add("shared-name", "2021-11-01 11:00:00", ip_inner="10.9.9.9")

    assert ids(b.get("instance/describe_all")[1]) == [theirs]
    assert ids(b.get("instance/describe_all", ip="10.9.9.9")[1]) == [theirs]
    assert ids(b.get("instance/describe_all", instance_id=mine)[1]) == []
    assert ids(b.get("instance/describe_all", account=fa.key)[1]) == []
    assert ids(b.get("instance/describe_all", cluster_name="shared-name")[1]) == [theirs]
    assert b.get("instance/describe_all", cluster_name="secret")[0] == 400
    assert b.get("instance/id/describe", instance_id=mine)[0] == 404
    assert b.get("instance/num")[1]["data"]["instance_num"] == 1
    assert b.get("instance/num", account=fa.key)[1]["data"]["instance_num"] == 0
    assert a.get("instance/num")[1]["data"]["instance_num"] == 2


def statements(app, call) -> list[str]:
    """The SQL statements `call()` sends (pool pings included)."""
    from sqlalchemy import event

    from app.extensions import db
    sent = []

    def record(conn, cursor, statement, *args):
        sent.append(statement)
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sent


def test_read_routes_use_a_fixed_number_of_statements_whatever_the_page_holds(app, api, fleet):
    """Dashboards and scripts poll these with an API token: a page of 50 machines over 5 clusters
    costs no more round trips than a page of 1 (no per-machine or per-cluster query), and checking
    the token (with its user) is one statement."""
    from app.auth.service import create_api_token
    from tests.conftest import Api

    with app.app_context():
        bot = Api(app.test_client(), create_api_token(api.username, "dashboard"), api.username)
    fleet.add("c0", "2021-11-01 10:00:00")
    one = statements(app, lambda: bot.get("instance/describe_all"))
    for n in range(49):
        fleet.add(f"c{n % 5}", "2021-11-01 10:00:00")
    full = statements(app, lambda: bot.get("instance/describe_all", page_size=50))
    assert len(full) == len(one) == 4, full  # token with user, count, the page's rows, its clusters
    clusters = statements(app, lambda: bot.get("cluster/describe_all"))
    assert len(clusters) <= 5, clusters  # token with user, count, page, live counts, catalogue
    # and only what the answers show: no password hash with the token, no template JSON in the list
    token_sql, page_sql = clusters[0], clusters[2]
    assert "password_hash" not in token_sql, token_sql
    for unread in ("network_config", "disks", "image_config", "storage_options", "password_encrypted"):
        assert unread not in page_sql, (unread, page_sql)
