"""BaiduCloud driver: BCC v2 (instances, security groups, catalogue) and VPC v1 (VPCs, subnets)
through bce-python-sdk.

The SDK's default retry policy (3 retries with backoff) is replaced by NoRetryPolicy: our retry
policy is the only one. The BCC and VPC APIs share a host per region (bcc.<region>.baidubce.com);
an endpoint override serves them all. Responses are parsed from the raw JSON outside `call`.
"""
from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Optional

from app.providers._util import delete_tolerating_gone, json_body, parse_time, price_text
from app.providers.base import (
    DELETED, PENDING, RUNNING, STOPPED, AuthFailed, CloudError, CloudUnavailable, CreateResult,
    Image, Instance, InstanceSpec, InstanceType, InvalidRequest, Limits, NotFound, OutOfCapacity,
    Provider, QuotaExceeded, Region, Rule, SecurityGroup, Subnet, Throttled, Vpc, Zone, chunks,
)

_STATUS = {"Starting": PENDING, "Running": RUNNING, "Scaling": RUNNING, "SnapshotProcessing": RUNNING,
           "ImageProcessing": RUNNING, "Recharging": PENDING, "Stopping": STOPPED, "Stopped": STOPPED,
           "Expired": STOPPED, "Deleted": DELETED, "Deleting": DELETED}
_CHARGE = {"PostPaid": "Postpaid", "PrePaid": "Prepaid"}
_INTERNET_CHARGE = {"PayByTraffic": "TRAFFIC_POSTPAID_BY_HOUR", "PayByBandwidth": "BANDWIDTH_POSTPAID_BY_HOUR"}
_THROTTLE_CODES = {"RequestLimitExceeded", "TooManyRequests", "RequestRateLimitExceeded", "Throttling"}
_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidHTTPAuthHeader", "RequestExpired"}
_NOT_FOUND_CODES = {"NoSuchObject", "NoSuchKey", "ResourceNotFound"}
_ANY = "0.0.0.0/0"


@lru_cache(maxsize=64)
def _clients(access_key: str, secret_key: str, endpoint: Optional[str], region_id: str):
    """(BCC, VPC, subnet) clients, built once per account, region and endpoint."""
    import baidubce.protocol
    from baidubce.auth.bce_credentials import BceCredentials
    from baidubce.bce_client_configuration import BceClientConfiguration
    from baidubce.retry.retry_policy import NoRetryPolicy
    from baidubce.services.bcc.bcc_client import BccClient
    from baidubce.services.subnet.subnet_client import SubnetClient
    from baidubce.services.vpc.vpc_client import VpcClient

    # The SDK's default protocol is plain HTTP: the real cloud is always asked over HTTPS; only an
    # override (the operator's allow-list, e.g. the emulator) may say http://.
    protocol = baidubce.protocol.HTTP if (endpoint or "").startswith("http://") else baidubce.protocol.HTTPS

    def config():
        return BceClientConfiguration(credentials=BceCredentials(access_key, secret_key),
                                      endpoint=endpoint or f"https://bcc.{region_id}.baidubce.com",
                                      protocol=protocol, retry_policy=NoRetryPolicy(),
                                      connection_timeout_in_mills=30 * 1000)

    return BccClient(config()), VpcClient(config()), SubnetClient(config())


def _models():
    from baidubce.services.bcc import bcc_model

    return bcc_model


