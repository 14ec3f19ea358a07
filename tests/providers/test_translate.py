"""Each driver's one `translate`: SDK exceptions, built as the SDKs build them, to our error types."""
from __future__ import annotations

import pytest

from app.providers.base import (
    AuthFailed, CloudError, CloudUnavailable, Credentials, InvalidRequest, NotFound, OutOfCapacity,
    QuotaExceeded, Throttled,
)


def alibaba(code, status=400, retry_after=None):
    from alibabacloud_tea_openapi import exceptions as e

    if retry_after is not None:
        return e.ThrottlingException(status_code=status, code=code, message="m", request_id="rid",
                                     retry_after=retry_after)
    cls = e.ClientException if status < 500 else e.ServerException
    return cls(status_code=status, code=code, message="m", request_id="rid")


def alibaba_network():
    import requests
    from darabonba.exceptions import UnretryableException
    from darabonba.policy.retry import RetryPolicyContext

    return UnretryableException(RetryPolicyContext(retries_attempted=1, exception=requests.ConnectionError("refused")))


def tencent(code):
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

    return TencentCloudSDKException(code, "m", "rid")


def aws(code, status=400):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "m"},
                        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "rid"}}, "RunInstances")


def aws_connect():
    from botocore.exceptions import EndpointConnectionError

    return EndpointConnectionError(endpoint_url="http://127.0.0.1:1")


def aws_timeout():
    from botocore.exceptions import ReadTimeoutError

    return ReadTimeoutError(endpoint_url="http://127.0.0.1:1")


CASES = [
    ("AlibabaCloud", lambda: alibaba("Throttling.User"), Throttled),
    ("AlibabaCloud", lambda: alibaba("Throttling"), Throttled),
    ("AlibabaCloud", lambda: alibaba("ServiceUnavailable", 503, retry_after=1500), Throttled),
    ("AlibabaCloud", lambda: alibaba("OperationDenied.NoStock", 403), OutOfCapacity),
    ("AlibabaCloud", lambda: alibaba("QuotaExceed.PostPaidInstance", 403), QuotaExceeded),
    ("AlibabaCloud", lambda: alibaba("InvalidAccessKeyId.NotFound", 404), AuthFailed),
    ("AlibabaCloud", lambda: alibaba("SignatureDoesNotMatch"), AuthFailed),
    ("AlibabaCloud", lambda: alibaba("InvalidVpcId.NotFound", 404), NotFound),
    ("AlibabaCloud", lambda: alibaba("InvalidParameter"), InvalidRequest),
    ("AlibabaCloud", lambda: alibaba("InternalError", 500), CloudUnavailable),
    ("AlibabaCloud", alibaba_network, CloudUnavailable),
    ("AlibabaCloud", lambda: ValueError("parsing bug"), CloudError),
    ("TencentCloud", lambda: tencent("RequestLimitExceeded"), Throttled),
    ("TencentCloud", lambda: tencent("RequestLimitExceeded.UinLimitExceeded"), Throttled),
    ("TencentCloud", lambda: tencent("ResourceInsufficient.SpecifiedInstanceType"), OutOfCapacity),
    ("TencentCloud", lambda: tencent("ResourcesSoldOut.SpecifiedInstanceType"), OutOfCapacity),
    ("TencentCloud", lambda: tencent("LimitExceeded.InstanceQuota"), QuotaExceeded),
    # spot refused (price under the market, spot quota, no spot for the type/region/account): on demand may fit
    ("TencentCloud", lambda: tencent("InvalidParameterValue.InsufficientPrice"), OutOfCapacity),
    ("TencentCloud", lambda: tencent("LimitExceeded.SpotQuota"), OutOfCapacity),
    ("TencentCloud", lambda: tencent("LimitExceeded.UserSpotQuota"), OutOfCapacity),
    ("TencentCloud", lambda: tencent("UnsupportedOperation.NoInstanceTypeSupportSpot"), OutOfCapacity),
    ("TencentCloud", lambda: tencent("UnsupportedOperation.SpotUnsupportedRegion"), OutOfCapacity),
    ("TencentCloud", lambda: tencent("InvalidInstanceChargeType.OnlySupportedForSpot"), OutOfCapacity),
    ("TencentCloud", lambda: tencent("AuthFailure.SecretIdNotFound"), AuthFailed),
    ("TencentCloud", lambda: tencent("AuthFailure.SignatureFailure"), AuthFailed),
    ("TencentCloud", lambda: tencent("InvalidInstanceId.NotFound"), NotFound),
    ("TencentCloud", lambda: tencent("ResourceNotFound"), NotFound),
    ("TencentCloud", lambda: tencent("UnsupportedOperation.InstanceStateTerminating"), NotFound),
    ("TencentCloud", lambda: tencent("InvalidParameterValue"), InvalidRequest),
    ("TencentCloud", lambda: tencent("InternalError"), CloudUnavailable),
    ("TencentCloud", lambda: tencent("ServerNetworkError"), CloudUnavailable),
    ("TencentCloud", lambda: tencent("ClientNetworkError"), CloudUnavailable),
    ("AWSCloud", lambda: aws("RequestLimitExceeded", 503), Throttled),
    ("AWSCloud", lambda: aws("Throttling"), Throttled),
    ("AWSCloud", lambda: aws("InsufficientInstanceCapacity", 500), OutOfCapacity),
    ("AWSCloud", lambda: aws("SpotMaxPriceTooLow"), OutOfCapacity),
    ("AWSCloud", lambda: aws("MaxSpotInstanceCountExceeded"), OutOfCapacity),
    ("AWSCloud", lambda: aws("UnfulfillableCapacity"), OutOfCapacity),
    ("AWSCloud", lambda: aws("InstanceLimitExceeded"), QuotaExceeded),
    ("AWSCloud", lambda: aws("VcpuLimitExceeded"), QuotaExceeded),
    ("AWSCloud", lambda: aws("AuthFailure", 401), AuthFailed),
    ("AWSCloud", lambda: aws("InvalidClientTokenId", 403), AuthFailed),
    ("AWSCloud", lambda: aws("SignatureDoesNotMatch", 403), AuthFailed),
    ("AWSCloud", lambda: aws("InvalidInstanceID.NotFound"), NotFound),
    ("AWSCloud", lambda: aws("InvalidParameterValue"), InvalidRequest),
    ("AWSCloud", lambda: aws("InternalError", 500), CloudUnavailable),
    ("AWSCloud", lambda: aws("Unavailable", 503), CloudUnavailable),
    ("AWSCloud", aws_connect, CloudUnavailable),
    ("AWSCloud", aws_timeout, CloudUnavailable),
]


