"""ComandX's exact requests (BRIDGX-EXTENDED.md §0, §2-§4, §6, §7, §8; issue 12 item 5): paths,
queries with their empty filters, bodies, and the keys and JSON types each page reads. The
manual's routes keep the manual's keys (superset only). Custom clusters are in
test_custom_clusters.py, subnet and security-group creation in test_comandx_network.py; users,
organisations and the cluster pages belong to the users/clusters work."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import CATALOG, SIM_KEYS, SIM_SECRET, account_body, new_secret

STR, INT, BOOL, NUM = str, int, bool, (int, float)
ACTIVE = "UNDEFINED,PENDING,TIMEOUT,STARTING,RUNNING,DELETING"  # ComandX's status filter, always sent


def has(row: dict, types: dict) -> None:
    """Every key the console reads is present with its JSON type (bool is not an int here)."""
    for key, kind in types.items():
        assert key in row, (key, row)
        value = row[key]
        assert isinstance(value, kind) and not (kind is INT and isinstance(value, bool)), (key, value)


@pytest.fixture
def grown(api, sim, cloud_cluster):
    """A cluster "web" on the emulator, expanded by 3 (tasks run eagerly in tests)."""
    cloud_cluster("AlibabaCloud", "web")
    status, resp = api.post("cluster/expand", {"cluster_name": "web", "task_name": "grow", "count": 3})
    assert status == 200 and isinstance(resp["data"], int), resp
    status, task = api.get("task/describe", task_id=resp["data"])
    assert task["data"]["task_status"] == "SUCCESS", task
    return resp["data"]


# ---------------------------------------------------------------- cloud accounts (§2)
def test_cloud_account_pages(api, sim):
    # the cloud-account page adds an account with exactly these four keys (name may be empty)
    status, resp = api.post("cloud_account/create", {"account_name": "", "provider": "AlibabaCloud",
                                                     "account_key": "LTAIcomandx01", "account_secret": new_secret()})
    assert status == 200, resp
    api.post("cloud_account/create", account_body("TencentCloud", key="AKIDcomandx02", account_name="tencent-main"))
    # the list as the page asks for it: every filter, unused ones empty
    status, resp = api.get("cloud_account/list", account_name="", provider="", account="", page_number=1,
                           page_size=10)
    assert status == 200, resp
    rows = resp["data"]["account_list"]
    assert len(rows) == 2 and resp["data"]["pager"]["total"] == 2
    for row in rows:
        has(row, {"id": STR, "account_name": STR, "provider": STR, "account": STR, "create_by": STR,
                  "create_at": STR})
    # the create-cluster and custom-cluster pages: provider chosen, page_size 50; reads account, account_name
    status, resp = api.get("cloud_account/list", account_name="", provider="TencentCloud", account="",
                           page_number=1, page_size=50)
    assert [(r["account"], r["account_name"]) for r in resp["data"]["account_list"]] == \
        [("AKIDcomandx02", "tencent-main")]
    # account_name is a substring match, account an exact key
    assert [r["account"] for r in api.get("cloud_account/list", account_name="cent")[1]["data"]["account_list"]] \
        == ["AKIDcomandx02"]
    assert api.get("cloud_account/list", account="AKIDcomandx")[1]["data"]["account_list"] == []
    # edit sends the list's string id back; delete takes the ids in the path
    ali = [r for r in rows if r["provider"] == "AlibabaCloud"][0]
    status, resp = api.post("cloud_account/edit", {"account_id": ali["id"], "account_name": "renamed"})
    assert status == 200, resp
    # BridgX's edit also takes `provider`: the account's own is accepted, another is a 400
    assert api.post("cloud_account/edit", {"account_id": ali["id"], "provider": "AlibabaCloud"})[0] == 200
    status, resp = api.post("cloud_account/edit", {"account_id": ali["id"], "provider": "TencentCloud"})
    assert status == 400 and "provider" in resp["data"]
    assert api.delete(f"cloud_account/delete/{ali['id']}")[0] == 200


# ---------------------------------------------------------------- catalogue (§3)
def test_catalogue_as_the_create_cluster_page_reads_it(api, sim, cloud_cluster):
    cloud_cluster("AlibabaCloud", "web")
    region, zone, itype, image = CATALOG["AlibabaCloud"]
    status, regions = api.get("region/list", provider="AlibabaCloud")
    assert status == 200 and all(has(r, {"RegionId": STR, "LocalName": STR}) is None for r in regions["data"])
    status, zones = api.get("zone/list", provider="AlibabaCloud", region_id=region)
    assert status == 200 and all(has(z, {"ZoneId": STR, "LocalName": STR}) is None for z in zones["data"])

    status, types = api.get("instance_type/list", provider="AlibabaCloud", region_id=region, zone_id=zone)
    assert status == 200, types
    for row in types["data"]:
        has(row, {"instance_type_family": STR, "instance_type": STR, "core": INT, "memory": NUM,
                  "charge_type": STR, "is_gpu": BOOL})
    # ComandX keeps rows whose is_gpu matches the CPU/GPU radio and whose charge_type is the chosen one or All
    picker = [t for t in types["data"] if t["is_gpu"] is False and t["charge_type"] in ("PostPaid", "All")]
    assert itype in {t["instance_type"] for t in picker}

    # first call on page load sends image_type empty; then "global" for public images
    for image_type in ("", "global"):
        status, images = api.get("image/list", provider="AlibabaCloud", region_id=region, instance_type=itype,
                                 image_type=image_type)
        assert status == 200, images
        for row in images["data"]:
            has(row, {"platform": STR, "os_type": STR, "os_name": STR, "size": INT, "image_id": STR,
                      "image_name": STR, "OsType": STR, "OsName": STR, "ImageId": STR})
        centos = [i for i in images["data"] if i["image_id"] == image]
        assert centos and centos[0]["platform"] == "CentOS"
    status, private = api.get("image/list", provider="AlibabaCloud", region_id=region, image_type="private")
    assert (status, private["data"]) == (200, [])
    assert api.get("image/list", provider="AlibabaCloud", region_id=region, image_type="mine")[0] == 400


# ---------------------------------------------------------------- network pages (§4)
def test_network_reads_of_the_create_cluster_and_detail_pages(api, sim):
    provider, (region, zone, _, _) = "AlibabaCloud", CATALOG["AlibabaCloud"]
    key = SIM_KEYS[provider]
    api.post("cloud_account/create", account_body(provider, key=key, secret=SIM_SECRET, endpoint=sim.url))
    status, resp = api.post("vpc/create", {"provider": provider, "region_id": region, "cidr_block": "10.0.0.0/16",
                                           "vpc_name": "web", "ak": key})
    assert status == 200 and isinstance(resp["data"], STR), resp
    vpc_id = resp["data"]
    status, resp = api.post("network_config/sync", {"provider": provider, "region_id": region, "account_key": key})
    assert status == 200, resp
    status, vpcs = api.get("vpc/describe", region_id=region, provider=provider, account_key=key)
    assert status == 200
    [vpc] = vpcs["data"]["Vpcs"]
    has(vpc, {"VpcId": STR, "VpcName": STR, "CidrBlock": STR, "CreateAt": STR, "SwitchIds": STR, "Provider": STR,
              "Status": STR})
    status, resp = api.post("subnet/create", {"provider": provider, "zone_id": zone, "cidr_block": "10.0.1.0/24",
                                              "vpc_id": vpc_id, "switch_name": "web-a", "gateway_ip": "",
                                              "account_key": key, "region_id": region})
    assert status == 200, resp
    switch_id = resp["data"]
    status, resp = api.post("security_group/create_with_rule", {
        "account_key": key, "region_id": region, "vpc_id": vpc_id, "security_group_name": "web-sg",
        "rules": [{"protocol": "tcp", "port_from": 22, "port_to": 22, "direction": "ingress"}]})
    assert status == 200, resp
    group_id = resp["data"]
    # the cluster detail page
    status, info = api.get(f"vpc/info/{vpc_id}")
    assert status == 200 and has(info["data"], {"VpcId": STR, "VpcName": STR, "CidrBlock": STR, "CreateAt": STR}) \
        is None
    status, info = api.get(f"subnet/info/{switch_id}", vpc_id=vpc_id)
    assert status == 200 and has(info["data"], {"SwitchId": STR, "SwitchName": STR, "CidrBlock": STR,
                                                "CreateAt": STR}) is None
    status, info = api.get(f"security_group/{group_id}/rules", vpc_id=vpc_id, provider=provider, region_id=region)
    assert status == 200
    has(info["data"], {"security_group_id": STR, "security_group_name": STR, "rules": list})
    for rule in info["data"]["rules"]:
        has(rule, {"protocol": STR, "port_range": STR, "direction": STR})


# ---------------------------------------------------------------- instances (§6)
def test_instance_pages(api, grown):
    status, resp = api.get("instance/num")  # the dashboard sends nothing
    assert status == 200 and resp["data"]["instance_num"] == 3

    # the server list: every search box empty, BridgX's status names
    status, resp = api.get("instance/describe_all", account="", instance_id="", ip="", provider="", cluster_name="",
                           status=ACTIVE, page_number=1, page_size=10)
    assert status == 200, resp
    rows = resp["data"]["instance_list"]
    assert len(rows) == 3 and resp["data"]["pager"]["total"] == 3
    for row in rows:
        has(row, {"instance_id": STR, "ip_inner": STR, "ip_outer": STR, "provider": STR, "cluster_name": STR,
                  "instance_type": STR, "computing_power_type": STR, "status": STR,
                  # the manual's keys stay
                  "create_at": STR, "startup_time": INT})
    # the cluster detail machines tab
    status, resp = api.get("instance/describe_all", account="", instance_id="", ip="", provider="",
                           cluster_name="web", status=ACTIVE, page_number=1, page_size=10)
    assert status == 200 and resp["data"]["pager"]["total"] == 3
    for row in resp["data"]["instance_list"]:
        has(row, {"status": STR, "instance_id": STR, "ip_inner": STR, "ip_outer": STR, "instance_type": STR,
                  "provider": STR, "charge_type": STR, "login_name": STR, "login_password": STR})
        assert row["charge_type"] == "PostPaid" and row["login_password"] == "******"
    # DELETED is left out by the console's filter; UNDEFINED alone matches nothing
    assert api.get("instance/describe_all", status="DELETED")[1]["data"]["pager"]["total"] == 0
    assert api.get("instance/describe_all", status="UNDEFINED")[1]["data"]["pager"]["total"] == 0
    assert api.get("instance/describe_all", status="RUNNING,bogus")[0] == 400

    status, detail = api.get("instance/id/describe", instance_id=rows[0]["instance_id"])
    assert status == 200
    has(detail["data"], {"instance_id": STR, "provider": STR, "region_id": STR, "image_id": STR,
                         "instance_type": STR, "ip_inner": STR, "ip_outer": STR, "create_at": STR,
                         "storage_config": dict, "network_config": dict})
    has(detail["data"]["storage_config"], {"system_disk_type": STR, "system_disk_size": INT, "data_disks": list,
                                           "data_disk_num": INT})
    has(detail["data"]["network_config"], {"vpc_name": STR, "subnet_id_name": STR, "security_group_name": STR})


def test_usage_pages_with_all_clusters(app, api, grown):
    from datetime import timedelta

    from sqlalchemy import update

    from app.core.db import utcnow
    from app.extensions import db
    from app.instances.models import Instance
    with app.app_context():  # machines that have run for a while (not for 0 s)
        db.session.execute(update(Instance).values(created_at=utcnow() - timedelta(seconds=30)))
        db.session.commit()
    today = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")
    status, resp = api.get("instance/usage_total", cluster_name="", date=today)  # the dashboard
    assert status == 200, resp
    has(resp["data"], {"usage_total": INT})
    assert resp["data"]["usage_total"] > 0
    status, resp = api.get("instance/usage_statistics", cluster_name="", date=today, page_number=1, page_size=10)
    assert status == 200, resp
    assert resp["data"]["pager"]["total"] == 3
    for row in resp["data"]["instance_list"]:
        has(row, {"instance_id": STR, "startup_at": STR, "shutdown_at": STR, "startup_time": INT,
                  "instance_type": STR})
        assert "id" in row


# ---------------------------------------------------------------- tasks (§7)
def test_task_pages(api, grown):
    status, resp = api.get("task/num")
    assert status == 200 and resp["data"]["task_num"] == 1

    status, resp = api.get("task/list")  # the dashboard: no paging
    assert status == 200
    [row] = resp["data"]["task_list"]
    has(row, {"task_name": STR, "cluster_name": STR, "status": STR, "task_status": STR, "task_action": STR,
              "create_at": STR, "execute_time": INT, "task_id": STR, "finish_at": STR})
    assert row["execute_time"] >= 0 and resp["data"]["pager"]["page_size"] == 10

    status, resp = api.get("task/describe", task_id=str(grown))
    assert status == 200
    has(resp["data"], {"task_id": STR, "task_name": STR, "cluster_name": STR, "fail_num": INT, "success_num": INT,
                       "total_num": INT, "task_action": STR, "create_at": STR, "execute_time": INT,
                       "task_status": STR, "success_rate": STR, "task_result": STR})

    # the task list page (every filter empty) and the cluster detail's scaling history
    status, resp = api.get("task/describe_all", task_name="", cluster_name="", task_status="", page_number=1,
                           page_size=10)
    assert status == 200, resp
    [row] = resp["data"]["task_list"]
    has(row, {"task_id": STR, "task_name": STR, "task_status": STR, "cluster_name": STR, "task_action": STR,
              "fail_reason": STR, "success_num": INT, "fail_num": INT, "total_num": INT, "create_at": STR})
    status, resp = api.get("task/describe_all", task_name="", cluster_name="web", task_status="", page_number=1,
                           page_size=10)
    [row] = resp["data"]["task_list"]
    has(row, {"task_status": STR, "task_id": STR, "create_at": STR, "task_action": STR, "create_by": STR,
              "before_instance_count": INT, "after_instance_count": INT, "execute_time": INT})
    has(resp["data"]["pager"], {"total": INT, "page_size": INT, "page_number": INT})
    # BridgX's filters: names are substrings, the status any case
    assert api.get("task/describe_all", task_name="ro")[1]["data"]["pager"]["total"] == 1
    assert api.get("task/describe_all", cluster_name="we")[1]["data"]["pager"]["total"] == 1
    assert api.get("task/describe_all", task_status="success")[1]["data"]["pager"]["total"] == 1
    assert api.get("task/describe_all", task_status="FAILED")[1]["data"]["pager"]["total"] == 0

    # the "machines" dialog
    status, resp = api.get("task/instances", task_id=str(grown), instance_status="", page_number=1, page_size=10)
    assert status == 200, resp
    assert resp["data"]["pager"]["total"] == 3
    for row in resp["data"]["instance_list"]:
        has(row, {"ip_inner": STR, "status": STR, "create_at": STR, "startup_time": INT})
    assert api.get("task/instances", task_id=str(grown), instance_status="RUNNING")[1]["data"]["pager"]["total"] == 3
    assert api.get("task/instances", task_id=str(grown), instance_status="DELETED")[1]["data"]["pager"]["total"] == 0


def test_scale_dialog_and_one_off_task(api, grown):
    status, resp = api.post("cluster/shrink", {"cluster_name": "web", "task_name": "trim", "count": 1})
    assert status == 200 and isinstance(resp["data"], INT), resp
    status, resp = api.get("task/describe", task_id=resp["data"])
    assert resp["data"]["task_status"] == "SUCCESS" and isinstance(resp["data"]["execute_time"], INT)


def test_true_unknowns_are_still_400(api):
    status, resp = api.post("cluster/instance/check", {"instance_list": [], "colour": "red"})
    assert status == 400 and "colour" in resp["data"]
    status, resp = api.post("cloud_account/create", dict(account_body(), acount_name="typo"))
    assert status == 400 and "acount_name" in resp["data"]


# ---------------------------------------------------------------- the OpenAPI document (item 6)
NEW_ROUTES = {
    ("/api/v1/cluster/create_custom_public", "post"): {"machine": "instance_list"},
    ("/api/v1/cluster/create_custom_private", "post"): {},
    ("/api/v1/cluster/custom/detail", "get"): {"out": ["name", "decs", "provider", "account_key"]},
    ("/api/v1/cluster/instance/check", "post"): {"out": ["is_all_pass", "instance_list", "machine_list"]},
    ("/api/v1/instance/list_custom", "get"): {"out": ["instance_list", "pager"]},
    ("/api/v1/security_group/create", "post"): {},
    ("/api/v1/security_group/rule/add", "post"): {},
}


def test_new_routes_and_shapes_are_in_the_openapi_document(anon):
    resp = anon.client.get("/api/v1/openapi.json")
    doc = resp.get_json()
    schemas = doc["components"]["schemas"]

    def resolve(node):
        while "$ref" in node or "anyOf" in node:
            if "anyOf" in node:  # nullable data: {anyOf: [null object, $ref]}
                node = next(n for n in node["anyOf"] if "$ref" in n)
            node = schemas[node["$ref"].rsplit("/", 1)[1]]
        return node

    for (path, method), expect in NEW_ROUTES.items():
        op = doc["paths"][path][method]
        ok = resolve(op["responses"]["200"]["content"]["application/json"]["schema"])
        data = resolve(ok["properties"]["data"])
        for key in expect.get("out", []):
            assert key in data["properties"], (path, key)
        if method == "post":
            assert "requestBody" in op, path
    # the shapes added to existing routes are documented too
    props = {name: set(resolve(s).get("properties", {})) for name, s in schemas.items()}
    assert {"charge_type", "is_gpu"} <= props["InstanceType"]
    assert {"image_id", "os_name", "platform", "image_name"} <= props["Image"]
    assert {"account_list", "pager"} <= props["AccountList"]
    assert {"login_name", "charge_type", "computing_power_type"} <= props["InstanceSummary"]
    assert {"startup_time"} <= props["TaskInstance"]
    assert resolve(schemas["TaskSummary"])["properties"]["execute_time"]["type"] == "integer"
    params = {p["name"] for p in doc["paths"]["/api/v1/task/instances"]["get"]["parameters"]}
    assert "instance_status" in params
    params = {p["name"] for p in doc["paths"]["/api/v1/image/list"]["get"]["parameters"]}
    assert {"image_type", "instance_type"} <= params
