"""The one-port server: dispatch, concurrency, latency over HTTP, the request log, and the CLI."""
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alibabacloud_ecs20140526 import models as ecs_models

from cloudsim import CloudSim, cli

ROOT = Path(__file__).resolve().parents[2]


def test_unrecognised_request_is_a_400(server):
    request = urllib.request.Request(server.url + "/whatever", data=b"x")
    try:
        urllib.request.urlopen(request)
        raise AssertionError("expected an HTTP error")
    except urllib.error.HTTPError as err:
        assert err.code == 400 and b"no cloud API recognised" in err.read()


def test_one_port_serves_all_faces_concurrently(sim, aliyun, tencent, ec2):
    from tencentcloud.cvm.v20170312 import models as cvm_models
    sim.configure(latency={"other": 0.5})
    calls = [lambda: aliyun("ecs").describe_regions(ecs_models.DescribeRegionsRequest()),
             lambda: tencent("cvm").DescribeRegions(cvm_models.DescribeRegionsRequest()),
             lambda: ec2().describe_regions()] * 3
    started = time.monotonic()
    with ThreadPoolExecutor(len(calls)) as pool:
        list(pool.map(lambda fn: fn(), calls))
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 9 * 0.5  # overlapped: one after another they would take 4.5 s
    log = sim.requests
    assert sorted({r.provider for r in log}) == ["AWSCloud", "AlibabaCloud", "TencentCloud"]
    assert all((r.api, r.op, r.outcome) == ("DescribeRegions", "other", "ok") for r in log) and len(log) == 9


def test_concurrent_creates_land_in_distinct_addresses(sim, aliyun):
    vpc = sim.add_vpc("AlibabaCloud", "cn-qingdao", "v", "10.0.0.0/8")
    vsw = sim.add_subnet("AlibabaCloud", "cn-qingdao", vpc, "cn-qingdao-b", "s", "10.1.0.0/16")
    sg = sim.add_security_group("AlibabaCloud", "cn-qingdao", vpc, "g")
    ecs = aliyun("ecs")

    def create(n):
        return ecs.run_instances(ecs_models.RunInstancesRequest(
            region_id="cn-qingdao", image_id="centos_7_6_x64_20G_alibase_20211030.vhd", instance_type="ecs.g6.large",
            v_switch_id=vsw, security_group_id=sg, amount=50, client_token=f"t{n % 10}")).body
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(20)))  # 10 tokens, each sent twice
    made = sim.instances("AlibabaCloud")
    assert len(made) == 500 and len({i.ip_inner for i in made}) == 500


def test_server_stops_and_frees_the_port():
    sim = CloudSim(credentials={"A": "B"})
    server = sim.serve()
    port = server.port
    server.stop()
    again = sim.serve(port=port)
    assert again.url == f"http://127.0.0.1:{port}"
    again.stop()


def test_cli_main_serves_until_stopped(capsys):
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=cli.main, args=(["--port", "0", "--credentials", "AK1:SK1", "AK2:SK2",
                                                      "--boot-seconds", "0", "--latency-ms", "1",
                                                      "--create-rate", "5", "--seed", "3"],),
                              kwargs={"ready": ready, "stop": stop}, daemon=True)
    thread.start()
    assert ready.wait(10)
    out = capsys.readouterr().out
    url = re.search(r"http://127\.0\.0\.1:\d+", out).group(0)
    assert "AK1" in out and "SK2" in out
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_tea_openapi.models import Config
    client = Client(Config(access_key_id="AK2", access_key_secret="SK2", region_id="cn-qingdao",
                           endpoint=url.removeprefix("http://"), protocol="http"))
    assert client.describe_regions(ecs_models.DescribeRegionsRequest()).body.regions.region
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def test_python_dash_m_help():
    result = subprocess.run([sys.executable, "-m", "cloudsim", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0 and "--create-rate" in result.stdout