def provider(name):
    from app.providers import registry

    return registry.driver_class(name)(Credentials("AK", "SK"), "r")


@pytest.mark.parametrize("name,make,expected", CASES,
                         ids=[f"{c[0]}-{i}-{c[2].__name__}" for i, c in enumerate(CASES)])
def test_translate(name, make, expected):
    error = provider(name).translate(make())
    assert type(error) is expected
    assert error.retryable == (expected in (Throttled, CloudUnavailable))


def test_alibaba_retry_after_ms_become_seconds_and_codes_are_kept():
    error = provider("AlibabaCloud").translate(alibaba("Throttling.User", 400, retry_after=1500))
    assert isinstance(error, Throttled) and error.retry_after == 1.5
    assert error.code == "Throttling.User" and error.request_id == "rid"
    assert provider("AlibabaCloud").translate(alibaba("Throttling.User")).retry_after is None


def test_call_translates_sdk_errors_in_one_place():
    p = provider("TencentCloud")

    def fail():
        raise tencent("ResourceInsufficient.SpecifiedInstanceType")

    with pytest.raises(OutOfCapacity) as info:
        p.call("RunInstances", fail)
    assert info.value.code == "ResourceInsufficient.SpecifiedInstanceType"


@pytest.mark.parametrize("value,text", [(0.05, "0.05"), (1e-05, "0.00001"), (2.0, "2"), (0.123456789, "0.123456789")])
def test_spot_prices_go_on_the_wire_as_plain_decimals(value, text):
    from app.providers._util import price_text

    assert price_text(value) == text
