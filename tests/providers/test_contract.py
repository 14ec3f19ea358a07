"""The provider contract, run against every driver through its real SDK and an emulator.

Each test takes the parametrised `cloud` fixture (see conftest.CLOUDS): one CloudEnv per cloud,
with the registry's rate limits lifted and fast retries unless a test sets its own.
"""
from __future__ import annotations

import dataclasses
import threading
import uuid

import pytest

from app.providers.base import (
    DELETED, PENDING, RUNNING, STOPPED, AuthFailed, NotFound, OutOfCapacity, QuotaExceeded, Rule,
)
from _timing import assert_held_to_rate


def new_token() -> str:
    return f"ct-{uuid.uuid4().hex}"  # <= 64 ASCII, as every cloud requires


def calls(cloud, before: int, api: str) -> list:
    """The emulator's records of `api` since the log held `before` records."""
    return [r for r in cloud.backend.requests()[before:] if r.api == api]


# ---------------------------------------------------------------- instances
def test_create_in_batches_returns_ids_and_tags(cloud, tags):
    p = cloud.provider()
    spec = cloud.spec()
    created = []
    for batch, count in enumerate([3, 3, 2]):
        result = p.create_instances(spec, count, new_token(), {**tags, "bridgx-batch": str(batch)})
        assert len(result.instance_ids) == count
        created += result.instance_ids
    assert len(set(created)) == 8
    assert sorted(cloud.backend.live_ids(tags)) == sorted(created)

    described = {i.instance_id: i for i in p.describe_instances(created)}
    assert set(described) == set(created)
    for inst in described.values():
        assert inst.tags["bridgx-cluster"] == tags["bridgx-cluster"]
        assert inst.tags["bridgx-task"] == tags["bridgx-task"]
        assert inst.status in (PENDING, RUNNING)
        assert inst.zone_id == cloud.zone and inst.instance_type == cloud.instance_type
    assert sorted(i.tags["bridgx-batch"] for i in described.values()) == ["0"] * 3 + ["1"] * 3 + ["2"] * 2


def test_replaying_a_client_token_returns_the_same_ids_and_creates_nothing(cloud, tags):
    cloud.require("idempotency")
    p = cloud.provider()
    spec = cloud.spec()
    token = new_token()
    first = p.create_instances(spec, 3, token, tags)
    again = p.create_instances(spec, 3, token, tags)
    assert sorted(again.instance_ids) == sorted(first.instance_ids)
    assert len(cloud.backend.live_ids(tags)) == 3


def test_lost_replies_are_retried_without_creating_twice(cloud, tags, configure_providers):
    cloud.require("lost_reply")
    configure_providers(**{**cloud.settings, "max_attempts": 20, "backoff_base": 0.001, "backoff_cap": 0.01})
    p = cloud.provider()
    spec = cloud.spec()
    cloud.backend.set_lost_replies(0.5)
    results = [p.create_instances(spec, 2, new_token(), tags) for _ in range(4)]
    cloud.backend.set_lost_replies(0.0)
    assert sum(len(r.instance_ids) for r in results) == 8
    assert len(cloud.backend.live_ids(tags)) == 8


def test_describe_by_ids_and_by_tags_walks_every_page(cloud, tags):
    p = cloud.provider(page_size=5, max_describe_ids=5)
    spec = cloud.spec()
    created = []
    for _ in range(6):  # several create calls: moto pages by reservation, not by instance
        created += p.create_instances(spec, 2, new_token(), tags).instance_ids

    before = len(cloud.backend.requests())
    by_ids = p.describe_instances(created + [cloud.fake_ids["instance"]])
    assert sorted(i.instance_id for i in by_ids) == sorted(created)  # the unknown id is left out
    assert len(calls(cloud, before, cloud.instances_api)) >= 3  # 13 ids, 5 a call

    before = len(cloud.backend.requests())
    by_tags = p.describe_instances_by_tags(tags)
    assert sorted(i.instance_id for i in by_tags) == sorted(created)
    assert len(calls(cloud, before, cloud.instances_api)) >= 2  # more than one page

    assert p.describe_instances_by_tags({**tags, "bridgx-task": "no-such-task"}) == []