class BaiduProvider(Provider):
    name = "BaiduCloud"
    default_region = "bj"
    limits = Limits(
        # purchaseCount has no stated maximum: batches of 100 like the other clouds; lists page
        # with maxKeys <= 1000.
        max_create=100, max_describe_ids=100, max_delete_ids=100, page_size=100,
        rates={"CreateInstanceBySpec": 5.0, "BatchDeleteInstances": 5.0, "ListInstances": 20.0, "*": 10.0},
        supports_partial_create=False,
    )

    # ------------------------------------------------------------ plumbing
    def _clients(self):
        c = self.credentials
        return _clients(c.access_key, c.secret_key, c.endpoint, self.region_id)

    def _run(self, api: str, fn) -> dict:
        """Run one SDK call under the call policy; the answer's JSON body ({} when empty)."""
        response = self.call(api, fn)
        return json_body(getattr(response, "raw_data", None), self.name, api)

    def _list(self, api: str, key: str, fetch) -> list[dict]:
        """Every item under `key` across marker pages; fetch(marker) returns one page's body."""
        items, marker = [], None
        while True:
            body = self._run(api, lambda m=marker: fetch(m))
            items += body.get(key) or []
            if not body.get("isTruncated") or not body.get("nextMarker") or body["nextMarker"] == marker:
                return items
            marker = body["nextMarker"]

    def translate(self, exc: Exception) -> CloudError:
        from baidubce.exception import BceHttpClientError, BceServerError

        error = exc.last_error if isinstance(exc, BceHttpClientError) else exc
        if isinstance(error, BceServerError):
            code = str(error.code or "")
            status = error.status_code
            request_id = str(error.request_id or "")
            message = str(error)
            if status == 429 or code in _THROTTLE_CODES:
                return Throttled(message, code, request_id)
            if "Stock" in code or "NoEnoughResource" in code:
                return OutOfCapacity(message, code, request_id)
            if "Quota" in code:
                return QuotaExceeded(message, code, request_id)
            if code in _AUTH_CODES:
                return AuthFailed(message, code, request_id)
            if status == 404 or code in _NOT_FOUND_CODES or code.endswith("NotFound"):
                return NotFound(message, code, request_id)
            if status is not None and status >= 500:
                return CloudUnavailable(message, code, request_id)
            return InvalidRequest(message, code, request_id)
        # Anything else the client raised while sending or reading: a connection error, a timeout,
        # or an unreadable answer (a proxy's HTML page, an error body without its three keys).
        if isinstance(exc, BceHttpClientError) or isinstance(error, (OSError, ConnectionError, TimeoutError)):
            return CloudUnavailable(str(error), type(error).__name__)
        if isinstance(error, (ValueError, TypeError)):
            return InvalidRequest(str(error), type(error).__name__)
        return CloudError(str(error), type(error).__name__)

    # ------------------------------------------------------------ instances
    def create_instances(self, spec: InstanceSpec, count: int, client_token: str, tags: dict,
                         min_count: Optional[int] = None) -> CreateResult:
        self.keep_secret(spec.password)
        bcc, _, _ = self._clients()
        model = _models()
        billing, bid = model.Billing(paymentTiming=_CHARGE.get(spec.charge_type, spec.charge_type)), {}
        if spec.spot:
            # A bidding (spot) machine: at the market price, or at most bid_price ("custom").
            billing = model.Billing(paymentTiming="bidding")
            bid = (dict(bid_model="custom", bid_price=price_text(spec.spot_price_limit)) if spec.spot_price_limit
                   else dict(bid_model="market"))
        elif billing.paymentTiming == "Prepaid":
            if spec.period_unit and spec.period_unit not in ("Month", "Year"):
                raise InvalidRequest("BaiduCloud prepaid periods are counted in months or years", "InvalidPeriodUnit")
            billing = model.Billing(paymentTiming="Prepaid", reservationLength=spec.period or 1,
                                    reservationTimeUnit=spec.period_unit or "Month")
        kwargs = dict(
            spec=spec.instance_type, image_id=spec.image_id, purchase_count=count, name=spec.name_prefix,
            zone_name=spec.zone_id, subnet_id=spec.subnet_id, security_group_id=spec.security_group_id,
            admin_pass=spec.password, billing=billing, client_token=client_token,
            tags=[model.TagModel(tagKey=k, tagValue=str(v)) for k, v in tags.items()], **bid)
        if spec.system_disk:
            kwargs.update(root_disk_size_in_gb=spec.system_disk.size, root_disk_storage_type=spec.system_disk.category)
        if spec.data_disks:
            kwargs["create_cds_list"] = [model.CreateCdsModel(cdsSizeInGB=d.size, storageType=d.category)
                                         for d in spec.data_disks]
        if spec.internet_max_bandwidth_out > 0:
            kwargs.update(network_capacity_in_mbps=spec.internet_max_bandwidth_out,
                          internet_charge_type=_INTERNET_CHARGE.get(spec.internet_charge_type or "PayByTraffic",
                                                                    spec.internet_charge_type))
        body = self._run("CreateInstanceBySpec", lambda: bcc.create_instance_by_spec(**kwargs))
        return CreateResult(instance_ids=list(body.get("instanceIds") or []))

    def describe_instances(self, instance_ids: list[str]) -> list[Instance]:
        bcc, _, _ = self._clients()
        found = []
        for batch in chunks(list(instance_ids), self.limits.max_describe_ids):
            raws = self._list("ListInstances", "instances", lambda marker, b=batch: bcc.list_instances(**_given(
                instance_ids=",".join(b), max_keys=self.limits.page_size, marker=marker)))
            found += [_instance(raw) for raw in raws]
        return found

    def describe_instances_by_tags(self, tags: dict) -> list[Instance]:
        if not tags:
            raise InvalidRequest("describe_instances_by_tags needs at least one tag", "MissingTags")
        bcc, _, _ = self._clients()
        (key, value), rest = next(iter(tags.items())), dict(list(tags.items())[1:])
        raws = self._list("ListInstances", "instances", lambda marker: bcc.list_instances(**_given(
            tags=f"{key}:{value}", max_keys=self.limits.page_size, marker=marker)))
        found = {raw["id"]: _instance(raw) for raw in raws}
        # The tag filter takes one tag reliably; the others are checked here.
        return [i for i in found.values() if i.status != DELETED
                and all(i.tags.get(k) == str(v) for k, v in rest.items())]

    def delete_instances(self, instance_ids: list[str]) -> None:
        bcc, _, _ = self._clients()

        def delete(ids):
            # relatedReleaseFlag: the EIP and data disks created with the instances go with them.
            self._run("BatchDeleteInstances", lambda: bcc.batch_delete_instance_with_related_resource(
                ids, related_release_flag=True, client_token=uuid.uuid4().hex))

        for batch in chunks(list(instance_ids), self.limits.max_delete_ids):
            delete_tolerating_gone(self, batch, delete)

    # ------------------------------------------------------------ network
    def create_vpc(self, name: str, cidr_block: str, client_token: Optional[str] = None) -> str:
        _, vpc, _ = self._clients()
        # A token made here, outside `call`, makes our own retries of this create idempotent.
        token = client_token or uuid.uuid4().hex
        return self._run("CreateVpc", lambda: vpc.create_vpc(name, cidr_block, client_token=token))["vpcId"]

    def describe_vpcs(self) -> list[Vpc]:
        _, vpc, _ = self._clients()
        raws = self._list("ListVpcs", "vpcs", lambda marker: vpc.list_vpcs(**_given(
            marker=marker, max_keys=self.limits.page_size)))
        return [Vpc(vpc_id=raw["vpcId"], name=raw.get("name") or "", cidr_block=raw.get("cidr") or "",
                    region_id=self.region_id, created_at=parse_time(raw.get("createdTime")))
                for raw in raws]

    def delete_vpc(self, vpc_id: str) -> None:
        _, vpc, _ = self._clients()
        self._run("DeleteVpc", lambda: vpc.delete_vpc(vpc_id, client_token=uuid.uuid4().hex))

    def create_subnet(self, vpc_id: str, zone_id: str, name: str, cidr_block: str,
                      client_token: Optional[str] = None) -> str:
        _, _, subnet = self._clients()
        token = client_token or uuid.uuid4().hex
        return self._run("CreateSubnet", lambda: subnet.create_subnet(
            name, zone_id, cidr_block, vpc_id, subnet_type="BCC", client_token=token))["subnetId"]

    def describe_subnets(self, vpc_id: Optional[str] = None) -> list[Subnet]:
        _, _, subnet = self._clients()
        raws = self._list("ListSubnets", "subnets", lambda marker: subnet.list_subnets(**_given(
            marker=marker, max_keys=self.limits.page_size, vpc_id=vpc_id)))
        return [Subnet(subnet_id=raw["subnetId"], vpc_id=raw.get("vpcId") or "", zone_id=raw.get("zoneName") or "",
                       name=raw.get("name") or "", cidr_block=raw.get("cidr") or "",
                       available_ip_count=raw.get("availableIp"), created_at=parse_time(raw.get("createdTime")))
                for raw in raws]

    def delete_subnet(self, subnet_id: str, vpc_id: Optional[str] = None) -> None:
        _, _, subnet = self._clients()
        self._run("DeleteSubnet", lambda: subnet.delete_subnet(subnet_id, client_token=uuid.uuid4().hex))

    def create_security_group(self, vpc_id: str, name: str, group_type: str = "normal",
                              rules: Optional[list[Rule]] = None,
                              client_token: Optional[str] = None) -> str:
        bcc, _, _ = self._clients()
        model = _models()
        token = client_token or uuid.uuid4().hex
        # The rules go with the create call: one request, and the group never exists without them.
        wire = [model.SecurityGroupRuleModel(**_rule_fields(r)) for r in rules or []]
        return self._run("CreateSecurityGroup", lambda: bcc.create_security_group(
            name, wire, vpc_id=vpc_id, desc=name, client_token=token))["securityGroupId"]

    def add_security_group_rules(self, group_id: str, rules: list[Rule]) -> None:
        bcc, _, _ = self._clients()
        model = _models()
        for rule in rules:  # one rule per call
            wire = model.SecurityGroupRuleModel(**_rule_fields(rule))
            self._run("AuthorizeSecurityGroupRule", lambda w=wire: bcc.authorize_security_group_rule(group_id, w))

    def describe_security_groups(self, vpc_id: Optional[str] = None) -> list[SecurityGroup]:
        bcc, _, _ = self._clients()
        raws = self._list("ListSecurityGroups", "securityGroups", lambda marker: bcc.list_security_groups(**_given(
            vpc_id=vpc_id, marker=marker, max_keys=self.limits.page_size)))
        return [SecurityGroup(group_id=raw["id"], vpc_id=raw.get("vpcId") or "", name=raw.get("name") or "",
                              rules=[_rule(r) for r in raw.get("rules") or []],
                              created_at=parse_time(raw.get("createdTime")))
                for raw in raws]

    def delete_security_group(self, group_id: str) -> None:
        bcc, _, _ = self._clients()
        self._run("DeleteSecurityGroup", lambda: bcc.delete_security_group(group_id))

    # ------------------------------------------------------------ catalogue
    def list_regions(self) -> list[Region]:
        bcc, _, _ = self._clients()
        body = self._run("DescribeRegions", lambda: bcc.describe_regions(""))
        return [Region(region_id=r["regionId"], local_name=r.get("regionName") or r["regionId"])
                for r in body.get("regions") or []]

    def list_zones(self) -> list[Zone]:
        bcc, _, _ = self._clients()
        body = self._run("ListZones", lambda: bcc.list_zones())
        return [Zone(zone_id=z["zoneName"], local_name=_logical_zone(z["zoneName"])) for z in body.get("zones") or []]

    def list_instance_types(self, zone_id: Optional[str] = None) -> list[InstanceType]:
        bcc, _, _ = self._clients()
        body = self._run("ListFlavorSpec", lambda: bcc.list_flavor_spec(zone_name=zone_id))
        seen, types = set(), []
        for zone in body.get("zoneResources") or []:
            for group in (zone.get("bccResources") or {}).get("flavorGroups") or []:
                for f in group.get("flavors") or []:
                    if f["spec"] in seen:  # without a zone each zone repeats its specs
                        continue
                    seen.add(f["spec"])
                    types.append(InstanceType(family=f["spec"].rsplit(".", 1)[0], instance_type=f["spec"],
                                              cores=int(f.get("cpuCount") or 0),
                                              memory_gb=float(f.get("memoryCapacityInGB") or 0)))
        return types

    def list_images(self) -> list[Image]:
        bcc, _, _ = self._clients()
        raws = self._list("ListImages", "images", lambda marker: bcc.list_images(**_given(
            image_type="All", marker=marker, max_keys=self.limits.page_size)))
        return [Image(image_id=i["id"], os_type="windows" if (i.get("osType") or "").lower() == "windows" else "linux",
                      os_name=" ".join(filter(None, (i.get("osName"), i.get("osVersion")))) or i.get("name") or i["id"])
                for i in raws]


