import copy

import pytest

from tests.conftest import account_body, cluster_body, manual_cluster_example, new_password


def test_manual_example_succeeds_as_written(api, account):
    """The manual's request body, trailing commas and top-level charge_type included."""
    status, body = api.post("cluster/create", raw=manual_cluster_example(account["account_key"], new_password()))
    assert (status, body) == (200, {"code": 200, "msg": "success", "data": "测试集群"})
    status, body = api.get("cluster/describe_all")
    assert status == 200
    [item] = body["data"]["cluster_list"]
    # the manual's keys (BridgX's list keys beside them: a superset)
    assert set(item) >= {"cluster_id", "cluster_name", "provider", "account", "create_at", "create_by"}
    assert item["cluster_name"] == "测试集群" and item["account"] == account["account_key"]
    assert item["create_at"].endswith("+0800 CST") and isinstance(item["cluster_id"], str)
    assert body["data"]["pager"] == {"page_number": 1, "page_size": 10, "total": 1}


def test_body_without_json_content_type_is_read(api, account):
    """curl -d sends application/x-www-form-urlencoded; BridgX clients rely on the body being read."""
    import json
    resp = api.client.post("/api/v1/cluster/create", data=json.dumps(cluster_body(account["account_key"])),
                           headers={"Authorization": f"Bearer {api.token}"},
                           content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200, resp.get_json()


def _set(body, path, value):
    keys = path.split(".")
    target = body
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is _DROP:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value


_DROP = object()
LONG = "x" * 129

# (path to change, bad value, field the 400 must name)
BAD = [
    ("name", _DROP, "name"),
    ("name", "", "name"),
    ("name", LONG, "name"),
    ("provider", "OracleCloud", "provider"),
    ("provider", _DROP, "provider"),
    ("region_id", _DROP, "region_id"),
    ("zone_id", 42, "zone_id"),
    ("instance_type", _DROP, "instance_type"),
    ("image", "", "image"),
    ("account_key", "LTAInotmine", "account_key"),
    ("network_config", _DROP, "network_config"),
    ("network_config.vpc", _DROP, "network_config.vpc"),
    ("network_config.subnet_id", "", "network_config.subnet_id"),
    ("network_config.security_group", _DROP, "network_config.security_group"),
    ("network_config.internet_charge_type", "Free", "network_config.internet_charge_type"),
    ("network_config.internet_max_bandwidth_out", -1, "network_config.internet_max_bandwidth_out"),
    ("charge_config.charge_type", "Monthly", "charge_config.charge_type"),
    ("charge_config", {"charge_type": "PrePaid"}, "charge_config.period_unit"),
    ("charge_config", {"charge_type": "PrePaid", "period_unit": "Week", "period": 5}, "charge_config.period"),
    ("charge_config", {"charge_type": "PrePaid", "period_unit": "Month", "period": 10}, "charge_config.period"),
    ("charge_config", {"charge_type": "PrePaid", "period_unit": "Year", "period": 1}, "charge_config.period_unit"),
    ("charge_type", "PrePaid", "charge_type"),  # disagrees with charge_config
    ("disks", _DROP, "disks"),
    ("disks.system_disk", _DROP, "disks.system_disk"),
    ("disks.system_disk.size", 19, "disks.system_disk.size"),
    ("disks.system_disk.size", 2049, "disks.system_disk.size"),
    ("disks.system_disk.size", 40.5, "disks.system_disk.size"),
    ("disks.system_disk.category", _DROP, "disks.system_disk.category"),
    ("disks.data_disk", [{"category": "cloud", "size": 0}], "disks.data_disk.0.size"),
    ("disks.data_disk", [{"category": "cloud", "size": "big"}], "disks.data_disk.0.size"),
    ("disks.data_disk", [{"size": 10}], "disks.data_disk.0.category"),
    ("disks.data_disk", [{"category": "cloud", "size": 10}] * 17, "disks.data_disk"),
    ("password", _DROP, "password"),
    ("password", "Ab1!", "password"),
    ("password", "Ab1!" * 8, "password"),
    ("password", "abcdefgh1", "password"),
    ("password", "Abcdefgh 1!", "password"),
    ("tags", "just-a-string", "tags"),
    ("colour", "blue", "colour"),  # unknown fields are rejected
]

# Boundary values that must pass.
GOOD = [
    ("disks.system_disk.size", 20), ("disks.system_disk.size", 2048),
    ("disks.data_disk", [{"category": "cloud", "size": 10}] * 16),
    ("password", "Abcdef1!"), ("password", "Abcdefghijklmnopqrstuvwxyz12!@"), ("password", "abcdefg1!"),
    ("charge_config", {"charge_type": "PrePaid", "period_unit": "Week", "period": 4}),
    ("charge_config", {"charge_type": "PrePaid", "period_unit": "Month", "period": 60}),
    ("network_config.internet_max_bandwidth_out", 0),
    ("tags", {"team": "web"}), ("tags", [{"key": "team", "value": "web"}]), ("tags", None),
    ("name", "x" * 128),
]


@pytest.mark.parametrize("path,value,field", BAD, ids=[f"{p}={v!r:.20}" for p, v, _ in BAD])
def test_each_rule_rejects_a_bad_value_naming_the_field(api, account, app, path, value, field):
    body = cluster_body(account["account_key"])
    if path not in ("colour",) and "." not in path and path not in body:
        body[path] = None
    _set(body, path, value)
    status, resp = api.post("cluster/create", body)
    assert status == 400, resp
    assert resp["msg"] == "param_invalid" and field in resp["data"], resp["data"]
    from app.clusters.models import Cluster
    from app.extensions import db
    with app.app_context():
        assert db.session.query(Cluster).count() == 0


@pytest.mark.parametrize("path,value", GOOD, ids=[f"{p}={v!r:.20}" for p, v in GOOD])
def test_boundary_values_pass(api, account, path, value):
    body = cluster_body(account["account_key"])
    _set(body, path, copy.deepcopy(value))
    status, resp = api.post("cluster/create", body)
    assert status == 200, resp


def test_account_of_other_provider_is_rejected(api, account):
    status, resp = api.post("cluster/create", cluster_body(account["account_key"], provider="TencentCloud"))
    assert status == 400 and "account_key" in resp["data"]


def test_duplicate_name_is_409(api, account):
    assert api.post("cluster/create", cluster_body(account["account_key"]))[0] == 200
    status, resp = api.post("cluster/create", cluster_body(account["account_key"]))
    assert status == 409 and "name" in resp["data"]


def test_get_by_id_and_name_never_shows_password(api, account):
    body = cluster_body(account["account_key"], name="db")
    api.post("cluster/create", body)
    _, listing = api.get("cluster/describe_all")
    cid = listing["data"]["cluster_list"][0]["cluster_id"]
    status, by_id = api.get(f"cluster/id/{cid}")
    assert status == 200 and by_id["data"]["name"] == "db"
    assert "password" not in by_id["data"] and by_id["data"]["disks"] == body["disks"]
    status, by_name = api.get("cluster/name/db")
    assert by_name["data"] == by_id["data"]
    assert api.get("cluster/name/nope")[0] == 404
    assert api.get("cluster/id/999999")[0] == 404


def test_edit(api, account):
    api.post("cluster/create", cluster_body(account["account_key"], name="e1"))
    cid = api.get("cluster/name/e1")[1]["data"]["id"]
    status, resp = api.post("cluster/edit", {"cluster_id": cid, "instance_type": "ecs.g6.xlarge", "desc": "bigger"})
    assert status == 200 and resp["data"]["instance_type"] == "ecs.g6.xlarge" and resp["data"]["desc"] == "bigger"
    status, resp = api.post("cluster/edit", {"cluster_id": cid, "password": "short"})
    assert status == 400 and "password" in resp["data"]
    assert api.post("cluster/edit", {"instance_type": "x"})[0] == 400
    api.post("cluster/create", cluster_body(account["account_key"], name="e2"))
    assert api.post("cluster/edit", {"cluster_id": cid, "name": "e2"})[0] == 409


def test_paging_and_account_filter(api, account):
    other = api.post("cloud_account/create", account_body(key="LTAIother"))[1]["data"]
    for i in range(12):
        api.post("cluster/create", cluster_body(account["account_key"], name=f"c{i}"))
    api.post("cluster/create", cluster_body(other["account_key"], name="o"))
    _, page2 = api.get("cluster/describe_all", page_number=2, page_size=5)
    assert page2["data"]["pager"] == {"page_number": 2, "page_size": 5, "total": 13}
    assert len(page2["data"]["cluster_list"]) == 5
    _, big = api.get("cluster/describe_all", page_size=500)
    assert big["data"]["pager"]["page_size"] == 50
    _, filtered = api.get("cluster/describe_all", account="LTAIother")
    assert [c["cluster_name"] for c in filtered["data"]["cluster_list"]] == ["o"]
    # BridgX's paging normalisation (issue 12): never a 400
    assert api.get("cluster/describe_all", page_number=0)[1]["data"]["pager"]["page_number"] == 1
    assert api.get("cluster/describe_all", page_size="x")[1]["data"]["pager"]["page_size"] == 10


def test_delete_and_reuse_name(api, account):
    api.post("cluster/create", cluster_body(account["account_key"], name="gone"))
    cid = api.get("cluster/name/gone")[1]["data"]["id"]
    assert api.delete(f"cluster/delete/{cid}")[0] == 200
    assert api.get(f"cluster/id/{cid}")[0] == 404
    assert api.post("cluster/create", cluster_body(account["account_key"], name="gone"))[0] == 200


def test_delete_refused_with_live_instances(api, account, app):
    from app.extensions import db
    from app.instances.models import Instance
    api.post("cluster/create", cluster_body(account["account_key"], name="busy"))
    cid = api.get("cluster/name/busy")[1]["data"]["id"]
    with app.app_context():
        from app.clusters.models import Cluster
        org = db.session.get(Cluster, cid).org_id
        db.session.add(Instance(org_id=org, cluster_id=cid, account_id=account["id"], instance_id="i-1",
                                provider="AlibabaCloud", region_id="r", zone_id="z", instance_type="t",
                                status="Running"))
        db.session.commit()
    status, resp = api.delete(f"cluster/delete/{cid}")
    assert status == 409 and "live instances" in resp["data"]["ids"]


def test_bad_json_is_400(api):
    status, resp = api.post("cluster/create", raw="{not json")
    assert status == 400 and resp["msg"] == "param_invalid"
