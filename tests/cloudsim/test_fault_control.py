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
             "stock_outs": [], "spot_refused": ["AlibabaCloud"]}  # on-demand creates below: spot refusal is moot
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


@pytest.mark.parametrize("body, reason", [
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
        "--quota", "TencentCloud:ap-guangzhou=40", "--faults", '{"boot_seconds": 7}'])
    assert cli.fault_knobs(args) == {
        "error_rate": 0.1, "throttle_rate": 0.3, "lost_reply_rate": 0.5, "boot_seconds": 7.0,
        "latency": {"create": 2.0, "*": 0.01},
        "capacity": {("AlibabaCloud", "cn-qingdao-b", "ecs.g6.large"): 250},
        "quota": {("TencentCloud", "ap-guangzhou"): 40}}
    with pytest.raises(SystemExit, match="error_rate"):
        cli.fault_knobs(cli.build_parser().parse_args(["--error-rate", "3"]))
