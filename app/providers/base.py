"""The one interface every cloud driver implements, with plain dataclasses in and out.

Drivers import their SDK lazily, translate every SDK exception into the error types below in one
place, and declare their limits as data so the scaling engine plans batches without asking
which cloud it talks to.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Optional, TypeVar

from app.providers.redact import scrub

PROVIDERS = ("AlibabaCloud", "HuaweiCloud", "TencentCloud", "BaiduCloud", "AWSCloud")

# Tag keys written on every machine the scaling engine creates.
TAG_CLUSTER = "bridgx-cluster"
TAG_TASK = "bridgx-task"
TAG_BATCH = "bridgx-batch"

T = TypeVar("T")


# ---------------------------------------------------------------- errors
class CloudError(Exception):
    """A provider-side failure, already translated out of the SDK's own exception types."""

    retryable = False

    def __init__(self, message: str = "", code: str = "", request_id: str = ""):
        super().__init__(message or code)
        self.message = message or code
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code and self.code not in self.message else self.message


class Throttled(CloudError):
    retryable = True

    def __init__(self, message="", code="", request_id="", retry_after: Optional[float] = None):
        super().__init__(message, code, request_id)
        self.retry_after = retry_after  # seconds, when the cloud said


class OutOfCapacity(CloudError):
    """The zone has no stock of that instance type (not retried blindly)."""


class QuotaExceeded(CloudError):
    """The account's quota would be exceeded (not retried blindly)."""


class AuthFailed(CloudError):
    """The access key is unknown or the signature/secret is wrong."""


class NotFound(CloudError):
    """The named resource does not exist (deleting a gone instance is not this: it is a no-op)."""


class InvalidRequest(CloudError):
    """The cloud rejected the parameters."""


class CloudUnavailable(CloudError):
    """Network failure, 5xx, or a timeout: transient, retried."""

    retryable = True


# ---------------------------------------------------------------- data
@dataclass
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)
    endpoint: Optional[str] = None  # e.g. "http://127.0.0.1:8900"; used for every call when set
    project_id: Optional[str] = None  # HuaweiCloud
    extras: dict = field(default_factory=dict)
    # Whose rate budget calls spend: the account row ("org:id"); the access key when None.
    budget: Optional[str] = None


@dataclass
class Disk:
    category: str
    size: int  # GB


@dataclass
class InstanceSpec:
    """Everything a create call needs, taken from a cluster template."""

    zone_id: str
    instance_type: str
    image_id: str
    vpc_id: str
    subnet_id: str
    security_group_id: str
    password: Optional[str] = field(default=None, repr=False)
    system_disk: Optional[Disk] = None
    data_disks: list[Disk] = field(default_factory=list)
    charge_type: str = "PostPaid"  # or PrePaid
    period_unit: Optional[str] = None  # Week / Month
    period: Optional[int] = None
    internet_charge_type: Optional[str] = None  # PayByTraffic / PayByBandwidth
    internet_max_bandwidth_out: int = 0  # Mbit/s; > 0 asks for a public IP
    name_prefix: str = "bridgx"
    spot: bool = False  # a spot/preemptible machine; the cloud's spot refusal is OutOfCapacity
    spot_price_limit: Optional[float] = None  # per machine-hour; None: at most the on-demand price


# Normalised instance states across clouds.
PENDING, RUNNING, STOPPED, DELETED = "pending", "running", "stopped", "deleted"


@dataclass
class Instance:
    instance_id: str
    status: str  # one of PENDING, RUNNING, STOPPED, DELETED
    ip_inner: Optional[str] = None
    ip_outer: Optional[str] = None
    zone_id: Optional[str] = None
    instance_type: Optional[str] = None
    tags: dict = field(default_factory=dict)
    created_at: Optional[datetime] = None


@dataclass
class CreateResult:
    instance_ids: list[str]
    request_id: str = ""


@dataclass
class Rule:
    protocol: str  # tcp / udp / icmp / gre / all
    port_range: str  # "22/22", "-1/-1"
    direction: str = "ingress"  # ingress / egress
    cidr_ip: Optional[str] = None
    group_id: Optional[str] = None
    prefix_list_id: Optional[str] = None


@dataclass
class Vpc:
    vpc_id: str
    name: str
    cidr_block: str
    status: str = "Available"
    region_id: Optional[str] = None
    created_at: Optional[datetime] = None


@dataclass
class Subnet:
    subnet_id: str
    vpc_id: str
    zone_id: str
    name: str
    cidr_block: str
    gateway_ip: Optional[str] = None
    status: str = "Available"
    available_ip_count: Optional[int] = None
    is_default: bool = False
    created_at: Optional[datetime] = None


@dataclass
class SecurityGroup:
    group_id: str
    vpc_id: str
    name: str
    group_type: str = "normal"
    rules: list[Rule] = field(default_factory=list)
    created_at: Optional[datetime] = None


@dataclass
class Region:
    region_id: str
    local_name: str


@dataclass
class Zone:
    zone_id: str
    local_name: str


@dataclass
class InstanceType:
    family: str
    instance_type: str
    cores: int
    memory_gb: float


@dataclass
class Image:
    image_id: str
    os_type: str  # linux / windows
    os_name: str


