"""HuaweiCloud and BaiduCloud drivers: their one `translate`, and how their SDK clients are built
(project id, endpoint override for every client, no SDK retries). The behaviour against the
emulator is in the contract suite."""
from __future__ import annotations

import pytest

from app.providers import registry
from app.providers.base import (
    AuthFailed, CloudUnavailable, Credentials, InvalidRequest, NotFound, OutOfCapacity, QuotaExceeded, Throttled,
)

ENDPOINT = "http://127.0.0.1:1"


def huawei(status, code):
    from huaweicloudsdkcore.exceptions import exceptions as hx

    cls = hx.ClientRequestException if status < 500 else hx.ServerResponseException
    return cls(status, hx.SdkError(request_id="rid", error_code=code, error_msg="m"))


def huawei_job(code):
    from app.providers.huawei import _JobFailed

    return _JobFailed(code, "the job failed", "job-1")


def huawei_connect():
    from huaweicloudsdkcore.exceptions import exceptions as hx

    return hx.ConnectionException("refused")


def baidu(status, code):
    from baidubce.exception import BceHttpClientError, BceServerError

    return BceHttpClientError("Unable to execute HTTP request", BceServerError("m", status_code=status, code=code,
                                                                               request_id="rid"), status, code, "rid")


def baidu_client_side(error):
    from baidubce.exception import BceHttpClientError

    return BceHttpClientError("Unable to execute HTTP request", error)


CASES = [
    ("HuaweiCloud", lambda: huawei(429, "APIGW.0308"), Throttled),
    ("HuaweiCloud", lambda: huawei(429, "429"), Throttled),  # a GET: urllib3's retry swallowed the body
    ("HuaweiCloud", lambda: huawei(400, "Ecs.0319"), OutOfCapacity),
    ("HuaweiCloud", lambda: huawei_job("Ecs.0319"), OutOfCapacity),
    ("HuaweiCloud", lambda: huawei(400, "Ecs.0001"), QuotaExceeded),
    ("HuaweiCloud", lambda: huawei(401, "APIGW.0301"), AuthFailed),
    ("HuaweiCloud", lambda: huawei(404, "Ecs.0114"), NotFound),
    ("HuaweiCloud", lambda: huawei(404, "VPC.0003"), NotFound),
    ("HuaweiCloud", lambda: huawei(404, "APIGW.0101"), InvalidRequest),  # no such API: a wrong endpoint
    ("HuaweiCloud", lambda: huawei(400, "Ecs.0005"), InvalidRequest),
    ("HuaweiCloud", lambda: huawei(500, "Ecs.0002"), CloudUnavailable),
    ("HuaweiCloud", lambda: huawei(503, "APIGW.0206"), CloudUnavailable),
    ("HuaweiCloud", huawei_connect, CloudUnavailable),
    ("BaiduCloud", lambda: baidu(429, "RequestLimitExceeded"), Throttled),
    ("BaiduCloud", lambda: baidu(400, "Instance.StockInsufficient"), OutOfCapacity),
    ("BaiduCloud", lambda: baidu(400, "Instance.QuotaExceeded"), QuotaExceeded),
    ("BaiduCloud", lambda: baidu(403, "InvalidAccessKeyId"), AuthFailed),
    ("BaiduCloud", lambda: baidu(400, "SignatureDoesNotMatch"), AuthFailed),
    ("BaiduCloud", lambda: baidu(404, "NoSuchObject"), NotFound),
    ("BaiduCloud", lambda: baidu(400, "InappropriateJSON"), InvalidRequest),
    ("BaiduCloud", lambda: baidu(500, "InternalError"), CloudUnavailable),
    ("BaiduCloud", lambda: baidu_client_side(ConnectionRefusedError("refused")), CloudUnavailable),
    # an error body without requestId/code/message: the SDK's own KeyError
    ("BaiduCloud", lambda: baidu_client_side(KeyError("requestId")), CloudUnavailable),
]


@pytest.mark.parametrize("provider,make,expected", CASES)
def test_translate(provider, make, expected):
    driver = registry.get_provider(provider, Credentials("AK", "SK", project_id="p" * 32))
    error = driver.translate(make())
    assert type(error) is expected and error.code


def test_huawei_needs_a_project_id_and_asks_nothing_without_one():
    driver = registry.get_provider("HuaweiCloud", Credentials("AK", "SK", endpoint=ENDPOINT))
    with pytest.raises(InvalidRequest, match="project_id"):
        driver.list_zones()


def test_huawei_endpoint_override_serves_every_client():
    from app.providers.huawei import _clients

    ecs, vpc, ims, iam = _clients("AKOVR", "SK", ENDPOINT, "cn-north-4", "p" * 32)
    for client in (ecs, vpc, ims, iam):
        assert client._endpoints == [ENDPOINT]
        assert client.get_credentials().iam_endpoint == ENDPOINT  # no IAM look-up on the internet either
        assert client._config.retry_times == 0
    assert ecs.get_credentials().project_id == "p" * 32


def test_huawei_regional_endpoints_without_an_override():
    from app.providers.huawei import _clients

    ecs, vpc, ims, iam = _clients("AKREG", "SK", None, "cn-east-3", "p" * 32)
    assert [c._endpoints for c in (ecs, vpc, ims, iam)] == [
        ["https://ecs.cn-east-3.myhuaweicloud.com"], ["https://vpc.cn-east-3.myhuaweicloud.com"],
        ["https://ims.cn-east-3.myhuaweicloud.com"], ["https://iam.myhuaweicloud.com"]]


def test_huawei_create_token_is_a_stable_uuid():
    import uuid

    from app.providers.huawei import _TOKEN_NS

    token = "bx-install-12-0"
    assert uuid.uuid5(_TOKEN_NS, token) == uuid.uuid5(_TOKEN_NS, token) != uuid.uuid5(_TOKEN_NS, token + "x")


def test_baidu_clients_use_the_override_and_no_sdk_retries():
    from baidubce.retry.retry_policy import NoRetryPolicy

    from app.providers.baidu import _clients

    for client in _clients("AKBD", "SK", ENDPOINT, "bj"):
        assert client.config.endpoint == ENDPOINT.encode()
        assert isinstance(client.config.retry_policy, NoRetryPolicy)
    bcc, _, _ = _clients("AKBD", "SK", None, "gz")
    assert bcc.config.endpoint == b"https://bcc.gz.baidubce.com"  # the SDK's default would be plain HTTP
    assert bcc.config.protocol.name == "https"