def test_delete_in_batches_and_deleting_again_is_not_an_error(cloud, tags):
    p = cloud.provider(max_delete_ids=3)
    spec = cloud.spec()
    created = p.create_instances(spec, 7, new_token(), tags).instance_ids

    p.delete_instances(created[:2])  # some go first, as in a partly done shrink
    before = len(cloud.backend.requests())
    p.delete_instances(created + [cloud.fake_ids["instance"]])  # the rest, the gone ones and an unknown one
    deletes = [r for r in cloud.backend.requests()[before:] if r.outcome == "ok" and "Describe" not in r.api]
    assert len(deletes) >= 2  # batches of at most 3 live ids

    assert cloud.backend.live_ids(tags) == []
    assert p.describe_instances_by_tags(tags) == []
    assert all(i.status == DELETED for i in p.describe_instances(created))
    p.delete_instances(created)  # all already gone: still not an error
    p.delete_instances([])


def test_a_machine_the_cloud_stopped_is_described_as_stopped_and_can_be_deleted(cloud, tags):
    cloud.require("stop")
    p = cloud.provider()
    made = p.create_instances(cloud.spec(), 3, new_token(), tags).instance_ids
    cloud.backend.stop(made[:2])
    by_ids = {i.instance_id: i.status for i in p.describe_instances(made)}
    assert {i.instance_id: i.status for i in p.describe_instances_by_tags(tags)} == by_ids
    assert [by_ids[i] for i in made[:2]] == [STOPPED, STOPPED] and by_ids[made[2]] in (PENDING, RUNNING)
    p.delete_instances(made)
    assert p.describe_instances_by_tags(tags) == []


def test_partial_create_with_min_count(cloud, tags):
    cloud.require("capacity")
    p = cloud.provider()
    if not p.limits.supports_partial_create:
        pytest.skip(f"{cloud.name} creates all or nothing")
    spec = cloud.spec()
    cloud.backend.set_capacity(cloud.backend.in_use(cloud.region, cloud.zone) + 4)
    result = p.create_instances(spec, 10, new_token(), tags, min_count=2)
    assert len(result.instance_ids) == 4
    with pytest.raises(OutOfCapacity):
        p.create_instances(spec, 10, new_token(), tags, min_count=2)


# ---------------------------------------------------------------- errors
def test_out_of_capacity_is_reported_not_retried(cloud, tags):
    cloud.require("capacity")
    p = cloud.provider()
    spec = cloud.spec()
    cloud.backend.set_capacity(cloud.backend.in_use(cloud.region, cloud.zone))  # nothing left
    before = len(cloud.backend.requests())
    with pytest.raises(OutOfCapacity):
        p.create_instances(spec, 2, new_token(), tags)
    assert len([r for r in cloud.backend.requests()[before:] if r.api == cloud.create_api]) == 1
    assert cloud.backend.live_ids(tags) == []


