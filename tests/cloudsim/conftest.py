"""Fixtures: one emulator server for the session, reset before each test, and real SDK clients."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

# `pytest tests/cloudsim` run from the venv's script does not put the repo root on sys.path, and this
# folder may not own a root conftest or pytest config: make `import cloudsim` work either way.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from cloudsim import CloudSim  # noqa: E402

AK, SK = "AKIDcloudsimtest01", "cloudsim-test-secret"
AK2, SK2 = "AKIDcloudsimtest02", "cloudsim-test-secret-2"


@pytest.fixture(autouse=True)
def _clean_tables():
    """Overrides the root conftest's autouse DB cleanup: these tests never touch the database,
    so they need neither the Flask app nor its migrations."""
    yield


@pytest.fixture(scope="session")
def _served():
    sim = CloudSim(credentials={AK: SK, AK2: SK2}, seed=1)
    server = sim.serve()
    yield sim, server
    server.stop()


@pytest.fixture
def sim(_served):
    """The shared emulator, emptied and with every knob back at its default."""
    sim, _ = _served
    sim.configure(credentials={AK: SK, AK2: SK2}, boot_seconds=0.0, latency={}, rates={}, capacity={}, quota={},
                  error_rate=0.0, throttle_rate=0.0, lost_reply_rate=0.0)
    sim.reset()
    return sim


@pytest.fixture
def server(_served, sim):
    return _served[1]


# ---------------------------------------------------------------- AlibabaCloud
@pytest.fixture
def aliyun(server):
    """aliyun("ecs"|"vpc", ak=..., sk=..., region=...) -> a real Tea SDK client on the emulator."""
    from alibabacloud_ecs20140526.client import Client as EcsClient
    from alibabacloud_tea_openapi.models import Config
    from alibabacloud_vpc20160428.client import Client as VpcClient

    def make(service="ecs", ak=AK, sk=SK, region="cn-qingdao"):
        config = Config(access_key_id=ak, access_key_secret=sk, region_id=region, endpoint=server.endpoint,
                        protocol="http", read_timeout=10000, connect_timeout=5000)
        return (EcsClient if service == "ecs" else VpcClient)(config)
    return make


# ---------------------------------------------------------------- TencentCloud
@pytest.fixture
def tencent(server):
    """tencent("cvm"|"vpc", ak=..., sk=..., region=...) -> a real SDK client on the emulator."""
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.cvm.v20170312 import cvm_client
    from tencentcloud.vpc.v20170312 import vpc_client

    def make(service="cvm", ak=AK, sk=SK, region="ap-guangzhou"):
        profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=server.endpoint))
        cls = cvm_client.CvmClient if service == "cvm" else vpc_client.VpcClient
        return cls(credential.Credential(ak, sk), region, profile)
    return make


# ---------------------------------------------------------------- AWSCloud
@pytest.fixture
def ec2(server):
    """ec2(ak=..., sk=..., region=...) -> a boto3 EC2 client on the emulator, SDK retries off."""
    import boto3
    from botocore.config import Config

    def make(ak=AK, sk=SK, region="us-east-1"):
        return boto3.client("ec2", endpoint_url=server.url, region_name=region, aws_access_key_id=ak,
                            aws_secret_access_key=sk, config=Config(retries={"total_max_attempts": 1}))
    return make
