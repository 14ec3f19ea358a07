"""Fixtures: one emulator server for the session, reset before each test, and real SDK clients."""
from __future__ import annotations

import json
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


# ---------------------------------------------------------------- HuaweiCloud
@pytest.fixture
def huawei(server):
    """huawei("ecs"|"vpc", ak=..., sk=..., region=...) -> a real huaweicloudsdk client on the emulator."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkecs.v2 import EcsClient
    from huaweicloudsdkvpc.v2 import VpcClient

    from cloudsim.faces.huawei import project_id

    def make(service="ecs", ak=AK, sk=SK, region="cn-north-4"):
        config = HttpConfig.get_default_config()
        config.retry_times = 0
        cls = EcsClient if service == "ecs" else VpcClient
        return (cls.new_builder().with_http_config(config)
                .with_credentials(BasicCredentials(ak, sk, project_id(region))).with_endpoint(server.url).build())
    return make


# ---------------------------------------------------------------- BaiduCloud
@pytest.fixture
def baidu(server):
    """baidu("bcc"|"vpc"|"subnet", ak=..., sk=...) -> a real bce-python-sdk client on the emulator, no retries."""
    from baidubce.auth.bce_credentials import BceCredentials
    from baidubce.bce_client_configuration import BceClientConfiguration
    from baidubce.retry.retry_policy import NoRetryPolicy
    from baidubce.services.bcc.bcc_client import BccClient
    from baidubce.services.subnet.subnet_client import SubnetClient
    from baidubce.services.vpc.vpc_client import VpcClient

    def make(service="bcc", ak=AK, sk=SK):
        config = BceClientConfiguration(credentials=BceCredentials(ak, sk), endpoint=server.url,
                                        retry_policy=NoRetryPolicy())
        return {"bcc": BccClient, "vpc": VpcClient, "subnet": SubnetClient}[service](config)
    return make


@pytest.fixture
def huawei_get(server):
    """huawei_get(path, query, region=..., global_cred=False) -> the JSON of a GET signed by huaweicloudsdkcore,
    for the services whose SDK package is not installed (IAM /v3/regions, IMS /v2/cloudimages)."""
    from types import SimpleNamespace

    from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
    from huaweicloudsdkcore.client import Client, ClientBuilder
    from huaweicloudsdkcore.sdk_response import SdkResponse

    from cloudsim.faces.huawei import project_id

    class Raw(SdkResponse):
        openapi_types, attribute_map = {}, {}

    class RawClient(Client):
        def __init__(self):
            super().__init__()
            self.model_package = SimpleNamespace(Raw=Raw)

    def get(path, query, region="cn-north-4", global_cred=False):
        cred = GlobalCredentials(AK, SK) if global_cred else BasicCredentials(AK, SK, project_id(region))
        client = ClientBuilder(RawClient, type(cred).__name__).with_credentials(cred).with_endpoint(server.url).build()
        response = client.do_http_request(method="GET", resource_path=path, query_params=list(query.items()),
                                          header_params={"Content-Type": "application/json"}, response_type="Raw")
        return json.loads(response.raw_content)
    return get
