"""Fixtures for the provider tests.

- `configure_providers`: set the registry's settings for one test, restored afterwards.
- `cloud`: one `CloudEnv` per cloud the contract suite runs against. To add a cloud, write its
  `<name>_env` fixture and add the name to CLOUDS.
"""
from __future__ import annotations

import dataclasses
import secrets
import sys
import uuid
from pathlib import Path
from typing import Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `app`

from app.providers import registry  # noqa: E402
from app.providers.base import Credentials, InstanceSpec, Provider  # noqa: E402
from app.providers.registry import ProviderSettings  # noqa: E402

# aws_moto_env runs the AWS driver against a second, independent EC2 implementation (moto).
CLOUDS = ["alibaba_env", "tencent_env", "aws_env", "aws_moto_env", "huawei_env", "baidu_env"]

SIM_KEY, SIM_SECRET = "AKBRIDGXTEST" + secrets.token_hex(4).upper(), secrets.token_urlsafe(24)


@pytest.fixture(autouse=True)
def _clean_tables():
    """Overrides tests/conftest.py's autouse table cleaner: provider tests use no app or database."""
    yield


@pytest.fixture
def configure_providers():
    """configure(**ProviderSettings fields) for this test; defaults and listeners restored after."""
    listeners = list(registry._listeners)

    def configure(**settings):
        registry.configure(ProviderSettings(**settings))

    yield configure
    registry.configure(ProviderSettings())
    registry._listeners[:] = listeners


# ---------------------------------------------------------------- the clouds under contract
@dataclasses.dataclass
class CloudEnv:
    """One cloud under test: where it is, what it sells, and knobs on its emulator.

    backend offers requests() (records with ts, api, outcome, oldest first), live_ids(tags),
    in_use(region, zone=None), reset(), and the knobs its `features` name: throttle -> set_throttle(rate), capacity ->
    set_capacity(n or None), quota -> set_quota(n), transient -> set_errors(rate), lost_reply ->
    set_lost_replies(rate), sim_rates -> set_rates({...}), stop -> stop(ids) (the cloud stops them). A test
    needing a feature its backend lacks is skipped, never faked.
    """

    name: str
    endpoint: str
    region: str
    zone: str
    instance_type: str
    image_id: str
    backend: object
    features: frozenset
    fake_ids: dict  # kind -> a well-formed id the cloud does not know
    regions_api: str = "DescribeRegions"  # the API behind list_regions, for rate tests
    instances_api: str = "DescribeInstances"
    create_api: str = "RunInstances"  # the API behind create_instances
    project_id: Optional[str] = None  # HuaweiCloud accounts name their project
    vpc_cidr: str = "10.20.0.0/16"
    subnet_cidr: str = "10.20.1.0/24"
    settings: dict = dataclasses.field(default_factory=dict)  # the registry settings `cloud` installed
    _network: Optional[tuple] = None

    def credentials(self, access_key: str = SIM_KEY, secret_key: str = SIM_SECRET) -> Credentials:
        return Credentials(access_key, secret_key, endpoint=self.endpoint, project_id=self.project_id)

    def provider(self, credentials: Optional[Credentials] = None, **limits) -> Provider:
        """A registry-built driver; limit overrides (page_size=5, ...) make paging cheap to test."""
        p = registry.get_provider(self.name, credentials or self.credentials(), self.region)
        if limits:
            p.limits = dataclasses.replace(p.limits, **limits)
        return p

    def require(self, *features):
        missing = [f for f in features if f not in self.features]
        if missing:
            pytest.skip(f"{self.name} backend cannot show: {', '.join(missing)}")

    def spec(self) -> InstanceSpec:
        """A launch spec on a VPC, subnet and group made once per cloud for the session."""
        if self._network is None:
            p = self.provider()
            vpc = p.create_vpc("contract-vpc", self.vpc_cidr)
            subnet = p.create_subnet(vpc, self.zone, "contract-subnet", self.subnet_cidr)
            group = p.create_security_group(vpc, "contract-sg")
            self._network = (vpc, subnet, group)
        vpc, subnet, group = self._network
        return InstanceSpec(zone_id=self.zone, instance_type=self.instance_type, image_id=self.image_id,
                            vpc_id=vpc, subnet_id=subnet, security_group_id=group, password="Bridgx#2024")