@dataclass(frozen=True)
class Limits:
    """What one call may carry and how fast a driver may call, from the cloud's documentation."""

    max_create: int  # instances per create call
    max_describe_ids: int  # ids per describe-by-id call
    max_delete_ids: int  # ids per delete call
    page_size: int  # items per list page
    # Default request rates per (account, region, API), calls/second; "*" is the fallback.
    rates: dict = field(default_factory=lambda: {"*": 20.0})
    supports_partial_create: bool = False  # a create may return fewer than asked (MinAmount/MinCount)


# ---------------------------------------------------------------- the interface
class Provider(abc.ABC):
    """One cloud account in one region."""

    name: str = ""
    limits: Limits
    default_region: str = ""  # used to verify an account's keys (a cheap list-regions call)

    def __init__(self, credentials: Credentials, region_id: str, caller: Optional[Callable] = None):
        self.credentials = credentials
        self.region_id = region_id
        # caller(provider, api_name, fn) runs fn under the rate limiter and retry policy (registry).
        self._caller = caller
        self._secrets = {credentials.secret_key}  # values no error text may carry

    def keep_secret(self, value: Optional[str]) -> None:
        """Redact `value` (an instance password, ...) from every error this driver raises."""
        if value:
            self._secrets.add(value)

    def call(self, api: str, fn: Callable[[], T]) -> T:
        """Run one SDK call: rate-limited, retried, with SDK errors translated by `translate` and
        redacted: nothing after this point (retry log lines, task reasons, API answers) sees
        passwords, secrets or signed query strings, whatever the SDK put in its exception."""
        def translated():
            try:
                return fn()
            except CloudError as err:
                raise self.redacted(err)
            except Exception as exc:  # noqa: BLE001 - the one place SDK errors are mapped
                # `from None`: a traceback must not print the SDK's own (unredacted) exception.
                raise self.redacted(self.translate(exc)) from None
        if self._caller is None:
            return translated()
        return self._caller(self, api, translated)

    def redacted(self, err: CloudError) -> CloudError:
        """`err` with secrets, passwords and signed query strings removed (in place)."""
        return scrub(err, self._secrets)

    @abc.abstractmethod
    def translate(self, exc: Exception) -> CloudError:
        """Map one SDK exception to our error types (redacted afterwards by `call`)."""

    # instances -------------------------------------------------------------
    @abc.abstractmethod
    def create_instances(self, spec: InstanceSpec, count: int, client_token: str, tags: dict,
                         min_count: Optional[int] = None) -> CreateResult:
        """Create `count` (≤ limits.max_create) instances in one call.

        The same client token with the same parameters returns the same ids and creates nothing.
        `min_count` lets clouds that support it create fewer when stock runs out.
        """

    @abc.abstractmethod
    def describe_instances(self, instance_ids: list[str]) -> list[Instance]:
        """Describe up to limits.max_describe_ids instances; ids the cloud no longer knows are omitted
        (AWS keeps terminated instances visible for about an hour: those come back as DELETED)."""

    @abc.abstractmethod
    def describe_instances_by_tags(self, tags: dict) -> list[Instance]:
        """Every live instance carrying all these tags, across all pages."""

    @abc.abstractmethod
    def delete_instances(self, instance_ids: list[str]) -> None:
        """Delete up to limits.max_delete_ids instances; ids already gone are not an error."""

    # network ---------------------------------------------------------------
    @abc.abstractmethod
    def create_vpc(self, name: str, cidr_block: str, client_token: Optional[str] = None) -> str: ...

    @abc.abstractmethod
    def describe_vpcs(self) -> list[Vpc]: ...

    @abc.abstractmethod
    def delete_vpc(self, vpc_id: str) -> None: ...

    @abc.abstractmethod
    def create_subnet(self, vpc_id: str, zone_id: str, name: str, cidr_block: str,
                      client_token: Optional[str] = None) -> str: ...

    @abc.abstractmethod
    def describe_subnets(self, vpc_id: Optional[str] = None) -> list[Subnet]: ...

    @abc.abstractmethod
    def delete_subnet(self, subnet_id: str, vpc_id: Optional[str] = None) -> None: ...

    @abc.abstractmethod
    def create_security_group(self, vpc_id: str, name: str, group_type: str = "normal",
                              rules: Optional[list[Rule]] = None,
                              client_token: Optional[str] = None) -> str:
        """Create a group in the VPC and add its rules."""

    @abc.abstractmethod
    def add_security_group_rules(self, group_id: str, rules: list[Rule]) -> None:
        """Add rules to an existing group (the group's region is the driver's)."""

    @abc.abstractmethod
    def describe_security_groups(self, vpc_id: Optional[str] = None) -> list[SecurityGroup]:
        """Every group (of the VPC when given) with its rules."""

    @abc.abstractmethod
    def delete_security_group(self, group_id: str) -> None: ...

    # catalogue -------------------------------------------------------------
    @abc.abstractmethod
    def list_regions(self) -> list[Region]: ...

    @abc.abstractmethod
    def list_zones(self) -> list[Zone]: ...

    @abc.abstractmethod
    def list_instance_types(self, zone_id: Optional[str] = None) -> list[InstanceType]: ...

    @abc.abstractmethod
    def list_images(self) -> list[Image]: ...


def chunks(items: list, size: int) -> list[list]:
    """Split `items` into lists of at most `size`."""
    return [items[i:i + size] for i in range(0, len(items), size)]