def _given(**kwargs) -> dict:
    """Only the arguments that have a value: some SDK methods reject an explicit None."""
    return {k: v for k, v in kwargs.items() if v is not None}


def _logical_zone(zone_name: str) -> str:
    """The console's name of a zone: cn-bj-a -> zoneA."""
    suffix = zone_name.rsplit("-", 1)[-1]
    return f"zone{suffix.upper()}" if len(suffix) == 1 else zone_name


def _instance(raw: dict) -> Instance:
    return Instance(
        instance_id=raw["id"],
        # An unknown state is reported as pending: the engine keeps polling instead of acting.
        status=_STATUS.get(raw.get("status"), PENDING), ip_inner=raw.get("internalIp") or None,
        ip_outer=raw.get("publicIp") or None, zone_id=raw.get("zoneName"), instance_type=raw.get("spec"),
        tags={t.get("tagKey"): t.get("tagValue") or "" for t in raw.get("tags") or []},
        created_at=parse_time(raw.get("createTime")))


def _rule_fields(rule: Rule) -> dict:
    """Our rule as SecurityGroupRuleModel fields: ports "22/22" -> "22", "80/90" -> "80-90", all -> ""."""
    protocol = rule.protocol.lower()
    low, _, high = (rule.port_range or "-1/-1").partition("/")
    if protocol not in ("tcp", "udp") or low in ("-1", ""):
        ports = ""
    else:
        ports = low if low == (high or low) else f"{low}-{high}"
    side = "source" if (rule.direction or "ingress") == "ingress" else "dest"
    fields = {"direction": rule.direction or "ingress", "ethertype": "IPv4", "protocol": protocol,
              "portRange": ports, "remark": ""}
    if rule.group_id:
        fields[f"{side}GroupId"] = rule.group_id
    else:
        fields[f"{side}Ip"] = rule.cidr_ip or _ANY
    return fields


def _rule(raw: dict) -> Rule:
    direction = raw.get("direction") or "ingress"
    side = "source" if direction == "ingress" else "dest"
    protocol = (raw.get("protocol") or "all").lower()
    ports = str(raw.get("portRange") or "")
    if not ports or protocol not in ("tcp", "udp"):
        port_range = "-1/-1"
    else:
        low, _, high = ports.partition("-")
        port_range = f"{low}/{high or low}"
    group = raw.get(f"{side}GroupId") or None
    cidr = raw.get(f"{side}Ip") or None
    if cidr == "all" or (cidr is None and group is None):
        cidr = _ANY
    return Rule(protocol=protocol, port_range=port_range, direction=direction, cidr_ip=cidr, group_id=group)
