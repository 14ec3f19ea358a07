"""The shared model and the knobs, through the Python API only (no HTTP)."""
import threading
import time
from types import SimpleNamespace

import pytest

import cloudsim.sim
from _poll import wait_until
from cloudsim import CloudSim, LaunchSpec, SimError, SimRule

ALI = "AlibabaCloud"
IMAGE = "centos_7_6_x64_20G_alibase_20211030.vhd"


def network(sim, provider=ALI, region="cn-qingdao", zone="cn-qingdao-b", cidr="10.1.0.0/24"):
    vpc = sim.add_vpc(provider, region, "v", "10.0.0.0/8" if provider == ALI else "10.0.0.0/16")
    subnet = sim.add_subnet(provider, region, vpc, zone, "s", cidr)
    group = sim.add_security_group(provider, region, vpc, "g", rules=[{"direction": "ingress", "protocol": "tcp",
                                                                        "from_port": 22, "to_port": 22,
                                                                        "cidr": "0.0.0.0/0"}])
    return vpc, subnet, group


def launch(sim, subnet, group, count=1, min_count=None, itype="ecs.g6.large", tags=None, region="cn-qingdao"):
    spec = LaunchSpec(None, itype, IMAGE, subnet, [group], tags=tags or {})
    return sim.cloud.run_instances(ALI, region, spec, count, min_count)


def test_subnet_cidr_rules_and_big_subnet(sim):
    vpc = sim.add_vpc(ALI, "cn-qingdao", "v", "10.0.0.0/8")
    big = sim.add_subnet(ALI, "cn-qingdao", vpc, "cn-qingdao-b", "big", "10.1.0.0/16")
    assert sim.cloud.subnets(ALI, ids={big})[0].available_ips == 65536 - 4  # 3 reserved at the head, 1 at the tail
    with pytest.raises(SimError) as err:  # overlaps the /16
        sim.add_subnet(ALI, "cn-qingdao", vpc, "cn-qingdao-b", "x", "10.1.128.0/24")
    assert err.value.kind == "cidr_conflict"
    with pytest.raises(SimError) as err:  # outside the VPC
        sim.add_subnet(ALI, "cn-qingdao", vpc, "cn-qingdao-b", "x", "192.168.0.0/24")
    assert err.value.kind == "cidr_invalid"
    with pytest.raises(SimError) as err:
        sim.add_subnet(ALI, "cn-qingdao", vpc, "cn-qingdao-b", "x", "10.2.0.0/33")
    assert err.value.kind == "cidr_invalid"
    with pytest.raises(SimError) as err:  # zone of another region
        sim.add_subnet(ALI, "cn-qingdao", vpc, "cn-beijing-h", "x", "10.3.0.0/24")
    assert err.value.kind == "not_found" and err.value.resource == "zone"


def test_namespaces_are_per_provider(sim):
    vpc = sim.add_vpc(ALI, "cn-qingdao", "v", "10.0.0.0/8")
    assert sim.cloud.vpcs("TencentCloud") == []
    with pytest.raises(SimError):
        sim.add_subnet("TencentCloud", "ap-guangzhou", vpc, "ap-guangzhou-3", "s", "10.0.0.0/24")


def test_addresses_allocated_and_released(sim):
    _, subnet, group = network(sim, cidr="10.1.0.0/29")  # 8 addresses, 4 usable
    made = launch(sim, subnet, group, count=4)
    assert [i.ip_inner for i in made] == ["10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6"]
    with pytest.raises(SimError) as err:
        launch(sim, subnet, group)
    assert err.value.kind == "ip_exhausted"
    sim.cloud.delete_instances(ALI, [made[0].instance_id])
    assert launch(sim, subnet, group)[0].ip_inner == "10.1.0.3"


def test_pending_then_running_after_boot(sim):
    sim.configure(boot_seconds=1.0)
    _, subnet, group = network(sim)
    iid = launch(sim, subnet, group)[0].instance_id
    assert sim.instances(ALI)[0].status == "pending"
    inst = wait_until(lambda: next((i for i in sim.instances(ALI) if i.status == "running"), None), "boot")
    assert inst.instance_id == iid and inst.ip_inner


def test_capacity_partial_with_min_count_and_freed_by_delete(sim):
    sim.configure(capacity={(ALI, "cn-qingdao-b", "ecs.g6.large"): 5})
    _, subnet, group = network(sim)
    assert len(launch(sim, subnet, group, count=3)) == 3
    with pytest.raises(SimError) as err:
        launch(sim, subnet, group, count=3)  # all or nothing without min_count
    assert err.value.kind == "no_capacity" and err.value.detail["available"] == 2
    assert len(launch(sim, subnet, group, count=3, min_count=1)) == 2
    assert len(launch(sim, subnet, group, itype="ecs.c6.large")) == 1  # other types are unlimited
    sim.cloud.delete_instances(ALI, [i.instance_id for i in sim.instances(ALI)][:2])
    assert len(launch(sim, subnet, group, count=2)) == 2


def test_quota_per_region(sim):
    sim.configure(quota={ALI: 2})
    _, subnet, group = network(sim)
    launch(sim, subnet, group, count=2)
    with pytest.raises(SimError) as err:
        launch(sim, subnet, group)
    assert err.value.kind == "quota"


