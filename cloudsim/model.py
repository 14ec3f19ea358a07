"""The simulated cloud's state: one namespace per provider, thread-safe, in memory.

Faces (one per real API) translate wire requests into calls on `Cloud` and render what it returns
or raises (`SimError`). Nothing here knows a wire format. All public methods take the lock and
return copies, so callers never see an object change under them.

Time is never driven by threads: an instance stores when it will be running (`ready_at`) and its
status is brought up to date whenever it is read.
"""
from __future__ import annotations

import copy
import ipaddress
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

from .catalog import CATALOGUES
from .lifecycle_faults import Faults

PENDING, RUNNING, STOPPED, DELETED = "pending", "running", "stopped", "deleted"


class SimError(Exception):
    """A failure each face renders in its own cloud's error shape.

    kind: auth_missing, auth_key, auth_signature, throttled, internal, unknown_action, missing,
    invalid, not_found, in_use, cidr_invalid, cidr_conflict, no_capacity, quota,
    idempotent_mismatch, ip_exhausted, incorrect_status, duplicate, mismatch, dry_run.
    resource: the kind of object involved ("instance", "vpc", "subnet", "security_group", "image",
    "instance_type", "zone", "region", "rule", or a parameter name for missing/invalid).
    code/status: set by a face to force its own code. detail: extra facts (e.g. available stock).
    """

    def __init__(self, kind: str, resource: str = "", message: str = "", code: Optional[str] = None,
                 status: Optional[int] = None, retry_after: Optional[float] = None, **detail):
        super().__init__(message or f"{kind} {resource}".strip())
        self.kind, self.resource, self.message = kind, resource, message
        self.code, self.status, self.retry_after, self.detail = code, status, retry_after, detail


@dataclass
class SimInstance:
    instance_id: str
    provider: str
    region: str
    zone: str
    instance_type: str
    status: str  # pending / running / deleted
    ip_inner: Optional[str]
    ip_outer: Optional[str]
    tags: dict
    created_at: float  # epoch seconds
    deleted_at: Optional[float] = None
    client_token: Optional[str] = None
    image_id: str = ""
    vpc_id: str = ""
    subnet_id: str = ""
    security_group_ids: list = field(default_factory=list)
    name: str = ""
    cores: int = 0
    memory_gb: float = 0
    bandwidth_out: int = 0
    charge_type: str = ""
    ready_at: float = 0.0  # when pending turns into running
    group_id: str = ""  # one create call's instances share it (the AWS reservation id)
    launch_index: int = 0
    seq: int = 0  # creation order within the provider; stable cursor for token paging
    extra: dict = field(default_factory=dict)  # face-specific leftovers (disks, hostname, ...)


@dataclass
class SimVpc:
    vpc_id: str
    provider: str
    region: str
    name: str
    cidr: str
    created_at: float
    description: str = ""
    tags: dict = field(default_factory=dict)
    is_default: bool = False


@dataclass
class SimSubnet:
    subnet_id: str
    provider: str
    region: str
    vpc_id: str
    zone: str
    name: str
    cidr: str
    created_at: float
    tags: dict = field(default_factory=dict)
    total_ips: int = 0  # usable addresses
    available_ips: int = 0
    gateway: str = ""


@dataclass
class SimRule:
    direction: str  # ingress / egress
    protocol: str  # tcp / udp / icmp / all
    from_port: int = -1
    to_port: int = -1
    cidr: Optional[str] = None
    group_id: Optional[str] = None  # peer group
    policy: str = "accept"  # accept / drop
    priority: int = 1
    description: str = ""
    rule_id: str = ""
    created_at: float = 0.0

    def key(self):
        return (self.direction, self.protocol, self.from_port, self.to_port, self.cidr, self.group_id,
                self.policy)


@dataclass
class SimSecurityGroup:
    group_id: str
    provider: str
    region: str
    vpc_id: Optional[str]  # Tencent groups belong to no VPC
    name: str
    created_at: float
    description: str = ""
    group_type: str = "normal"
    rules: list = field(default_factory=list)
    tags: dict = field(default_factory=dict)


