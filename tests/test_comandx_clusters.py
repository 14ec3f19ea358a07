"""Cluster routes as ComandX calls them (BRIDGX-EXTENDED §5): its exact paths, queries (empty
filters included) and bodies, and the keys and JSON types its pages read. The manual's keys stay."""
from __future__ import annotations

import copy

import pytest

from tests.conftest import CATALOG, SIM_KEYS, account_body, cluster_body, new_password

TS_ZONE = "+0800 CST"


def comandx_create_body(account_key: str, name="cx-web", provider="AlibabaCloud", **overrides) -> dict:
    """What createOrEdit.vue's submit() posts (BRIDGX-EXTENDED §5.4)."""
    region, zone, itype, image = CATALOG.get(provider, CATALOG["AlibabaCloud"])
    body = {
        "name": name, "provider": provider, "account_key": account_key, "region_id": region, "zone_id": zone,
        "instance_type": itype, "image": "", "password": new_password(), "computing_power_type": "CPU",
        "desc": "made by ComandX",
        "network_config": {"vpc": "vpc-1", "subnet_id": "vsw-1", "security_group": "sg-1",
                           "internet_charge_type": "PayByTraffic", "internet_max_bandwidth_out": 5,
                           "internet_ip_type": ""},
        "image_config": {"type": "global", "id": image, "name": "CentOS 7.6 64位"},
        "storage_config": {"disks": {"system_disk": {"category": "cloud_essd", "size": 40, "performance_level": ""},
                                     "data_disk": [{"category": "cloud_essd", "size": 100, "performance_level": ""}]}},
        "charge_config": {"charge_type": "PostPaid"},
        "extend_config": {"core": 2, "memory": 8, "cpu_type": "CPU"},
    }
    body.update(overrides)
    return body


def raw_post(api, path, body):
    """ComandX's plain-axios callers (create, edit) read res.data.code and res.data.msg."""
    resp = api.client.post("/api/v1/" + path, json=body, headers={"Authorization": f" Bearer {api.token}"})
    return resp.status_code, resp.get_json()


@pytest.fixture
def key(api):
    key = "LTAIcomandx01"
    assert api.post("cloud_account/create", account_body(key=key))[0] == 200
    return key


# ----------------------------------------------------------------------------- create / edit
def test_create_with_comandx_body_then_detail_in_both_shapes(api, key):
    body = comandx_create_body(key)
    status, resp = raw_post(api, "cluster/create", body)
    assert (status, resp["code"], resp["msg"], resp["data"]) == (200, 200, "success", "cx-web")

    status, resp = api.get("cluster/name/cx-web")
    assert status == 200
    d = resp["data"]
    # the manual's keys
    for k in ("id", "name", "provider", "account_key", "region_id", "zone_id", "instance_type", "image",
              "network_config", "charge_config", "disks", "desc", "tags", "create_at", "create_by", "update_at"):
        assert k in d, k
    assert d["image"] == body["image_config"]["id"]
    assert d["disks"] == {"system_disk": {"category": "cloud_essd", "size": 40},
                          "data_disk": [{"category": "cloud_essd", "size": 100}]}
    # what ComandX's detail and edit pages read
    assert isinstance(d["id"], int) and d["cluster_type"] == "standard" and d["username"] == "root"
    assert d["storage_config"]["disks"]["system_disk"] == {"category": "cloud_essd", "size": 40}
    assert [x["size"] for x in d["storage_config"]["disks"]["data_disk"]] == [100]
    assert d["image_config"]["id"] == body["image_config"]["id"] and d["image_config"]["name"] == "CentOS 7.6 64位"
    assert d["image_config"]["type"] == "global" and isinstance(d["image_config"]["size"], int)
    assert d["extend_config"] == {"core": 2, "memory": 8, "cpu_type": "CPU"}
    assert d["charge_config"]["charge_type"] == "PostPaid"
    net = d["network_config"]
    assert (net["vpc"], net["subnet_id"], net["security_group"]) == ("vpc-1", "vsw-1", "sg-1")
    assert net["internet_charge_type"] == "PayByTraffic" and net["internet_max_bandwidth_out"] == 5
    assert "password" not in d  # the instance password is never returned (a contract decision)