class SimBackend:
    """cloudsim knobs and records, seen from one provider."""

    def __init__(self, sim, name: str, zone: str, instance_type: str):
        self.sim, self.name, self.zone, self.instance_type = sim, name, zone, instance_type

    def set_throttle(self, rate: float):
        self.sim.configure(throttle_rate=rate)

    def set_capacity(self, count: Optional[int]):
        self.sim.configure(capacity={} if count is None else {(self.name, self.zone, self.instance_type): count})

    def set_rates(self, rates: dict):
        self.sim.configure(rates=rates)

    def set_quota(self, count: Optional[int]):
        self.sim.configure(quota={} if count is None else {self.name: count})

    def set_errors(self, rate: float):
        self.sim.configure(error_rate=rate)

    def set_lost_replies(self, rate: float):
        self.sim.configure(lost_reply_rate=rate)

    def refuse_spot(self, on: bool = True):
        self.sim.cloud.faults.refuse_spot(self.name, on=on)

    def stop(self, ids):
        self.sim.cloud.faults.kill(self.name, ids, how="stop")

    def requests(self) -> list:
        return [r for r in self.sim.requests if r.provider == self.name]

    def instances(self, ids) -> list:
        return self.sim.cloud.instances(self.name, ids=set(ids))

    def live_ids(self, tags: dict) -> list:
        return [i.instance_id for i in self.sim.instances(provider=self.name, tags=tags)]

    def in_use(self, region: str, zone: Optional[str] = None) -> int:
        """Live instances counting against quota (region) or stock (zone + the test type)."""
        return len([i for i in self.sim.instances(provider=self.name, region=region)
                    if zone is None or (i.zone == zone and i.instance_type == self.instance_type)])

    def reset(self):
        self.sim.configure(throttle_rate=0.0, capacity={}, quota={}, rates={}, error_rate=0.0, lost_reply_rate=0.0)
        self.refuse_spot(False)


@pytest.fixture(scope="session")
def sim_server():
    """One cloudsim serving every face on one port for the session."""
    try:
        from cloudsim import CloudSim

        sim = CloudSim(credentials={SIM_KEY: SIM_SECRET}, boot_seconds=0.0, seed=20240601)
        server = sim.serve(host="127.0.0.1", port=0)
    except ImportError as exc:  # cloudsim, or its server, not there (yet)
        pytest.skip(f"cloudsim not available: {exc}")
    yield sim, server
    server.stop()


def _sim_env(sim_server, name, region, zone, instance_type, image_id, fake_ids, **extra) -> CloudEnv:
    sim, server = sim_server
    features = frozenset({"idempotency", "throttle", "transient", "capacity", "quota", "bad_key", "bad_secret",
                          "lost_reply", "sim_rates", "spot", "stop"} | set(extra.pop("features", ())))
    return CloudEnv(name=name, endpoint=server.url, region=region, zone=zone, instance_type=instance_type,
                    image_id=image_id, backend=SimBackend(sim, name, zone, instance_type), features=features,
                    fake_ids=fake_ids, **extra)


@pytest.fixture(scope="session")
def alibaba_env(sim_server):
    return _sim_env(sim_server, "AlibabaCloud", "cn-qingdao", "cn-qingdao-b", "ecs.g6.large",
                    "centos_7_6_x64_20G_alibase_20211030.vhd",
                    {"instance": "i-" + "0notthere".ljust(20, "0"), "vpc": "vpc-" + "0notthere".ljust(21, "0"),
                     "security_group": "sg-" + "0notthere".ljust(20, "0")},
                    features={"retry_after"})


@pytest.fixture(scope="session")
def tencent_env(sim_server):
    return _sim_env(sim_server, "TencentCloud", "ap-guangzhou", "ap-guangzhou-3", "S5.MEDIUM4", "img-9qabwvbn",
                    {"instance": "ins-0notthre", "vpc": "vpc-0notthre", "security_group": "sg-0notthre"})