@dataclass
class LaunchSpec:
    """What one create call asks for, already taken out of its wire format."""

    zone: Optional[str]  # None: the subnet's zone
    instance_type: str
    image_id: str
    subnet_id: str
    security_group_ids: list = field(default_factory=list)
    tags: dict = field(default_factory=dict)
    name: str = ""
    bandwidth_out: int = 0
    public_ip: Optional[bool] = None  # None: a public IP when bandwidth_out > 0
    charge_type: str = ""
    client_token: Optional[str] = None
    extra: dict = field(default_factory=dict)


class _Pool:
    """Address allocator for one subnet: fresh addresses first, then released ones."""

    def __init__(self, cidr: str, head: int, tail: int):
        net = ipaddress.ip_network(cidr)
        self.base = int(net.network_address)
        self.next = head
        self.end = net.num_addresses - tail  # exclusive
        self.free: list[int] = []
        self.total = max(0, self.end - head)
        self.used = 0

    def allocate(self) -> str:
        if self.next < self.end:
            offset, self.next = self.next, self.next + 1
        else:
            offset = self.free.pop()
        self.used += 1
        return str(ipaddress.ip_address(self.base + offset))

    def release(self, ip: str) -> None:
        self.free.append(int(ipaddress.ip_address(ip)) - self.base)
        self.used -= 1

    @property
    def available(self) -> int:
        return self.total - self.used


def _snapshot(inst: SimInstance) -> SimInstance:
    """A copy safe to hand out; much cheaper than deepcopy at 10,000 instances (extra is shared, read-only)."""
    snap = copy.copy(inst)
    snap.tags, snap.security_group_ids = dict(inst.tags), list(inst.security_group_ids)
    return snap


def _matches_tags(have: dict, want: Optional[dict]) -> bool:
    """All wanted tags present; a wanted value of None only asks for the key."""
    return not want or all(k in have and (v is None or have[k] == v) for k, v in want.items())


