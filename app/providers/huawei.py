"""HuaweiCloud driver: ECS (servers, the job API, zones, flavors) and VPC v1 (VPCs, subnets,
security groups) through huaweicloudsdkecs / huaweicloudsdkvpc; regions (IAM) and images (IMS) through
huaweicloudsdkcore's signed client, so the lean package set is enough.

Every call names the account's project id: without one the SDK would ask IAM on the internet for
it. With an endpoint override every client (ECS, VPC, IAM, IMS) talks to that endpoint only. The
SDK's own retries are off (retry_times=0): our retry policy is the only one. Responses are parsed
from the raw JSON outside `call`, so a parsing bug surfaces as itself.
"""
from __future__ import annotations

import ipaddress
import logging
import time
import uuid
from functools import lru_cache
from types import SimpleNamespace
from typing import Optional

from app.providers._util import delete_tolerating_gone, json_body, parse_time, price_text
from app.providers.base import (
    DELETED, PENDING, RUNNING, STOPPED, AuthFailed, CloudError, CloudUnavailable, CreateResult,
    Image, Instance, InstanceSpec, InstanceType, InvalidRequest, Limits, NotFound, OutOfCapacity,
    Provider, QuotaExceeded, Region, Rule, SecurityGroup, Subnet, Throttled, Vpc, Zone, chunks,
)

_STATUS = {"BUILD": PENDING, "REBUILD": PENDING, "ACTIVE": RUNNING, "REBOOT": RUNNING, "HARD_REBOOT": RUNNING,
           "RESIZE": RUNNING, "VERIFY_RESIZE": RUNNING, "MIGRATING": RUNNING, "SHUTOFF": STOPPED,
           "DELETED": DELETED, "SOFT_DELETED": DELETED}
_CHARGE = {"PostPaid": "postPaid", "PrePaid": "prePaid"}
_PERIOD = {"Month": "month", "Year": "year"}
_INTERNET_CHARGE = {"PayByTraffic": "traffic", "PayByBandwidth": "bandwidth"}
_THROTTLE_CODES = {"APIGW.0308", "APIGW.0309", "Ecs.0502"}
_CAPACITY_CODES = {"Ecs.0319", "Ecs.0039", "Ecs.0048"}
_QUOTA_CODES = {"Ecs.0001", "Ecs.0013", "VPC.0006"}
# Namespace of the create tokens: ECS wants a UUID in X-Client-Token, our tokens are free text.
_TOKEN_NS = uuid.UUID("6f1c5a5e-3d0b-4c4e-9a58-0b9d3c1f2a77")
_IAM = "https://iam.myhuaweicloud.com"
_JOB_WAIT = 120.0  # seconds to wait for a create job to name its servers or fail
_IPV6_ANY, _IPV4_ANY = "::/0", "0.0.0.0/0"


class _JobFailed(Exception):
    """A create job that ended in FAIL: the cloud's error code and reason."""

    def __init__(self, code: str, message: str, job_id: str):
        super().__init__(message or code)
        self.error_code, self.error_msg, self.request_id, self.status_code = code, message or code, job_id, None


