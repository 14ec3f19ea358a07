"""The fault knobs by hand: `cloudsim` flags and the control endpoint (issue 16)."""
import json
import urllib.error
import urllib.request

import pytest
from alibabacloud_ecs20140526 import models as ecs_models

from cloudsim import cli


def _call(server, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _run(sim, aliyun, count=1):
    vpc = sim.add_vpc("AlibabaCloud", "cn-qingdao", "v", "10.0.0.0/16")
    vsw = sim.add_subnet("AlibabaCloud", "cn-qingdao", vpc, "cn-qingdao-b", "s", "10.0.0.0/20")
    sg = sim.add_security_group("AlibabaCloud", "cn-qingdao", vpc, "g")
    request = ecs_models.RunInstancesRequest(
        region_id="cn-qingdao", zone_id="cn-qingdao-b", instance_type="ecs.g6.large", v_switch_id=vsw,
        security_group_id=sg, image_id="centos_7_6_x64_20G_alibase_20211030.vhd", amount=count, password="Passw0rd!",
        system_disk=ecs_models.RunInstancesRequestSystemDisk(category="cloud_essd", size="40"))
    return aliyun("ecs").run_instances(request)


def test_endpoint_sets_and_reports_every_knob(sim, server, aliyun):
    knobs = {"error_rate": 0.0, "throttle_rate": 0.0, "lost_reply_rate": 0.0, "boot_seconds": 2.0,
             "latency": {"create": 0.2, "AlibabaCloud:describe": 0.1}, "rates": {"*": 50},
             "capacity": [{"provider": "AlibabaCloud", "zone": "cn-qingdao-b", "instance_type": "ecs.g6.large", "max": 3}],
             "quota": [{"provider": "AlibabaCloud", "region": "cn-qingdao", "max": 10}],
             "stock_outs": [], "spot_refused": ["AlibabaCloud"],  # on-demand creates below: spot faults are moot
             "die_after": [{"after": 600.0, "fraction": 0.5, "spot_only": True, "how": "reclaim"}], "kill": []}
    status, body = _call(server, "POST", "/_sim/faults", knobs)
    assert status == 200 and body == knobs
    assert _call(server, "GET", "/_sim/faults") == (200, knobs)
    assert sim.knobs()["capacity"] == {("AlibabaCloud", "cn-qingdao-b", "ecs.g6.large"): 3}
    _run(sim, aliyun, 3)  # the stock knob holds: a fourth machine is refused
    with pytest.raises(Exception, match="NoStock"):
        _run(sim, aliyun, 1)
    status, body = _call(server, "GET", "/_sim/instances")
    assert status == 200 and body["count"] == 3 and {i["status"] for i in body["instances"]} == {"pending"}
    # one knob changed, the others kept; every call now fails with the transient error
    assert _call(server, "POST", "/_sim/faults", {"error_rate": 1.0})[1]["boot_seconds"] == 2.0
    with pytest.raises(Exception, match="InternalError"):
        _run(sim, aliyun, 1)


def test_endpoint_sets_a_stock_out(sim, server, aliyun):
    """The elastic-cluster stock-out (cloudsim/lifecycle_faults.py) is a knob of the endpoint too."""
    out = [{"provider": "AlibabaCloud", "zone": "cn-qingdao-b", "instance_type": "ecs.g6.large"}]
    assert _call(server, "POST", "/_sim/faults", {"stock_outs": out})[1]["stock_outs"] == out
    with pytest.raises(Exception, match="NoStock"):
        _run(sim, aliyun, 1)
    assert _call(server, "POST", "/_sim/faults", {"stock_outs": []})[1]["stock_outs"] == []
    _run(sim, aliyun, 1)
    assert len(sim.instances()) == 1


def test_endpoint_kills_stops_and_schedules_deaths(sim, server, aliyun):
    """Dying, reclaimed and stopped machines (cloudsim/lifecycle_faults.py) are knobs of the endpoint:
    `kill` for given machines, `die_after` for machines created from now on."""
    ids = _run(sim, aliyun, 4).body.instance_id_sets.instance_id_set
    a, b, c, d = ids
    status, body = _call(server, "POST", "/_sim/faults", {"kill": [
        {"provider": "AlibabaCloud", "instance_ids": [a], "how": "stop"},
        {"provider": "AlibabaCloud", "instance_ids": [b]},
        {"provider": "AlibabaCloud", "instance_ids": [c, d], "after": 600, "how": "reclaim"}]})
    assert status == 200, body
    [pending] = body["kill"]  # those due are done; the other is shown with the time left
    assert pending["instance_ids"] == [c, d] and pending["how"] == "reclaim" and 590 < pending["after"] <= 600

    def statuses():
        return {i["instance_id"]: i["status"] for i in _call(server, "GET", "/_sim/instances?include_deleted=1")[1]
                ["instances"]}
    assert statuses() == {a: "stopped", b: "deleted", c: "running", d: "running"}  # boot_seconds 0
    assert _call(server, "POST", "/_sim/faults", {"kill": []})[1]["kill"] == []  # the pending one is called off
    assert _call(server, "GET", "/_sim/faults")[1]["kill"] == [] and statuses()[c] == "running"

    rule = {"after": 0, "how": "stop"}
    assert _call(server, "POST", "/_sim/faults", {"die_after": [rule]})[1]["die_after"] == [
        {"after": 0.0, "fraction": 1.0, "spot_only": False, "how": "stop"}]
    new = _run(sim, aliyun, 2).body.instance_id_sets.instance_id_set
    assert {statuses()[i] for i in new} == {"stopped"}
    assert _call(server, "POST", "/_sim/faults", {"die_after": []})[1]["die_after"] == []
    assert {statuses()[i] for i in _run(sim, aliyun, 1).body.instance_id_sets.instance_id_set} == {"running"}


@pytest.mark.parametrize("body, reason", [
    ({"die_after": [{"after": 5, "how": "explode"}]}, "die_after: how must be one of die, reclaim, stop"),
    ({"die_after": [{"fraction": 0.5}]}, "die_after: an entry lacks after"),
    ({"die_after": [{"after": 5, "fraction": 2}]}, "die_after: fraction must be a number from 0 to 1"),
    ({"kill": [{"provider": "AlibabaCloud", "instance_ids": []}]}, "kill: instance_ids must be a non-empty list"),
    ({"kill": [{"provider": "Nimbus", "instance_ids": ["i-1"]}]}, "kill: unknown provider 'Nimbus'"),
    ({"error_rate": 0.5, "kill": [{"provider": "AlibabaCloud", "instance_ids": ["i-nope"]}]},
     "kill: no AlibabaCloud instance i-nope"),
    ({"error_rate": 2}, "error_rate: must be a number from 0 to 1"),
    ({"nope": 1}, "unknown knob 'nope'"),
    ({"latency": {"launch": 1}}, "unknown op class 'launch'"),
    ({"capacity": [{"provider": "AlibabaCloud", "max": 1}]}, "capacity: an entry lacks zone, instance_type"),
    ([1, 2], "the body must be a JSON object"),
])
def test_endpoint_names_the_bad_knob(sim, server, body, reason):
    status, answer = _call(server, "POST", "/_sim/faults", body)
    assert status == 400 and reason in answer["error"]
    assert sim.knobs()["error_rate"] == 0.0  # nothing half-applied


def test_cli_flags_become_knobs():
    args = cli.build_parser().parse_args([
        "--error-rate", "0.1", "--throttle-rate", "0.3", "--lost-reply-rate", "0.5", "--slow", "create=2",
        "--latency-ms", "10", "--capacity", "AlibabaCloud:cn-qingdao-b:ecs.g6.large=250",
        "--quota", "TencentCloud:ap-guangzhou=40",
        "--faults", '{"boot_seconds": 7, "die_after": [{"after": 30, "how": "stop"}]}'])
    assert cli.fault_knobs(args) == {
        "error_rate": 0.1, "throttle_rate": 0.3, "lost_reply_rate": 0.5, "boot_seconds": 7.0,
        "latency": {"create": 2.0, "*": 0.01},
        "capacity": {("AlibabaCloud", "cn-qingdao-b", "ecs.g6.large"): 250},
        "quota": {("TencentCloud", "ap-guangzhou"): 40},
        "die_after": [{"after": 30.0, "fraction": 1.0, "spot_only": False, "how": "stop"}]}
    with pytest.raises(SystemExit, match="error_rate"):
        cli.fault_knobs(cli.build_parser().parse_args(["--error-rate", "3"]))