class Cloud:
    """All resources of all providers, behind one lock."""

    def __init__(self, seed: Optional[int] = None):
        self._lock = threading.RLock()
        self._ids = random.Random(seed)
        self.boot_seconds = 0.0
        self.capacity: dict = {}  # (provider, zone, type) -> max live instances
        self.quota: dict = {}  # provider or (provider, region) -> max live instances
        self.faults = Faults(seed)  # elastic-cluster faults (lifecycle_faults.py)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._instances: dict[str, dict[str, SimInstance]] = {p: {} for p in CATALOGUES}
            self._vpcs: dict[str, dict[str, SimVpc]] = {p: {} for p in CATALOGUES}
            self._subnets: dict[str, dict[str, SimSubnet]] = {p: {} for p in CATALOGUES}
            self._groups: dict[str, dict[str, SimSecurityGroup]] = {p: {} for p in CATALOGUES}
            self._pools: dict[tuple, _Pool] = {}
            self._live: dict[tuple, int] = {}  # (provider, zone, type) -> live instance count
            self._tokens: dict[tuple, tuple] = {}
            self._public_next = {p: 1 for p in CATALOGUES}
            self._seq = 0
            # per-provider scratch space for face-specific state (e.g. HuaweiCloud's job records);
            # take `lock` around use, and it is emptied by reset() like everything else
            self.face_data: dict[str, dict] = {p: {} for p in CATALOGUES}
            self.faults.reset()

    # ------------------------------------------------------------------ persistence
    _STATE = ("_instances", "_vpcs", "_subnets", "_groups", "_pools", "_live", "_tokens", "_public_next", "_seq",
              "face_data", "_ids")

    def dump_state(self) -> bytes:
        """Every resource, token and id generator as bytes (pickle: the emulator's own file)."""
        import pickle
        with self._lock:
            return pickle.dumps({name: getattr(self, name) for name in self._STATE}, protocol=pickle.HIGHEST_PROTOCOL)

    def load_state(self, blob: bytes) -> None:
        import pickle
        state = pickle.loads(blob)  # noqa: S301 - a file this emulator wrote under BRIDGX_HOME
        with self._lock:
            for name in self._STATE:
                if name in state:
                    setattr(self, name, state[name])

    # ------------------------------------------------------------------ helpers
    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def catalogue(self, provider: str):
        return CATALOGUES[provider]

    def new_id(self, provider: str, kind: str) -> str:
        prefix, length, alphabet = CATALOGUES[provider].id_shapes[kind]
        with self._lock:
            if prefix == "uuid":
                return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
            return prefix + "".join(self._ids.choice(alphabet) for _ in range(length))

    def request_id(self) -> str:
        with self._lock:
            return str(uuid.UUID(int=self._ids.getrandbits(128), version=4)).upper()

    def check_region(self, provider: str, region: str) -> None:
        if not CATALOGUES[provider].region(region):
            raise SimError("not_found", "region", f"The region '{region}' does not exist.")

    def check_zone(self, provider: str, region: str, zone: str) -> None:
        self.check_region(provider, region)
        if not CATALOGUES[provider].zone(region, zone):
            raise SimError("not_found", "zone", f"The zone '{zone}' does not exist in {region}.")

    def idempotent(self, scope: tuple, token: Optional[str], fingerprint, fn: Callable):
        """Run fn once per (scope, token); later calls get the stored result.

        A different fingerprint under a used token raises idempotent_mismatch (unless the face
        passes fingerprint=None, for clouds that do not compare). Failures store nothing.
        """
        if not token:
            return fn()
        with self._lock:
            hit = self._tokens.get((scope, token))
            if hit is not None:
                if fingerprint is not None and hit[0] is not None and hit[0] != fingerprint:
                    raise SimError("idempotent_mismatch", "client_token",
                                   "The same client token was used with different parameters.")
                return hit[1]
            result = fn()
            self._tokens[(scope, token)] = (fingerprint, result)
            return result

    def _get(self, table: dict, provider: str, kind: str, obj_id: str, region: Optional[str]):
        obj = table[provider].get(obj_id)
        if obj is None or (region and obj.region != region):
            raise SimError("not_found", kind, f"The {kind.replace('_', ' ')} '{obj_id}' does not exist.",
                           id=obj_id)
        return obj

    # ------------------------------------------------------------------ VPCs
    def create_vpc(self, provider: str, region: str, cidr: str, name: str = "", description: str = "",
                   tags: Optional[dict] = None) -> SimVpc:
        self.check_region(provider, region)
        net = self._network(cidr, "vpc")
        low, high = CATALOGUES[provider].net.vpc_prefix
        if not low <= net.prefixlen <= high or not net.is_private:
            raise SimError("cidr_invalid", "vpc", f"The CIDR block {cidr} is not a valid VPC range "
                           f"(private, /{low} to /{high}).")
        with self._lock:
            vpc = SimVpc(self.new_id(provider, "vpc"), provider, region, name, str(net), time.time(),
                         description, dict(tags or {}))
            self._vpcs[provider][vpc.vpc_id] = vpc
            return copy.deepcopy(vpc)

    def vpcs(self, provider: str, region: Optional[str] = None, ids=None) -> list[SimVpc]:
        with self._lock:
            out = [v for v in self._vpcs[provider].values()
                   if (not region or v.region == region) and (ids is None or v.vpc_id in ids)]
            return copy.deepcopy(out)

    def delete_vpc(self, provider: str, region: Optional[str], vpc_id: str, force: bool = False,
                   with_groups_named: tuple = ()) -> None:
        """Delete a VPC; without force, subnets or groups in it (other than `with_groups_named`,
        e.g. AWS's "default") make it in_use. Force removes its subnets and groups too."""
        with self._lock:
            self._get(self._vpcs, provider, "vpc", vpc_id, region)
            subnets = [s for s in self._subnets[provider].values() if s.vpc_id == vpc_id]
            groups = [g for g in self._groups[provider].values() if g.vpc_id == vpc_id]
            if not force:
                if subnets:
                    raise SimError("in_use", "vpc", f"The VPC '{vpc_id}' still has subnets.", dependent="subnet")
                if any(g.name not in with_groups_named for g in groups):
                    raise SimError("in_use", "vpc", f"The VPC '{vpc_id}' still has security groups.",
                                   dependent="security_group")
            for s in subnets:
                del self._subnets[provider][s.subnet_id]
            for g in groups:
                del self._groups[provider][g.group_id]
            del self._vpcs[provider][vpc_id]

    # ------------------------------------------------------------------ subnets
    @staticmethod
    def _network(cidr: str, kind: str):
        try:
            return ipaddress.ip_network(cidr, strict=True)
        except (ValueError, TypeError):
            raise SimError("cidr_invalid", kind, f"The CIDR block '{cidr}' is malformed.") from None

    def create_subnet(self, provider: str, region: str, vpc_id: str, zone: str, cidr: str, name: str = "",
                      tags: Optional[dict] = None, gateway: Optional[str] = None) -> SimSubnet:
        """`gateway` defaults to the first address after the network address."""
        self.check_zone(provider, region, zone)
        net = self._network(cidr, "subnet")
        if gateway is not None:
            try:
                inside = ipaddress.ip_address(gateway) in net
            except ValueError:
                inside = False
            if not inside:
                raise SimError("invalid", "gateway_ip", f"The gateway {gateway} is not inside {cidr}.")
        rules = CATALOGUES[provider].net
        with self._lock:
            vpc = self._get(self._vpcs, provider, "vpc", vpc_id, region)
            low, high = rules.subnet_prefix
            if not net.subnet_of(ipaddress.ip_network(vpc.cidr)) or not low <= net.prefixlen <= high:
                raise SimError("cidr_invalid", "subnet", f"The CIDR block {cidr} is not inside VPC {vpc.cidr} "
                               f"or not between /{low} and /{high}.")
            for other in self._subnets[provider].values():
                if other.vpc_id == vpc_id and net.overlaps(ipaddress.ip_network(other.cidr)):
                    raise SimError("cidr_conflict", "subnet",
                                   f"The CIDR block {cidr} overlaps subnet {other.subnet_id} ({other.cidr}).")
            pool = _Pool(str(net), rules.reserved_head, rules.reserved_tail)
            subnet = SimSubnet(self.new_id(provider, "subnet"), provider, region, vpc_id, zone, name, str(net),
                               time.time(), dict(tags or {}), pool.total, pool.total,
                               gateway or str(net.network_address + 1))
            self._subnets[provider][subnet.subnet_id] = subnet
            self._pools[(provider, subnet.subnet_id)] = pool
            return copy.deepcopy(subnet)

    def subnets(self, provider: str, region: Optional[str] = None, vpc_id: Optional[str] = None,
                ids=None) -> list[SimSubnet]:
        with self._lock:
            out = []
            for s in self._subnets[provider].values():
                if (not region or s.region == region) and (not vpc_id or s.vpc_id == vpc_id) \
                        and (ids is None or s.subnet_id in ids):
                    s.available_ips = self._pools[(provider, s.subnet_id)].available
                    out.append(s)
            return copy.deepcopy(out)

    def delete_subnet(self, provider: str, region: Optional[str], subnet_id: str, force: bool = False) -> None:
        with self._lock:
            self._get(self._subnets, provider, "subnet", subnet_id, region)
            if not force and any(i.subnet_id == subnet_id and i.status != DELETED
                                 for i in self._instances[provider].values()):
                raise SimError("in_use", "subnet", f"The subnet '{subnet_id}' still has instances.",
                               dependent="instance")
            del self._subnets[provider][subnet_id]
            self._pools.pop((provider, subnet_id), None)

    # ------------------------------------------------------------------ security groups
    def create_security_group(self, provider: str, region: str, vpc_id: Optional[str], name: str,
                              description: str = "", group_type: str = "normal",
                              tags: Optional[dict] = None, unique_name: bool = False) -> SimSecurityGroup:
        self.check_region(provider, region)
        with self._lock:
            if vpc_id:
                self._get(self._vpcs, provider, "vpc", vpc_id, region)
            if unique_name and any(g.vpc_id == vpc_id and g.name == name for g in self._groups[provider].values()):
                raise SimError("duplicate", "security_group", f"The security group '{name}' already exists.")
            group = SimSecurityGroup(self.new_id(provider, "security_group"), provider, region, vpc_id, name,
                                     time.time(), description, group_type, [], dict(tags or {}))
            self._groups[provider][group.group_id] = group
            return copy.deepcopy(group)

    def add_rules(self, provider: str, region: Optional[str], group_id: str, rules: list,
                  duplicate_error: bool = False) -> list[SimRule]:
        """Append rules; an identical rule is skipped, or raises duplicate when asked (AWS)."""
        with self._lock:
            group = self._get(self._groups, provider, "security_group", group_id, region)
            added = []
            for rule in rules:
                if rule.group_id:
                    self._get(self._groups, provider, "security_group", rule.group_id, None)
                if any(r.key() == rule.key() for r in group.rules):
                    if duplicate_error:
                        raise SimError("duplicate", "rule", "The specified rule already exists.")
                    continue
                rule = copy.copy(rule)
                rule.rule_id = rule.rule_id or self.new_id(provider, "rule")
                rule.created_at = time.time()
                group.rules.append(rule)
                added.append(rule)
            return copy.deepcopy(added)

    def security_groups(self, provider: str, region: Optional[str] = None, vpc_id: Optional[str] = None,
                        ids=None) -> list[SimSecurityGroup]:
        with self._lock:
            out = [g for g in self._groups[provider].values()
                   if (not region or g.region == region) and (not vpc_id or g.vpc_id == vpc_id)
                   and (ids is None or g.group_id in ids)]
            return copy.deepcopy(out)

    def delete_security_group(self, provider: str, region: Optional[str], group_id: str,
                              force: bool = False) -> None:
        with self._lock:
            self._get(self._groups, provider, "security_group", group_id, region)
            if not force and any(group_id in i.security_group_ids and i.status != DELETED
                                 for i in self._instances[provider].values()):
                raise SimError("in_use", "security_group", f"The security group '{group_id}' is in use.",
                               dependent="instance")
            del self._groups[provider][group_id]

    # ------------------------------------------------------------------ tags on any resource
    def tag(self, provider: str, resource_ids: list, tags: dict) -> None:
        with self._lock:
            tables = (self._instances, self._vpcs, self._subnets, self._groups)
            targets = []
            for rid in resource_ids:
                obj = next((t[provider][rid] for t in tables if rid in t[provider]), None)
                if obj is None:
                    raise SimError("not_found", "resource", f"The resource '{rid}' does not exist.", id=rid)
                targets.append(obj)
            for obj in targets:
                obj.tags.update(tags)

    # ------------------------------------------------------------------ instances
    def _refresh(self, inst: SimInstance, now: float) -> SimInstance:
        if inst.status == PENDING and now >= inst.ready_at:
            inst.status = RUNNING
        return inst

    def _stock_left(self, provider: str, zone: str, itype: str) -> float:
        limit = self.capacity.get((provider, zone, itype))
        return float("inf") if limit is None else max(0, limit - self._live.get((provider, zone, itype), 0))

    def _quota_left(self, provider: str, region: str) -> float:
        limit = self.quota.get((provider, region), self.quota.get(provider))
        if limit is None:
            return float("inf")
        live = sum(1 for i in self._instances[provider].values() if i.region == region and i.status != DELETED)
        return max(0, limit - live)

    def run_instances(self, provider: str, region: str, spec: LaunchSpec, count: int,
                      min_count: Optional[int] = None) -> list[SimInstance]:
        """Create up to `count` instances; fewer (but at least min_count) when stock or quota is short.

        Raises no_capacity / quota (with detail available=N) when fewer than min_count (default:
        count) fit.
        """
        cat = CATALOGUES[provider]
        self.check_region(provider, region)
        itype = cat.instance_type(spec.instance_type)
        if itype is None:
            raise SimError("not_found", "instance_type", f"The instance type '{spec.instance_type}' is not offered.")
        if cat.image(spec.image_id) is None:
            raise SimError("not_found", "image", f"The image '{spec.image_id}' does not exist.")
        with self._lock:
            subnet = self._get(self._subnets, provider, "subnet", spec.subnet_id, region)
            zone = spec.zone or subnet.zone
            self.check_zone(provider, region, zone)
            if zone != subnet.zone:
                raise SimError("mismatch", "zone", f"The subnet '{subnet.subnet_id}' is in {subnet.zone}, not {zone}.")
            for gid in spec.security_group_ids:
                group = self._get(self._groups, provider, "security_group", gid, region)
                if group.vpc_id and group.vpc_id != subnet.vpc_id:
                    raise SimError("mismatch", "security_group",
                                   f"The security group '{gid}' and the subnet are in different VPCs.")
            self.faults.apply(self, time.time())
            refused = self.faults.check_create(provider, zone, itype.name, spec)
            if refused:
                raise SimError("no_capacity", "instance", refused, available=0)
            floor = count if min_count is None else max(1, min(min_count, count))
            stock, quota = self._stock_left(provider, zone, itype.name), self._quota_left(provider, region)
            n = int(min(count, stock, quota))
            if n < floor:
                kind = "no_capacity" if stock <= quota else "quota"
                raise SimError(kind, "instance", f"Only {n} of {count} {itype.name} instances fit in {zone}.",
                               available=n, requested=count)
            pool = self._pools[(provider, subnet.subnet_id)]
            if pool.available < n:
                raise SimError("ip_exhausted", "subnet", f"The subnet '{subnet.subnet_id}' has only "
                               f"{pool.available} free addresses.", available=pool.available)
            now = time.time()
            public = spec.public_ip if spec.public_ip is not None else spec.bandwidth_out > 0
            group_id = self.new_id(provider, "reservation") if "reservation" in cat.id_shapes else ""
            made = []
            for index in range(n):
                iid = self.new_id(provider, "instance")
                while iid in self._instances[provider]:
                    iid = self.new_id(provider, "instance")
                self._seq += 1
                inst = SimInstance(
                    iid, provider, region, zone, itype.name, PENDING, pool.allocate(),
                    self._public_ip(provider) if public else None, dict(spec.tags), now,
                    client_token=spec.client_token, image_id=spec.image_id, vpc_id=subnet.vpc_id,
                    subnet_id=subnet.subnet_id, security_group_ids=list(spec.security_group_ids),
                    name=spec.name or iid, cores=itype.cores, memory_gb=itype.memory_gb,
                    bandwidth_out=spec.bandwidth_out, charge_type=spec.charge_type,
                    ready_at=now + self.boot_seconds, group_id=group_id, launch_index=index, seq=self._seq,
                    extra=copy.deepcopy(spec.extra))
                self._instances[provider][iid] = inst
                made.append(inst)
            key = (provider, zone, itype.name)
            self._live[key] = self._live.get(key, 0) + n
            self.faults.created(made)
            return [_snapshot(i) for i in made]

    def _public_ip(self, provider: str) -> str:
        n = self._public_next[provider]
        self._public_next[provider] += 1
        return str(ipaddress.ip_address(CATALOGUES[provider].public_ip_base) + n)

    def _select(self, providers, region, ids, tags, include_deleted, deleted_since, where):
        """Live objects matching the filters, in creation order; call with the lock held."""
        now = time.time()
        self.faults.apply(self, now)
        for p in providers:
            table = self._instances[p]
            # by id: look up rather than scan, so describing 100 of 10,000 stays cheap
            candidates = sorted((table[i] for i in set(ids) if i in table), key=lambda i: i.seq) \
                if ids is not None else table.values()
            for inst in candidates:
                if region and inst.region != region:
                    continue
                if inst.status == DELETED and not include_deleted and not (
                        deleted_since is not None and inst.deleted_at >= deleted_since):
                    continue
                if _matches_tags(inst.tags, tags) and (where is None or where(self._refresh(inst, now))):
                    yield self._refresh(inst, now)

    def instances(self, provider: Optional[str] = None, region: Optional[str] = None, ids=None,
                  tags: Optional[dict] = None, include_deleted: bool = False,
                  deleted_since: Optional[float] = None, where: Optional[Callable] = None) -> list[SimInstance]:
        """Instances in creation order. `deleted_since` also keeps those deleted after that time (AWS
        shows terminated instances for a while); `where(instance) -> bool` must only read."""
        providers = [provider] if provider else list(CATALOGUES)
        with self._lock:
            return [_snapshot(i) for i in self._select(providers, region, ids, tags, include_deleted,
                                                       deleted_since, where)]

    def instance_page(self, provider: str, region: Optional[str], *, ids=None, tags: Optional[dict] = None,
                      deleted_since: Optional[float] = None, where: Optional[Callable] = None,
                      offset: int = 0, after_seq: int = 0, limit: Optional[int] = None) -> tuple[int, list, bool]:
        """(total matches, one page of copies, more after this page): by offset or by `after_seq`
        cursor. Only the page is copied, which keeps paging through 10,000 instances fast."""
        with self._lock:
            total, chunk, more = 0, [], False
            for inst in self._select([provider], region, ids, tags, False, deleted_since, where):
                total += 1
                if inst.seq <= after_seq:
                    continue
                if offset:
                    offset -= 1
                elif limit is None or len(chunk) < limit:
                    chunk.append(_snapshot(inst))
                else:
                    more = True
            return total, chunk, more

    def delete_instances(self, provider: str, instance_ids: list) -> list[SimInstance]:
        """Mark the live ones deleted (freeing address and stock); returns them as they were before."""
        now = time.time()
        with self._lock:
            before = []
            for iid in dict.fromkeys(instance_ids):
                inst = self._instances[provider].get(iid)
                if inst is None or inst.status == DELETED:
                    continue
                before.append(_snapshot(self._refresh(inst, now)))
                inst.status, inst.deleted_at = DELETED, now
                pool = self._pools.get((provider, inst.subnet_id))
                if pool and inst.ip_inner:
                    pool.release(inst.ip_inner)
                key = (provider, inst.zone, inst.instance_type)
                self._live[key] -= 1
            return before

    def drop_instance(self, provider: str, instance_id: str, at: float, how: str) -> bool:
        """A fault ends a live instance (died, or reclaimed as spot) or stops it ("stop": status
        STOPPED, which each face shows as its cloud's stopped state); call with the lock held."""
        inst = self._instances[provider].get(instance_id)
        if inst is None or inst.status == DELETED:
            return False
        if how == "stop":
            inst.status = STOPPED
            return True
        inst.status, inst.deleted_at = DELETED, at
        inst.extra = dict(inst.extra, ended_by=how)
        pool = self._pools.get((provider, inst.subnet_id))
        if pool and inst.ip_inner:
            pool.release(inst.ip_inner)
        self._live[(provider, inst.zone, inst.instance_type)] -= 1
        return True

    def stock_left(self, provider: str, zone: str, instance_type: str) -> float:
        with self._lock:
            return self._stock_left(provider, zone, instance_type)