def test_instances_listing_filters(sim):
    _, subnet, group = network(sim)
    a = launch(sim, subnet, group, count=2, tags={"task": "1"})
    launch(sim, subnet, group, tags={"task": "2"})
    assert len(sim.instances()) == 3
    assert [i.instance_id for i in sim.instances(ALI, "cn-qingdao", tags={"task": "1"})] == [i.instance_id for i in a]
    assert sim.instances(ALI, "cn-beijing") == []
    assert len(sim.instances(tags={"task": None})) == 3  # None: the key only
    sim.cloud.delete_instances(ALI, [a[0].instance_id])
    assert len(sim.instances(ALI)) == 2
    gone = [i for i in sim.instances(ALI, include_deleted=True) if i.status == "deleted"]
    assert gone[0].instance_id == a[0].instance_id and gone[0].deleted_at and gone[0].created_at


def test_returned_instances_are_copies(sim):
    _, subnet, group = network(sim)
    launch(sim, subnet, group, tags={"a": "1"})
    sim.instances()[0].tags["a"] = "changed"
    assert sim.instances()[0].tags == {"a": "1"}


def test_client_token_idempotence_and_mismatch(sim):
    calls = []

    def fn():
        calls.append(1)
        return ["i-1"]
    assert sim.cloud.idempotent(("s",), "tok", ("x",), fn) == ["i-1"]
    assert sim.cloud.idempotent(("s",), "tok", ("x",), fn) == ["i-1"]
    assert len(calls) == 1
    with pytest.raises(SimError) as err:
        sim.cloud.idempotent(("s",), "tok", ("y",), fn)
    assert err.value.kind == "idempotent_mismatch"


def test_direct_manipulation_and_reset_keeps_knobs(sim):
    vpc, subnet, group = network(sim)
    assert sim.cloud.security_groups(ALI, ids={group})[0].rules[0].from_port == 22
    sim.remove_vpc(ALI, vpc)  # as if deleted in the console: subnets and groups go with it
    assert sim.cloud.vpcs(ALI) == [] and sim.cloud.subnets(ALI) == [] and sim.cloud.security_groups(ALI) == []
    sim.configure(boot_seconds=3)
    network(sim)
    sim.reset()
    assert sim.cloud.vpcs(ALI) == [] and sim.cloud.boot_seconds == 3


def test_rules_dedupe_and_duplicate_error(sim):
    _, _, group = network(sim)
    rule = SimRule("ingress", "tcp", 22, 22, cidr="0.0.0.0/0")
    assert sim.cloud.add_rules(ALI, None, group, [rule]) == []  # same as the one network() added
    with pytest.raises(SimError) as err:
        sim.cloud.add_rules(ALI, None, group, [rule], duplicate_error=True)
    assert err.value.kind == "duplicate"


@pytest.fixture
def clock(monkeypatch):
    """The emulator's rate buckets on a clock the test moves, so no refill depends on how fast it runs."""
    fake = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(cloudsim.sim, "time", SimpleNamespace(monotonic=lambda: fake.now, sleep=time.sleep,
                                                             time=time.time))
    return fake


def test_token_bucket_rate_limit(sim, clock):
    sim.configure(rates={"create": 2.0})
    outcomes = []
    for _ in range(4):
        try:
            sim.admit(ALI, "AK", "cn-qingdao", "create")
            outcomes.append("ok")
        except SimError as err:
            outcomes.append(err.kind)
            assert 0 < err.retry_after <= 0.5
    assert outcomes == ["ok", "ok", "throttled", "throttled"]
    sim.admit(ALI, "AK", "cn-qingdao", "describe")  # other op classes, keys and regions have their own buckets
    sim.admit(ALI, "AK2", "cn-qingdao", "create")
    sim.admit(ALI, "AK", "cn-beijing", "create")
    clock.now += 0.5  # one token refilled at 2/s
    sim.admit(ALI, "AK", "cn-qingdao", "create")
    with pytest.raises(SimError):
        sim.admit(ALI, "AK", "cn-qingdao", "create")


def test_per_provider_rate_and_latency(sim, clock):
    sim.configure(rates={("TencentCloud", "create"): 1.0}, latency={"describe": 0.1})
    sim.admit("TencentCloud", "AK", "r", "create")
    with pytest.raises(SimError):
        sim.admit("TencentCloud", "AK", "r", "create")
    for _ in range(3):
        sim.admit(ALI, "AK", "r", "create")  # no limit for the other providers
    started = time.monotonic()
    sim.admit(ALI, "AK", "r", "describe")
    assert time.monotonic() - started >= 0.1


def test_fault_rates_are_seeded():
    def run(seed):
        sim = CloudSim(credentials={"AK": "SK"}, error_rate=0.3, throttle_rate=0.2, seed=seed)
        kinds = []
        for _ in range(200):
            try:
                sim.admit(ALI, "AK", "r", "create")
                kinds.append("ok")
            except SimError as err:
                kinds.append(err.kind)
        return kinds
    first = run(42)
    assert first == run(42)
    assert 20 < first.count("throttled") < 60 and 30 < first.count("internal") < 80


def test_concurrent_creates_with_one_token_make_one_set(sim):
    _, subnet, group = network(sim, cidr="10.1.0.0/20")
    spec = LaunchSpec(None, "ecs.g6.large", IMAGE, subnet, [group])
    results = []

    def create():
        results.append(sim.cloud.idempotent((ALI, "AK", "cn-qingdao", "RunInstances"), "same", ("p",), lambda: [
            i.instance_id for i in sim.cloud.run_instances(ALI, "cn-qingdao", spec, 10)]))
    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sim.instances()) == 10 and all(r == results[0] for r in results)


def test_default_credentials_are_generated():
    sim = CloudSim()
    (key, secret), = sim.credentials.items()
    assert key.startswith("AKSIM") and len(secret) > 20