def test_edit_with_the_whole_detail_answer_as_comandx_sends_it(api, key):
    assert raw_post(api, "cluster/create", comandx_create_body(key))[0] == 200
    form = copy.deepcopy(api.get("cluster/name/cx-web")[1]["data"])
    # the edit page copies the answer into its form, the user changes disks and description
    form["storage_config"]["disks"]["system_disk"]["size"] = 80
    form["storage_config"]["disks"]["data_disk"][0]["performance_level"] = ""
    form["desc"] = "bigger disk"
    form["password"] = ""  # the page sends the (withheld) password back empty
    form["extend_config"]["core"] = 2
    status, resp = raw_post(api, "cluster/edit", form)
    assert status == 200 and resp["code"] == 200, resp
    d = api.get("cluster/name/cx-web")[1]["data"]
    assert d["disks"]["system_disk"]["size"] == 80 and d["storage_config"]["disks"]["system_disk"]["size"] == 80
    assert d["desc"] == "bigger disk" and d["update_by"] == api.username


def test_manual_body_still_works_and_detail_shows_bridgx_shape_too(api, key):
    assert api.post("cluster/create", cluster_body(key, name="manual"))[0] == 200
    d = api.get("cluster/name/manual")[1]["data"]
    assert d["storage_config"]["disks"] == d["disks"]
    assert d["image_config"]["id"] == d["image"]
    assert d["extend_config"] == {"core": 0, "memory": 0, "cpu_type": ""}  # no catalogue cached yet
    assert isinstance(d["storage_config"]["mount_point"], str)


@pytest.mark.parametrize("path, value, field", [
    ("charge_config", {"charge_type": "PrePaid", "period": 2, "period_unit": "Year"}, "charge_config.period_unit"),
    ("charge_config", {"charge_type": "PrePaid", "period": 10, "period_unit": "Month"}, "charge_config.period"),
    ("extend_config", {"core": 2, "memory": 8, "cpu_type": "TPU"}, "extend_config.cpu_type"),
    ("network_config", {"vpc": "v", "subnet_id": "s", "security_group": "g", "internet_ip_type": "5_x"},
     "network_config.internet_ip_type"),
    ("storage_config", {"disks": {"system_disk": {"category": "c", "size": 10}}}, "disks.system_disk.size"),
    ("nonsense_field", 1, "nonsense_field"),
])
def test_comandx_body_bad_values_are_400_naming_the_field(api, key, path, value, field):
    status, resp = raw_post(api, "cluster/create", comandx_create_body(key, **{path: value}))
    assert status == 400 and resp["msg"] == "param_invalid" and field in resp["data"], resp
    assert api.get("cluster/describe_all")[1]["data"]["pager"]["total"] == 0


def test_prepaid_periods_comandx_offers(api, make_user):
    """Huawei years and Tencent months 10 and 11 are what those clouds sell; Alibaba has neither."""
    keys = {}
    for provider in ("HuaweiCloud", "TencentCloud"):
        keys[provider] = f"AK{provider[:4]}cx"
        assert api.post("cloud_account/create", account_body(provider, key=keys[provider]))[0] == 200
    huawei = comandx_create_body(keys["HuaweiCloud"], name="hw", provider="HuaweiCloud",
                                 charge_config={"charge_type": "PrePaid", "period": 3, "period_unit": "Year"})
    huawei["network_config"]["internet_ip_type"] = "5_bgp"
    assert raw_post(api, "cluster/create", huawei)[0] == 200
    assert api.get("cluster/name/hw")[1]["data"]["network_config"]["internet_ip_type"] == "5_bgp"
    tencent = comandx_create_body(keys["TencentCloud"], name="tc", provider="TencentCloud",
                                  charge_config={"charge_type": "PrePaid", "period": 11, "period_unit": "Month"})
    assert raw_post(api, "cluster/create", tencent)[0] == 200


# ----------------------------------------------------------------------------- lists and counts
LIST_KEYS = {"cluster_id": str, "cluster_name": str, "instance_count": int, "instance_type": str, "usage": str,
             "provider": str, "charge_type": str, "account": str, "update_by": str, "update_at": str,
             "create_at": str, "create_by": str, "desc": str, "extend_config": dict}


def test_describe_all_as_the_list_pages_call_it(api, key):
    assert raw_post(api, "cluster/create", comandx_create_body(key, name="web-a"))[0] == 200
    assert raw_post(api, "cluster/create", comandx_create_body(key, name="db-b", tags={"usage": "database"}))[0] == 200
    # the standard cluster list page: every filter it knows, unused ones empty
    status, resp = api.get("cluster/describe_all", cluster_name="", provider="", account="", usage="",
                           cluster_type="standard", page_number=1, page_size=10)
    assert status == 200, resp
    rows = resp["data"]["cluster_list"]
    assert [r["cluster_name"] for r in rows] == ["db-b", "web-a"] and resp["data"]["pager"]["total"] == 2
    for row in rows:
        for k, kind in LIST_KEYS.items():
            assert isinstance(row[k], kind), (k, row[k])
        assert row["instance_type"] == "2核8G(ecs.g6.large)" and row["charge_type"] == "PostPaid"
        assert row["account"] == key and row["update_at"].endswith(TS_ZONE) and row["instance_count"] == 0
    assert {r["cluster_name"]: r["usage"] for r in rows} == {"db-b": "database", "web-a": "unused"}