@lru_cache(maxsize=64)
def _clients(access_key: str, secret_key: str, endpoint: Optional[str], region_id: str, project_id: str):
    """(ECS, VPC, IMS, IAM) clients, built once per account, region, project and endpoint."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
    from huaweicloudsdkcore.client import Client, ClientBuilder
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkcore.sdk_response import SdkResponse
    from huaweicloudsdkecs.v2 import EcsClient
    from huaweicloudsdkvpc.v2 import VpcClient

    class RawResponse(SdkResponse):
        openapi_types: dict = {}
        attribute_map: dict = {}

    class RawClient(Client):
        """Signed REST calls for services whose SDK package is not installed (IAM, IMS)."""

        def __init__(self):
            super().__init__()
            self.model_package = SimpleNamespace(RawResponse=RawResponse)

        def get(self, path: str, query: dict):
            return self.do_http_request(method="GET", resource_path=path, path_params={},
                                        query_params=[(k, v) for k, v in query.items() if v is not None],
                                        header_params={"Content-Type": "application/json"}, body=None,
                                        response_type="RawResponse", collection_formats={})

    config = HttpConfig.get_default_config()
    config.retry_times = 0
    config.timeout = (5, 30)

    def basic():
        cred = BasicCredentials(access_key, secret_key, project_id)
        if endpoint:
            cred.with_iam_endpoint(endpoint)  # never look anything up on the internet
        return cred

    def build(builder, service: str, region_cls=None):
        builder = builder.with_http_config(config)
        if endpoint:
            builder = builder.with_endpoint(endpoint)
        elif region_cls is not None:
            builder = builder.with_region(region_cls.value_of(region_id))
        else:
            builder = builder.with_endpoint(f"https://{service}.{region_id}.myhuaweicloud.com")
        client = builder.build()
        # A failed call is raised, translated and logged by us; the SDK's own log is noise (and
        # writes request URLs at INFO).
        client._logger.addHandler(logging.NullHandler())
        client._logger.setLevel(logging.WARNING)
        return client

    from huaweicloudsdkecs.v2.region.ecs_region import EcsRegion
    from huaweicloudsdkvpc.v2.region.vpc_region import VpcRegion

    ecs = build(EcsClient.new_builder().with_credentials(basic()), "ecs", EcsRegion)
    vpc = build(VpcClient.new_builder().with_credentials(basic()), "vpc", VpcRegion)
    ims = build(ClientBuilder(RawClient).with_credentials(basic()), "ims")
    iam_cred = GlobalCredentials(access_key, secret_key)
    if endpoint:
        iam_cred.with_iam_endpoint(endpoint)
    iam_builder = ClientBuilder(RawClient, "GlobalCredentials").with_credentials(iam_cred).with_http_config(config)
    iam = iam_builder.with_endpoint(endpoint or _IAM).build()
    iam._logger.addHandler(logging.NullHandler())
    iam._logger.setLevel(logging.WARNING)
    return ecs, vpc, ims, iam


def _ecs_models():
    from huaweicloudsdkecs.v2 import model

    return model


def _vpc_models():
    from huaweicloudsdkvpc.v2 import model

    return model


class HuaweiProvider(Provider):
    name = "HuaweiCloud"
    default_region = "cn-north-4"
    limits = Limits(
        # CreateServers takes count <= 100; ListServersDetails pages up to 1000 and takes up to 100
        # server ids; DeleteServers states no limit.
        max_create=100, max_describe_ids=100, max_delete_ids=100, page_size=100,
        # Huawei's API gateway throttles per user and API; conservative defaults.
        rates={"CreateServers": 5.0, "DeleteServers": 5.0, "ShowJob": 20.0, "ListServersDetails": 20.0, "*": 10.0},
        supports_partial_create=False,
    )

    # ------------------------------------------------------------ plumbing
    def _clients(self):
        c = self.credentials
        if not c.project_id:
            raise InvalidRequest("HuaweiCloud accounts need a project_id", "MissingProjectId")
        try:
            return _clients(c.access_key, c.secret_key, c.endpoint, self.region_id, c.project_id)
        except KeyError as exc:  # the SDK knows no endpoint for this region
            raise InvalidRequest(str(exc).strip("'\""), "UnknownRegion") from exc

    @property
    def _ecs(self):
        return self._clients()[0]

    @property
    def _vpc(self):
        return self._clients()[1]

    def _run(self, api: str, fn) -> dict:
        """Run one SDK call under the call policy; the answer's JSON body (empty for 204)."""
        response = self.call(api, fn)
        return json_body(getattr(response, "raw_content", None), self.name, api)

    def translate(self, exc: Exception) -> CloudError:
        from huaweicloudsdkcore.exceptions import exceptions as hx

        if isinstance(exc, (hx.ServiceResponseException, _JobFailed)):
            code = str(exc.error_code or "")
            message = str(exc.error_msg or code)
            request_id = str(exc.request_id or "")
            status = exc.status_code
            if status is not None and code == str(status):
                # No API error in the body (the SDK then quotes the body whole: a proxy's HTML
                # page...): say what happened without echoing it.
                message = f"HTTP {status} without an API error in the reply"
            # A GET answered 429 arrives with code "429" (the SDK's urllib3 retry gives up at once).
            if status == 429 or code in _THROTTLE_CODES:
                return Throttled(message, code, request_id)
            if code in _CAPACITY_CODES:
                return OutOfCapacity(message, code, request_id)
            if code in _QUOTA_CODES:
                return QuotaExceeded(message, code, request_id)
            if code.startswith("APIGW.030") or status == 401:
                return AuthFailed(message, code, request_id)
            if status == 404 and code != "APIGW.0101":
                return NotFound(message, code, request_id)
            if status is not None and status >= 500:
                return CloudUnavailable(message, code, request_id)
            return InvalidRequest(message, code, request_id)
        if isinstance(exc, (hx.ConnectionException, hx.RequestTimeoutException, ConnectionError, TimeoutError,
                            OSError)):
            return CloudUnavailable(str(exc), type(exc).__name__)
        if isinstance(exc, (hx.ApiValueError, hx.ApiTypeError, ValueError, TypeError)):
            return InvalidRequest(str(exc), type(exc).__name__)
        return CloudError(str(exc), type(exc).__name__)

    # ------------------------------------------------------------ instances
    def create_instances(self, spec: InstanceSpec, count: int, client_token: str, tags: dict,
                         min_count: Optional[int] = None) -> CreateResult:
        self.keep_secret(spec.password)
        m = _ecs_models()
        extend = m.PrePaidServerExtendParam(charging_mode=_CHARGE.get(spec.charge_type, spec.charge_type))
        if spec.spot:
            # Spot is a pay-per-use market; without spotPrice ECS bids the on-demand price.
            extend.charging_mode, extend.market_type = "postPaid", "spot"
            extend.spot_price = price_text(spec.spot_price_limit) if spec.spot_price_limit else None
        if extend.charging_mode == "prePaid":
            extend.period_type = _PERIOD.get(spec.period_unit or "Month", (spec.period_unit or "month").lower())
            extend.period_num = spec.period or 1
            extend.is_auto_pay = "true"
        server = m.PrePaidServer(
            image_ref=spec.image_id, flavor_ref=spec.instance_type, name=spec.name_prefix, vpcid=spec.vpc_id,
            nics=[m.PrePaidServerNic(subnet_id=spec.subnet_id)], count=count,
            availability_zone=spec.zone_id, security_groups=[m.PrePaidServerSecurityGroup(id=spec.security_group_id)],
            root_volume=m.PrePaidServerRootVolume(volumetype=spec.system_disk.category if spec.system_disk else "SSD",
                                                  size=spec.system_disk.size if spec.system_disk else None),
            data_volumes=[m.PrePaidServerDataVolume(volumetype=d.category, size=d.size) for d in spec.data_disks]
            or None,
            admin_pass=spec.password, extendparam=extend,
            server_tags=[m.PrePaidServerTag(key=k, value=str(v)) for k, v in tags.items()])
        if spec.internet_max_bandwidth_out > 0:
            server.publicip = m.PrePaidServerPublicip(eip=m.PrePaidServerEip(
                iptype="5_bgp", bandwidth=m.PrePaidServerEipBandwidth(
                    size=spec.internet_max_bandwidth_out, sharetype="PER",
                    chargemode=_INTERNET_CHARGE.get(spec.internet_charge_type or "PayByTraffic", "traffic"))))
        # The same token gives the same UUID, so a retried or replayed batch creates nothing new.
        request = m.CreateServersRequest(x_client_token=str(uuid.uuid5(_TOKEN_NS, client_token)),
                                         body=m.CreateServersRequestBody(server=server))
        body = self._run("CreateServers", lambda: self._ecs.create_servers(request))
        ids = self._wait_job(body.get("job_id"), list(body.get("serverIds") or []), count)
        return CreateResult(instance_ids=ids, request_id=body.get("job_id", ""))

    def _wait_job(self, job_id: Optional[str], ids: list, count: int) -> list:
        """Poll the create job until it fails (raised, translated) or names all its servers."""
        if not job_id:
            return ids
        m = _ecs_models()
        deadline, pause = time.monotonic() + _JOB_WAIT, 0.2
        while True:
            job = self._run("ShowJob", lambda: self._ecs.show_job(m.ShowJobRequest(job_id=job_id)))
            status = job.get("status")
            if status == "FAIL":
                subs = (job.get("entities") or {}).get("sub_jobs") or []
                code = job.get("error_code") or next((s.get("error_code") for s in subs if s.get("error_code")), "")
                reason = job.get("fail_reason") or next((s.get("fail_reason") for s in subs if s.get("fail_reason")),
                                                        "")
                raise self.redacted(self.translate(_JobFailed(code or "Ecs.0000", reason or "the create job failed",
                                                             job_id)))
            named = [s["entities"]["server_id"] for s in (job.get("entities") or {}).get("sub_jobs") or []
                     if (s.get("entities") or {}).get("server_id")]
            ids = ids or named
            if status == "SUCCESS" or len(ids) >= count:
                return ids
            if time.monotonic() > deadline:
                raise CloudUnavailable(f"create job {job_id} named no servers in {_JOB_WAIT:.0f}s", "JobTimeout",
                                       job_id)
            time.sleep(pause)
            pause = min(pause * 1.5, 2.0)

    def _servers(self, **query) -> list[dict]:
        m = _ecs_models()
        request = m.ListServersDetailsRequest(**query)
        return self._run("ListServersDetails", lambda: self._ecs.list_servers_details(request)).get("servers") or []

    def describe_instances(self, instance_ids: list[str]) -> list[Instance]:
        found = []
        for batch in chunks(list(instance_ids), self.limits.max_describe_ids):
            # An id the cloud does not know still gets an entry, with everything but id and fault null.
            found += [_instance(raw) for raw in self._servers(server_id=",".join(batch), limit=len(batch))
                      if raw.get("status")]
        return found

    def describe_instances_by_tags(self, tags: dict) -> list[Instance]:
        if not tags:
            raise InvalidRequest("describe_instances_by_tags needs at least one tag", "MissingTags")
        (key, value), rest = next(iter(tags.items())), dict(list(tags.items())[1:])
        found, marker = {}, None
        while True:
            page = self._servers(tags=f"{key}={value}", limit=self.limits.page_size, marker=marker)
            for raw in page:
                found[raw["id"]] = _instance(raw)
            if len(page) < self.limits.page_size:
                break
            marker = page[-1]["id"]
        # The tag filter takes one tag reliably; the others are checked here.
        return [i for i in found.values() if i.status != DELETED
                and all(i.tags.get(k) == str(v) for k, v in rest.items())]

    def delete_instances(self, instance_ids: list[str]) -> None:
        m = _ecs_models()

        def delete(ids):
            request = m.DeleteServersRequest(body=m.DeleteServersRequestBody(
                servers=[m.ServerId(id=i) for i in ids], delete_publicip=True, delete_volume=True))
            self._run("DeleteServers", lambda: self._ecs.delete_servers(request))

        for batch in chunks(list(instance_ids), self.limits.max_delete_ids):
            delete_tolerating_gone(self, batch, delete)

    # ------------------------------------------------------------ network
    def _pages(self, api: str, key: str, fetch) -> list[dict]:
        """Walk a marker/limit listing of the VPC API; fetch(marker, limit) returns one page's body."""
        items, marker, limit = [], None, self.limits.page_size
        while True:
            page = fetch(marker, limit).get(key) or []
            items += page
            if len(page) < limit:
                return items
            marker = page[-1]["id"]

    def create_vpc(self, name: str, cidr_block: str, client_token: Optional[str] = None) -> str:
        # VPC v1 takes no client token: a retry after a lost answer may leave a spare VPC.
        v = _vpc_models()
        request = v.CreateVpcRequest(body=v.CreateVpcRequestBody(vpc=v.CreateVpcOption(name=name, cidr=cidr_block)))
        return self._run("CreateVpc", lambda: self._vpc.create_vpc(request))["vpc"]["id"]

    def describe_vpcs(self) -> list[Vpc]:
        v = _vpc_models()
        raws = self._pages("ListVpcs", "vpcs", lambda marker, limit: self._run(
            "ListVpcs", lambda: self._vpc.list_vpcs(v.ListVpcsRequest(limit=limit, marker=marker))))
        return [Vpc(vpc_id=raw["id"], name=raw.get("name") or "", cidr_block=raw.get("cidr") or "",
                    status="Available" if raw.get("status") == "OK" else "Pending", region_id=self.region_id,
                    created_at=parse_time(raw.get("created_at")))
                for raw in raws]

    def delete_vpc(self, vpc_id: str) -> None:
        v = _vpc_models()
        self._run("DeleteVpc", lambda: self._vpc.delete_vpc(v.DeleteVpcRequest(vpc_id=vpc_id)))

    def create_subnet(self, vpc_id: str, zone_id: str, name: str, cidr_block: str,
                      client_token: Optional[str] = None) -> str:
        v = _vpc_models()
        # The API wants a gateway: the console's default, the first address of the block.
        gateway = str(ipaddress.ip_network(cidr_block, strict=False).network_address + 1)
        request = v.CreateSubnetRequest(body=v.CreateSubnetRequestBody(subnet=v.CreateSubnetOption(
            name=name, cidr=cidr_block, gateway_ip=gateway, vpc_id=vpc_id, availability_zone=zone_id)))
        return self._run("CreateSubnet", lambda: self._vpc.create_subnet(request))["subnet"]["id"]

    def describe_subnets(self, vpc_id: Optional[str] = None) -> list[Subnet]:
        v = _vpc_models()
        raws = self._pages("ListSubnets", "subnets", lambda marker, limit: self._run(
            "ListSubnets", lambda: self._vpc.list_subnets(v.ListSubnetsRequest(limit=limit, marker=marker,
                                                                               vpc_id=vpc_id))))
        return [Subnet(subnet_id=raw["id"], vpc_id=raw.get("vpc_id") or "", zone_id=raw.get("availability_zone") or "",
                       name=raw.get("name") or "", cidr_block=raw.get("cidr") or "", gateway_ip=raw.get("gateway_ip"),
                       status="Available" if raw.get("status") == "ACTIVE" else "Pending",
                       available_ip_count=raw.get("available_ip_address_count"),
                       created_at=parse_time(raw.get("created_at")))
                for raw in raws]

    def delete_subnet(self, subnet_id: str, vpc_id: Optional[str] = None) -> None:
        v = _vpc_models()
        if not vpc_id:  # the delete path names the VPC
            found = [s for s in self.describe_subnets() if s.subnet_id == subnet_id]
            if not found:
                raise NotFound(f"subnet {subnet_id} does not exist", "VPC.0202")
            vpc_id = found[0].vpc_id
        request = v.DeleteSubnetRequest(vpc_id=vpc_id, subnet_id=subnet_id)
        self._run("DeleteSubnet", lambda: self._vpc.delete_subnet(request))

    def create_security_group(self, vpc_id: str, name: str, group_type: str = "normal",
                              rules: Optional[list[Rule]] = None,
                              client_token: Optional[str] = None) -> str:
        v = _vpc_models()
        request = v.CreateSecurityGroupRequest(body=v.CreateSecurityGroupRequestBody(
            security_group=v.CreateSecurityGroupOption(name=name, vpc_id=vpc_id)))
        group = self._run("CreateSecurityGroup", lambda: self._vpc.create_security_group(request))["security_group"]
        # A new group comes with default rules (all egress, all from its members); adding one of
        # them again is an error, so only the missing rules are added.
        have = {_rule_key(_rule(r)) for r in group.get("security_group_rules") or []}
        self._add_rules(group["id"], [r for r in rules or [] if _rule_key(r) not in have])
        return group["id"]

    def add_security_group_rules(self, group_id: str, rules: list[Rule]) -> None:
        self._add_rules(group_id, rules)

    def _add_rules(self, group_id: str, rules: list[Rule]) -> None:
        v = _vpc_models()
        have = set()
        for rule in rules:
            if _rule_key(rule) in have:
                continue
            have.add(_rule_key(rule))
            option = v.CreateSecurityGroupRuleOption(security_group_id=group_id, **_rule_option(rule))
            body = v.CreateSecurityGroupRuleRequestBody(security_group_rule=option)
            self._run("CreateSecurityGroupRule", lambda b=body: self._vpc.create_security_group_rule(
                v.CreateSecurityGroupRuleRequest(body=b)))

    def describe_security_groups(self, vpc_id: Optional[str] = None) -> list[SecurityGroup]:
        v = _vpc_models()
        raws = self._pages("ListSecurityGroups", "security_groups", lambda marker, limit: self._run(
            "ListSecurityGroups", lambda: self._vpc.list_security_groups(v.ListSecurityGroupsRequest(
                limit=limit, marker=marker, vpc_id=vpc_id))))
        return [SecurityGroup(group_id=raw["id"], vpc_id=raw.get("vpc_id") or "", name=raw.get("name") or "",
                              rules=[_rule(r) for r in raw.get("security_group_rules") or []])
                for raw in raws]

    def delete_security_group(self, group_id: str) -> None:
        v = _vpc_models()
        request = v.DeleteSecurityGroupRequest(security_group_id=group_id)
        self._run("DeleteSecurityGroup", lambda: self._vpc.delete_security_group(request))

    # ------------------------------------------------------------ catalogue
    def list_regions(self) -> list[Region]:
        iam = self._clients()[3]
        body = self._run("KeystoneListRegions", lambda: iam.get("/v3/regions", {}))
        return [Region(region_id=r["id"], local_name=(r.get("locales") or {}).get("zh-cn") or r["id"])
                for r in body.get("regions") or []]

    def list_zones(self) -> list[Zone]:
        m = _ecs_models()
        body = self._run("NovaListAvailabilityZones",
                         lambda: self._ecs.nova_list_availability_zones(m.NovaListAvailabilityZonesRequest()))
        return [Zone(zone_id=z["zoneName"], local_name=z["zoneName"])
                for z in body.get("availabilityZoneInfo") or [] if (z.get("zoneState") or {}).get("available", True)]

    def list_instance_types(self, zone_id: Optional[str] = None) -> list[InstanceType]:
        m = _ecs_models()
        request = m.ListFlavorsRequest(availability_zone=zone_id)
        body = self._run("ListFlavors", lambda: self._ecs.list_flavors(request))
        types = []
        for f in body.get("flavors") or []:
            specs = f.get("os_extra_specs") or {}
            if specs.get("cond:operation:status") == "abandon" or (zone_id and _zone_state(specs, zone_id) in (
                    "abandon", "sellout")):
                continue
            types.append(InstanceType(family=f["id"].split(".")[0], instance_type=f["id"],
                                      cores=int(f.get("vcpus") or 0),
                                      memory_gb=round(float(f.get("ram") or 0) / 1024, 2)))
        return types

    def list_images(self) -> list[Image]:
        ims = self._clients()[2]
        images, marker = [], None
        while True:
            query = {"__imagetype": "gold", "status": "active", "limit": self.limits.page_size, "marker": marker}
            page = self._run("ListImages", lambda q=query: ims.get("/v2/cloudimages", q)).get("images") or []
            images += [Image(image_id=i["id"], os_type="windows" if (i.get("__os_type") or "").lower() == "windows"
                             else "linux", os_name=i.get("__os_version") or i.get("name") or i["id"]) for i in page]
            if len(page) < self.limits.page_size:
                return images
            marker = page[-1]["id"]