def test_spot_machines_reach_the_cloud_and_a_spot_refusal_is_out_of_capacity(cloud, tags):
    cloud.require("spot")
    from cloudsim.lifecycle_faults import is_spot
    p = cloud.provider()
    capped = dataclasses.replace(cloud.spec(), spot=True, spot_price_limit=0.05)
    made = p.create_instances(capped, 2, new_token(), tags).instance_ids
    assert all(is_spot(i) and float(i.extra["spot_price_limit"]) == 0.05 for i in cloud.backend.instances(made))
    assert {i.instance_id for i in p.describe_instances(made)} == set(made)
    # no ceiling: the cloud's own default (Tencent, which needs a bid, is bid its on-demand quote)
    going = p.create_instances(dataclasses.replace(capped, spot_price_limit=None), 1, new_token(), tags)
    assert all(is_spot(i) for i in cloud.backend.instances(going.instance_ids))
    # spot is pay-as-you-go whatever the cluster's charge type says
    prepaid = dataclasses.replace(capped, charge_type="PrePaid", period_unit="Month", period=1)
    made = p.create_instances(prepaid, 1, new_token(), tags).instance_ids
    assert all(is_spot(i) and i.charge_type.lower() != "prepaid" for i in cloud.backend.instances(made))

    cloud.backend.refuse_spot()
    before = len(cloud.backend.requests())
    with pytest.raises(OutOfCapacity):
        p.create_instances(capped, 2, new_token(), tags)
    assert len(calls(cloud, before, cloud.create_api)) == 1  # refused once, not retried
    on_demand = p.create_instances(cloud.spec(), 2, new_token(), tags).instance_ids
    assert not any(is_spot(i) for i in cloud.backend.instances(on_demand))
    assert len(cloud.backend.live_ids(tags)) == 6


def test_quota_exceeded_is_reported(cloud, tags):
    cloud.require("quota")
    p = cloud.provider()
    spec = cloud.spec()
    cloud.backend.set_quota(cloud.backend.in_use(cloud.region) + 1)
    with pytest.raises(QuotaExceeded):
        p.create_instances(spec, 2, new_token(), tags)
    assert cloud.backend.live_ids(tags) == []


def test_transient_server_errors_are_retried_until_success(cloud, configure_providers):
    cloud.require("transient")
    configure_providers(**{**cloud.settings, "max_attempts": 30, "backoff_base": 0.001, "backoff_cap": 0.01})
    p = cloud.provider()
    cloud.backend.set_errors(0.5)
    before = len(cloud.backend.requests())
    for _ in range(6):
        assert cloud.region in {r.region_id for r in p.list_regions()}
    cloud.backend.set_errors(0.0)
    outcomes = [r.outcome for r in cloud.backend.requests()[before:]]
    assert outcomes.count("ok") == 6 and len(outcomes) > 6


def test_unknown_access_key_is_auth_failed(cloud):
    cloud.require("bad_key")
    p = cloud.provider(cloud.credentials(access_key="AKNOBODY" + uuid.uuid4().hex[:8].upper()))
    with pytest.raises(AuthFailed):
        p.list_regions()


def test_wrong_secret_is_auth_failed(cloud):
    cloud.require("bad_secret")
    p = cloud.provider(cloud.credentials(secret_key="wrong-" + uuid.uuid4().hex))
    with pytest.raises(AuthFailed):
        p.list_zones()


def test_unknown_resources_are_not_found(cloud):
    p = cloud.provider()
    with pytest.raises(NotFound):
        p.delete_vpc(cloud.fake_ids["vpc"])
    with pytest.raises(NotFound):
        p.delete_security_group(cloud.fake_ids["security_group"])


def test_throttling_is_retried_until_success(cloud, configure_providers):
    cloud.require("throttle")
    configure_providers(**{**cloud.settings, "max_attempts": 30, "backoff_base": 0.005, "backoff_cap": 0.02})
    p = cloud.provider()
    cloud.backend.set_throttle(0.5)
    before = len(cloud.backend.requests())
    for _ in range(6):
        assert any(z.zone_id == cloud.zone for z in p.list_zones())
    cloud.backend.set_throttle(0.0)
    outcomes = [r.outcome for r in cloud.backend.requests()[before:]]
    assert outcomes.count("ok") == 6
    assert len(outcomes) > 6  # some calls were throttled and retried