def test_describe_all_honours_every_filter(api, key, make_user):
    other_key = "LTAIcomandx02"
    assert api.post("cloud_account/create", account_body(key=other_key))[0] == 200
    for name, k, usage in (("web-1", key, "web"), ("web-2", other_key, None), ("batch-1", key, "batch")):
        tags = {"usage": usage} if usage else None
        assert raw_post(api, "cluster/create", comandx_create_body(k, name=name, tags=tags))[0] == 200

    def names(**query):
        status, resp = api.get("cluster/describe_all", **{"page_number": 1, "page_size": 50, **query})
        assert status == 200, resp
        return sorted(r["cluster_name"] for r in resp["data"]["cluster_list"])

    assert names() == ["batch-1", "web-1", "web-2"]
    assert names(cluster_name="web") == ["web-1", "web-2"]  # substring
    assert names(cluster_name="%") == []  # a LIKE wildcard is a plain character
    assert names(account=other_key) == ["web-2"]
    assert names(provider="AlibabaCloud") == ["batch-1", "web-1", "web-2"]
    assert names(provider="TencentCloud") == []
    assert names(usage="unus") == ["web-2"]  # the default usage tag
    assert names(usage="bat") == ["batch-1"]
    assert names(cluster_type="custom") == []
    assert names(cluster_type="STANDARD") == ["batch-1", "web-1", "web-2"]
    assert names(cluster_name="web", account=key, usage="web") == ["web-1"]
    status, resp = api.get("cluster/describe_all", cluster_type="nonsense")
    assert status == 400 and "cluster_type" in resp["data"]
    # a custom-cluster page: no standard cluster is a custom one
    assert names(cluster_type="custom", provider="PrivateCloud", usage="") == []


def test_describe_all_for_the_pickers_and_schedulx(api, key):
    assert raw_post(api, "cluster/create", comandx_create_body(key))[0] == 200
    status, resp = api.get("cluster/describe_all", cluster_type="standard", page_number=1, page_size=50)
    row = resp["data"]["cluster_list"][0]
    assert {"cluster_name", "instance_type", "provider", "charge_type", "instance_count"} <= set(row)
    status, resp = api.get("cluster/describe_all", page_number=1, page_size=10)
    assert {"cluster_id", "cluster_name"} <= set(resp["data"]["cluster_list"][0])


def test_cluster_num_as_the_dashboard_calls_it(api, key, make_user):
    assert api.get("cluster/num")[1]["data"] == {"cluster_num": 0}
    other_key = "LTAIcomandx03"
    assert api.post("cloud_account/create", account_body(key=other_key))[0] == 200
    for name, k in (("a", key), ("b", key), ("c", other_key)):
        assert api.post("cluster/create", cluster_body(k, name=name))[0] == 200
    status, resp = api.get("cluster/num")
    assert status == 200 and resp["data"] == {"cluster_num": 3}
    assert api.get("cluster/num", account="")[1]["data"]["cluster_num"] == 3
    assert api.get("cluster/num", account=other_key)[1]["data"]["cluster_num"] == 1
    cid = api.get("cluster/name/c")[1]["data"]["id"]
    assert api.delete(f"cluster/delete/{cid}")[0] == 200
    assert api.get("cluster/num")[1]["data"]["cluster_num"] == 2
    # another organisation's clusters are not counted
    assert make_user("other-org").get("cluster/num")[1]["data"]["cluster_num"] == 0