def _zone_state(specs: dict, zone_id: str) -> str:
    """A flavor's state in one zone from "cn-north-4a(normal),cn-north-4b(sellout)"; "" when unlisted."""
    for item in (specs.get("cond:operation:az") or "").split(","):
        name, _, state = item.partition("(")
        if name.strip() == zone_id:
            return state.rstrip(")").strip()
    return ""


def _instance(raw: dict) -> Instance:
    inner = outer = None
    for addresses in (raw.get("addresses") or {}).values():
        for a in addresses:
            if str(a.get("version", "4")) != "4":
                continue
            if a.get("OS-EXT-IPS:type") == "floating":
                outer = outer or a.get("addr")
            else:
                inner = inner or a.get("addr")
    tags = {}
    for tag in raw.get("tags") or []:
        key, _, value = str(tag).partition("=")
        tags[key] = value
    return Instance(
        instance_id=raw["id"],
        # An unknown state (ERROR included) is reported as pending: the engine keeps polling.
        status=_STATUS.get(raw.get("status"), PENDING), ip_inner=inner, ip_outer=outer,
        zone_id=raw.get("OS-EXT-AZ:availability_zone"), instance_type=(raw.get("flavor") or {}).get("id"),
        tags=tags, created_at=parse_time(raw.get("created")))