def test_throttled_call_honours_retry_after(cloud, configure_providers):
    # The emulator's own bucket (4/s, burst 4) answers the 5th quick call with a throttle and
    # the wait until its next token. Retries 1 ms apart would all fail within 3 attempts; only
    # waiting as told gets every call through.
    cloud.require("retry_after", "sim_rates")
    configure_providers(**{**cloud.settings, "max_attempts": 3, "backoff_base": 0.001, "backoff_cap": 0.001})
    p = cloud.provider()
    cloud.backend.set_rates({(cloud.name, "describe"): 4.0, (cloud.name, "other"): 4.0})
    before = len(cloud.backend.requests())
    for _ in range(8):
        p.list_regions()
    records = cloud.backend.requests()[before:]
    assert [r.outcome for r in records].count("ok") == 8
    assert any(r.outcome != "ok" for r in records)


def test_rate_limiter_holds_the_configured_rate_at_the_emulator(cloud, configure_providers):
    rate = 20.0
    configure_providers(rate_overrides={cloud.name: {cloud.regions_api: rate}})
    p = cloud.provider()
    before = len(cloud.backend.requests())
    workers = [threading.Thread(target=lambda: [p.list_regions() for _ in range(6)]) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stamps = [r.ts for r in cloud.backend.requests()[before:] if r.api == cloud.regions_api]
    assert len(stamps) == 24
    assert max(stamps) - min(stamps) >= 23 / rate * 0.9
    assert_held_to_rate(stamps, rate, burst=1)


# ---------------------------------------------------------------- network
def test_vpc_subnet_and_security_group_with_rules(cloud):
    p = cloud.provider()
    suffix = uuid.uuid4().hex[:6]
    vpc = p.create_vpc(f"vpc-{suffix}", "10.30.0.0/16")
    subnet = p.create_subnet(vpc, cloud.zone, f"subnet-{suffix}", "10.30.5.0/24")
    rules = [Rule("tcp", "22/22", "ingress", cidr_ip="0.0.0.0/0"),
             Rule("tcp", "8000/8080", "ingress", cidr_ip="10.30.0.0/16"),
             Rule("icmp", "-1/-1", "ingress", cidr_ip="10.0.0.0/8"),
             Rule("udp", "53/53", "egress", cidr_ip="10.30.0.0/16")]
    group = p.create_security_group(vpc, f"sg-{suffix}", rules=rules)

    vpcs = {v.vpc_id: v for v in p.describe_vpcs()}
    assert vpcs[vpc].name == f"vpc-{suffix}" and vpcs[vpc].cidr_block == "10.30.0.0/16"
    subnets = {s.subnet_id: s for s in p.describe_subnets(vpc)}
    assert subnets[subnet].vpc_id == vpc and subnets[subnet].zone_id == cloud.zone
    assert subnets[subnet].cidr_block == "10.30.5.0/24" and subnets[subnet].name == f"subnet-{suffix}"
    groups = {g.group_id: g for g in p.describe_security_groups(vpc)}
    assert groups[group].name == f"sg-{suffix}"
    have = {(r.protocol, r.port_range, r.direction, r.cidr_ip) for r in groups[group].rules}
    assert {(r.protocol, r.port_range, r.direction, r.cidr_ip) for r in rules} <= have

    p.delete_security_group(group)
    p.delete_subnet(subnet, vpc)
    p.delete_vpc(vpc)
    assert group not in {g.group_id for g in p.describe_security_groups()}
    assert subnet not in {s.subnet_id for s in p.describe_subnets()}
    assert vpc not in {v.vpc_id for v in p.describe_vpcs()}


# ---------------------------------------------------------------- catalogue
def test_catalogue_lists(cloud):
    p = cloud.provider()
    assert cloud.region in {r.region_id for r in p.list_regions()}
    assert cloud.zone in {z.zone_id for z in p.list_zones()}
    types = {t.instance_type: t for t in p.list_instance_types(cloud.zone)}
    assert cloud.instance_type in types
    assert types[cloud.instance_type].cores > 0 and types[cloud.instance_type].memory_gb > 0
    assert cloud.image_id in {i.image_id for i in p.list_images()}
    assert all(i.os_type in ("linux", "windows") for i in p.list_images())