def test_instance_stat_counts_what_the_cloud_runs(app, api, sim, cloud_cluster):
    """The scale dialog caps the shrink count at instance_count: the emulator's inventory is the oracle."""
    from tests.test_scaling import cloud_instances, expand
    cluster = cloud_cluster("AlibabaCloud", name="grow-me")
    assert api.get("instance_type/list", provider="AlibabaCloud", region_id=CATALOG["AlibabaCloud"][0],
                   zone_id=CATALOG["AlibabaCloud"][1])[0] == 200  # fills the catalogue cache
    status, resp = api.get("cluster/instance_stat", cluster_name=cluster)
    assert (status, resp["data"]) == (200, {"instance_type_desc": "2核8G(ecs.g6.large)", "instance_count": 0})
    expand(api, cluster, 7)
    assert len(cloud_instances(app, sim, cluster)) == 7
    assert api.get("cluster/instance_stat", cluster_name=cluster)[1]["data"]["instance_count"] == 7
    status, resp = api.post("cluster/shrink", {"task_name": "trim", "cluster_name": cluster, "count": 3})
    assert status == 200, resp
    live = len(cloud_instances(app, sim, cluster))
    assert live == 4 and api.get("cluster/instance_stat", cluster_name=cluster)[1]["data"]["instance_count"] == live
    row = api.get("cluster/describe_all", cluster_name=cluster)[1]["data"]["cluster_list"][0]
    assert row["instance_count"] == live and row["instance_type"] == "2核8G(ecs.g6.large)"


def test_instance_stat_refusals(api, make_user, key):
    status, resp = api.get("cluster/instance_stat", cluster_name="")
    assert status == 400 and "cluster_name" in resp["data"]
    assert api.get("cluster/instance_stat")[0] == 400
    assert api.get("cluster/instance_stat", cluster_name="ghost")[0] == 404


def test_cluster_routes_never_reveal_another_organisation(api, key, make_user):
    assert raw_post(api, "cluster/create", comandx_create_body(key, name="private-one"))[0] == 200
    other = make_user("other-org")
    assert other.get("cluster/describe_all", cluster_name="", provider="", account=key, usage="",
                     cluster_type="standard", page_number=1, page_size=10)[1]["data"]["cluster_list"] == []
    assert other.get("cluster/describe_all", cluster_name="private")[1]["data"]["pager"]["total"] == 0
    assert other.get("cluster/num", account=key)[1]["data"]["cluster_num"] == 0
    assert other.get("cluster/instance_stat", cluster_name="private-one")[0] == 404
    assert other.get("cluster/name/private-one")[0] == 404
    form = api.get("cluster/name/private-one")[1]["data"]
    status, _ = raw_post(other, "cluster/edit", dict(form, desc="pwned", password=""))
    assert status == 404 and api.get("cluster/name/private-one")[1]["data"]["desc"] == "made by ComandX"


# ----------------------------------------------------------------------------- the OpenAPI document
NEW_ROUTES = [("get", "/api/v1/user/info"), ("get", "/api/v1/user/list"), ("post", "/api/v1/user/create_user"),
              ("post", "/api/v1/user/modify_password"), ("post", "/api/v1/user/enable_user"),
              ("post", "/api/v1/user/modify_user_type"), ("get", "/api/v1/org/id/{org_id}"),
              ("post", "/api/v1/org/edit"), ("get", "/api/v1/cluster/num"), ("get", "/api/v1/cluster/instance_stat")]


def test_new_routes_are_documented_with_schemas(anon):
    doc = anon.client.get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]

    def resolve(node):
        while "$ref" in node or "allOf" in node or "anyOf" in node:
            if "$ref" in node:
                node = schemas[node["$ref"].rsplit("/", 1)[1]]
            else:  # a nullable nested schema
                node = next(n for n in node.get("allOf") or node.get("anyOf") if "$ref" in n)
        return node

    for method, path in NEW_ROUTES:
        op = doc["paths"][path][method]
        ok_schema = resolve(op["responses"]["200"]["content"]["application/json"]["schema"])
        assert set(ok_schema["properties"]) == {"code", "msg", "data"}, path
        if method == "post":
            body = resolve(op["requestBody"]["content"]["application/json"]["schema"])
            assert body["properties"], path
    info = resolve(resolve(doc["paths"]["/api/v1/user/info"]["get"]["responses"]["200"]["content"]
                           ["application/json"]["schema"])["properties"]["data"])
    assert {"user_id", "username", "user_type", "org_id", "create_at"} <= set(info["properties"])
    create = resolve(doc["paths"]["/api/v1/cluster/create"]["post"]["requestBody"]["content"]["application/json"]
                     ["schema"])
    assert {"storage_config", "image_config", "extend_config", "disks"} <= set(create["properties"])
    detail = resolve(resolve(doc["paths"]["/api/v1/cluster/name/{name}"]["get"]["responses"]["200"]["content"]
                             ["application/json"]["schema"])["properties"]["data"])
    assert {"storage_config", "image_config", "extend_config", "disks", "cluster_type"} <= set(detail["properties"])
    listing = doc["paths"]["/api/v1/cluster/describe_all"]["get"]["parameters"]
    assert {"account", "cluster_name", "provider", "cluster_type", "usage"} <= {p["name"] for p in listing}