def _rule(raw: dict) -> Rule:
    protocol = raw.get("protocol") or "all"
    low, high = raw.get("port_range_min"), raw.get("port_range_max")
    port_range = f"{low}/{high if high is not None else low}" if low is not None and protocol in ("tcp", "udp") \
        else "-1/-1"
    cidr = raw.get("remote_ip_prefix")
    if cidr is None and raw.get("remote_group_id") is None:
        cidr = _IPV6_ANY if raw.get("ethertype") == "IPv6" else _IPV4_ANY
    return Rule(protocol=protocol.lower(), port_range=port_range, direction=raw.get("direction") or "ingress",
                cidr_ip=cidr, group_id=raw.get("remote_group_id"))


def _rule_key(rule: Rule) -> tuple:
    return rule.protocol.lower(), rule.port_range or "-1/-1", rule.direction or "ingress", rule.cidr_ip, rule.group_id


def _rule_option(rule: Rule) -> dict:
    """Our rule as CreateSecurityGroupRuleOption fields."""
    protocol = rule.protocol.lower()
    option = {"direction": rule.direction or "ingress",
              "ethertype": "IPv6" if rule.cidr_ip and ":" in rule.cidr_ip else "IPv4",
              "protocol": None if protocol == "all" else protocol,
              "remote_ip_prefix": rule.cidr_ip, "remote_group_id": rule.group_id}
    low, _, high = (rule.port_range or "-1/-1").partition("/")
    if protocol in ("tcp", "udp") and low not in ("-1", ""):
        option["port_range_min"], option["port_range_max"] = int(low), int(high or low)
    return option