@pytest.fixture(scope="session")
def aws_env(sim_server):
    return _sim_env(sim_server, "AWSCloud", "us-east-1", "us-east-1a", "t3.micro", "ami-0c02fb55956c7d316",
                    {"instance": "i-0123456789abcdef0", "vpc": "vpc-0123456789abcdef0",
                     "security_group": "sg-0123456789abcdef0"})


@pytest.fixture(scope="session")
def huawei_env(sim_server):
    from cloudsim.faces.huawei import project_id
    return _sim_env(sim_server, "HuaweiCloud", "cn-north-4", "cn-north-4a", "s6.large.2",
                    "67f433d8-ed0e-4321-a8a2-a71838539e09",
                    {"instance": "00000000-0000-4000-8000-00000000dead", "vpc": "00000000-0000-4000-8000-0000000b0b0b",
                     "security_group": "00000000-0000-4000-8000-00000000c0de"},
                    regions_api="KeystoneListRegions", instances_api="ListServersDetails",
                    create_api="CreateServers", project_id=project_id("cn-north-4"))


@pytest.fixture(scope="session")
def baidu_env(sim_server):
    return _sim_env(sim_server, "BaiduCloud", "bj", "cn-bj-a", "bcc.g4.c2m8", "m-jDhcEVZs",
                    {"instance": "i-N0tThere", "vpc": "vpc-0notthere000", "security_group": "g-0notthere000"},
                    instances_api="ListInstances", create_api="CreateInstanceBySpec")


class MotoBackend:
    def __init__(self, front):
        self.front = front

    def set_throttle(self, rate: float):
        self.front.throttle_rate = rate

    def set_capacity(self, count: Optional[int]):
        self.front.stock = count

    def requests(self) -> list:
        return list(self.front.log)

    def live_ids(self, tags: dict) -> list:
        """Asked of moto's in-process state, so the front's request log stays the driver's own."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ec2.models import ec2_backends

        filters = {f"tag:{k}": [v] for k, v in tags.items()}
        reservations = ec2_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].describe_instances(filters=filters)
        return [i.id for r in reservations for i in r.instances if i.state in ("pending", "running")]

    def in_use(self, region: str, zone: Optional[str] = None) -> int:
        return 0  # the front counts stock from the moment it is set

    def stop(self, ids):
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ec2.models import ec2_backends

        ec2_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].stop_instances(list(ids))

    def reset(self):
        self.front.throttle_rate = 0.0
        self.front.stock = None


@pytest.fixture(scope="session")
def aws_moto_env():
    """AWS through moto's EC2 server behind a test front (see _moto_front.py)."""
    pytest.importorskip("moto")
    from _moto_front import MotoFront, MotoFrontServer

    server = MotoFrontServer(MotoFront(access_keys={SIM_KEY}))
    images = registry.get_provider("AWSCloud", Credentials(SIM_KEY, SIM_SECRET, endpoint=server.url)).list_images()
    yield CloudEnv(name="AWSCloud", endpoint=server.url, region="us-east-1", zone="us-east-1a",
                   instance_type="t3.micro", image_id=images[0].image_id, backend=MotoBackend(server.front),
                   features=frozenset({"idempotency", "throttle", "capacity", "bad_key", "stop"}),
                   fake_ids={"instance": "i-0123456789abcdef0", "vpc": "vpc-0123456789abcdef0",
                             "security_group": "sg-0123456789abcdef0"})
    server.stop()


@pytest.fixture(params=CLOUDS)
def cloud(request, configure_providers) -> CloudEnv:
    """Each cloud in turn, with our own rate limits off and fast retries; knobs reset after."""
    env = request.getfixturevalue(request.param)
    env.settings = dict(rate_overrides={env.name: unlimited(env.name)}, max_attempts=8,
                        backoff_base=0.005, backoff_cap=0.05)
    configure_providers(**env.settings)
    yield env
    env.backend.reset()


def unlimited(provider_name: str) -> dict:
    """Rate overrides lifting every limit a driver declares."""
    return {api: 0 for api in registry.driver_class(provider_name).limits.rates}


@pytest.fixture
def tags() -> dict:
    """Tags unique to one test, so tests sharing a cloud never see each other's machines."""
    run = uuid.uuid4().hex[:12]
    return {"bridgx-cluster": f"contract-{run}", "bridgx-task": run}

