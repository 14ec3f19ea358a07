"""HuaweiCloud ECS v1/v1.1 (with the job API), VPC v1, IMS v2 and IAM v3 REST face.

Wire format (huaweicloudsdkcore): REST JSON, the project id in the path (`/v1/{project_id}/...`) and
in the `X-Project-Id` header, signed with SDK-HMAC-SHA256 (`X-Sdk-Date`, `Authorization: SDK-HMAC-SHA256
Access=AK, SignedHeaders=a;b, Signature=hex`). Server creation is asynchronous: `POST
/v1.1/{project_id}/cloudservers` answers `{job_id, serverIds}` and `GET /v1/{project_id}/jobs/{job_id}`
tells how it went; the `X-Client-Token` header (a UUID) makes the create idempotent.

Errors, as the SDK parses them (status >= 400): API gateway `{error_code, error_msg, request_id}`
(APIGW.0301 authentication, APIGW.0308 throttling, APIGW.0101 unknown API); ECS and IMS
`{"error": {"code", "message"}}`; VPC `{code, message}`. A capacity shortage is reported by the
job (FAIL, Ecs.0319), as the real service reports most creation failures.

The region: from a `<service>.<region>.myhuaweicloud.com` Host header when there is one, else from
the project id (`project_id(region)` names each region's project), else the first catalogue region
(cn-north-4): with an endpoint override one project serves one region, as on the real cloud.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from typing import Optional
from urllib.parse import parse_qsl, quote

from werkzeug.wrappers import Response

from ..catalog import CATALOGUES
from ..model import PENDING, STOPPED, LaunchSpec, SimError, SimRule
from .base import Call, Face, iso, parse_tags, to_int

PROVIDER = "HuaweiCloud"
DEFAULT_REGION = CATALOGUES[PROVIDER].regions[0].region_id
_AUTH = re.compile(r"SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-fA-F]+)")
_HOST = re.compile(r"^[a-z]+\.([a-z0-9-]+)\.myhuaweicloud\.com")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_EMPTY_HASH = hashlib.sha256(b"").hexdigest()
_LOCALES = {"cn-north-4": "CN North-Beijing4", "cn-east-3": "CN East-Shanghai1"}
_FLAVOR_TYPES = {"s6": "IOoptimizedS6", "c6": "IOoptimizedC6"}
# model status -> (status, OS-EXT-STS:vm_state, OS-EXT-STS:power_state: 0 no state, 1 running, 4 shut down)
_STATES = {PENDING: ("BUILD", "building", 0), STOPPED: ("SHUTOFF", "stopped", 4)}


def project_id(region: str) -> str:
    """The emulator's project id for `region` (any other id means the first catalogue region)."""
    return hashlib.md5(f"cloudsim-huawei-{region}".encode()).hexdigest()


_PROJECTS = {project_id(r.region_id): r.region_id for r in CATALOGUES[PROVIDER].regions}

# (method, path template, API name, service, handler)
ROUTES = [
    ("POST", "/v1.1/{project_id}/cloudservers", "CreateServers", "ecs", "create_servers"),
    ("GET", "/v1/{project_id}/jobs/{job_id}", "ShowJob", "ecs", "show_job"),
    ("GET", "/v1/{project_id}/cloudservers/detail", "ListServersDetails", "ecs", "list_servers"),
    ("POST", "/v1/{project_id}/cloudservers/delete", "DeleteServers", "ecs", "delete_servers"),
    ("GET", "/v1/{project_id}/cloudservers/flavors", "ListFlavors", "ecs", "list_flavors"),
    ("GET", "/v2.1/{project_id}/os-availability-zone", "NovaListAvailabilityZones", "ecs", "list_zones"),
    ("GET", "/v3/regions", "KeystoneListRegions", "iam", "list_regions"),
    ("GET", "/v2/cloudimages", "ListImages", "ims", "list_images"),
    ("POST", "/v1/{project_id}/vpcs", "CreateVpc", "vpc", "create_vpc"),
    ("GET", "/v1/{project_id}/vpcs", "ListVpcs", "vpc", "list_vpcs"),
    ("DELETE", "/v1/{project_id}/vpcs/{vpc_id}", "DeleteVpc", "vpc", "delete_vpc"),
    ("POST", "/v1/{project_id}/subnets", "CreateSubnet", "vpc", "create_subnet"),
    ("GET", "/v1/{project_id}/subnets", "ListSubnets", "vpc", "list_subnets"),
    ("DELETE", "/v1/{project_id}/vpcs/{vpc_id}/subnets/{subnet_id}", "DeleteSubnet", "vpc", "delete_subnet"),
    ("POST", "/v1/{project_id}/security-groups", "CreateSecurityGroup", "vpc", "create_security_group"),
    ("GET", "/v1/{project_id}/security-groups", "ListSecurityGroups", "vpc", "list_security_groups"),
    ("DELETE", "/v1/{project_id}/security-groups/{security_group_id}", "DeleteSecurityGroup", "vpc",
     "delete_security_group"),
    ("POST", "/v1/{project_id}/security-group-rules", "CreateSecurityGroupRule", "vpc", "create_rule"),
]
_ROUTES = [(method, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "/?$"), api, service, fn)
           for method, path, api, service, fn in ROUTES]

# Errors of the API gateway in front of every service.
_GATEWAY = {"auth_missing", "auth_key", "auth_signature", "throttled", "unknown_action"}


def _states(i) -> tuple:
    return _STATES.get(i.status, ("ACTIVE", "active", 1))


def _time(ts: Optional[float]) -> Optional[str]:
    return iso(ts, "%Y-%m-%dT%H:%M:%SZ")


def _vpc_time(ts: Optional[float]) -> Optional[str]:
    return iso(ts, "%Y-%m-%dT%H:%M:%S")  # VPC v1 writes UTC without a zone


def _latin(value: str) -> str:
    """A header value as the client hashed it (the SDK sends utf-8 bytes read back as latin-1)."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _need(obj: dict, *names: str, code: str = "Ecs.0005") -> None:
    for name in names:
        if obj.get(name) in (None, "", []):
            raise SimError("missing", name, f"Invalid parameter values: '{name}' is required.", code=code)


class HuaweiFace(Face):
    provider = PROVIDER
    ops = {"CreateServers": "create", "ListServersDetails": "describe", "ShowJob": "describe",
           "DeleteServers": "delete"}
    codes = {
        "auth_missing": (401, "APIGW.0301", "Incorrect IAM authentication information: Authorization header "
                                            "not found"),
        "auth_key": (401, "APIGW.0301", "Incorrect IAM authentication information: ak not exist"),
        "auth_signature": (401, "APIGW.0301", "Incorrect IAM authentication information: verify aksk signature "
                                              "fail"),
        "throttled": (429, "APIGW.0308", "The throttling threshold has been reached: policy user over ratelimit"),
        "unknown_action": (404, "APIGW.0101", "The API does not exist or has not been published in the "
                                              "environment"),
        "internal": (500, "Ecs.0002", "A system exception occurred. Try again later or contact customer "
                                      "service."),
        "missing": (400, "Ecs.0005", "Invalid parameter values."),
        "invalid": (400, "Ecs.0005", "Invalid parameter values."),
        "mismatch": (400, "Ecs.0005", "Invalid parameter values."),
        "idempotent_mismatch": (400, "Ecs.0005", "The X-Client-Token was used for a different request."),
        ("not_found", "instance"): (404, "Ecs.0114", "The ECS does not exist."),
        ("not_found", "job"): (404, "Ecs.0104", "The job does not exist."),
        ("not_found", "image"): (400, "Ecs.0005", "The image does not exist."),
        ("not_found", "instance_type"): (400, "Ecs.0005", "The flavor does not exist."),
        ("not_found", "zone"): (400, "Ecs.0005", "The availability zone does not exist."),
        ("not_found", "region"): (400, "Ecs.0005", "The region does not exist."),
        ("CreateServers", "not_found", "subnet"): (400, "Ecs.0005", "The subnet does not exist."),
        ("CreateServers", "not_found", "security_group"): (400, "Ecs.0005", "The security group does not exist."),
        "quota": (400, "Ecs.0001", "Insufficient ECS quota. Contact customer service to increase quota."),
        "no_capacity": (400, "Ecs.0319", "The selected flavor is sold out in this AZ."),
        "ip_exhausted": (400, "Ecs.0012", "Insufficient IP addresses."),
        # VPC service
        ("not_found", "vpc"): (404, "VPC.0003", "VPC does not exist."),
        ("not_found", "subnet"): (404, "VPC.0202", "Subnet does not exist."),
        ("not_found", "security_group"): (404, "VPC.0602", "Security group does not exist."),
        ("cidr_invalid", "vpc"): (400, "VPC.0101", "The CIDR block of the VPC is invalid."),
        ("cidr_invalid", "subnet"): (400, "VPC.0201", "The CIDR block of the subnet is invalid."),
        ("invalid", "gateway_ip"): (400, "VPC.0205", "The gateway IP address is not in the subnet."),
        "cidr_conflict": (400, "VPC.0206", "The subnet CIDR block conflicts with another subnet."),
        ("in_use", "vpc"): (409, "VPC.0005", "The VPC still has subnets or security groups."),
        ("in_use", "subnet"): (409, "VPC.0204", "The subnet is in use."),
        ("in_use", "security_group"): (409, "VPC.0604", "The security group is in use."),
        ("duplicate", "rule"): (409, "VPC.0614", "The security group rule already exists."),
    }

    def __init__(self, sim):
        super().__init__(sim)
        self._jobs_lock = self.cloud.lock

    # ---------------------------------------------------------------- wire
    def matches(self, request) -> bool:
        auth = request.headers.get("Authorization", "")
        return auth.startswith("SDK-HMAC-SHA256") or "X-Sdk-Date" in request.headers

    def parse(self, request) -> Call:
        route = next(((api, service, fn, m.groupdict()) for method, pattern, api, service, fn in _ROUTES
                      if method == request.method and (m := pattern.match(request.path))), None)
        api, service, fn, path_params = route or ("Unknown", "ecs", None, {})
        match = _AUTH.match(request.headers.get("Authorization", ""))
        raw_query = request.query_string.decode("utf-8")
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        call = Call(api, service, self._region(request, path_params), match.group(1) if match else "", {},
                    request, uuid.UUID(self.cloud.request_id()).hex)
        call.auth = {"route": fn, "pairs": pairs}
        if match:
            call.auth.update(signed=match.group(2), signature=match.group(3).lower())
        body = None
        data = request.get_data(cache=True)
        if data and request.method in ("POST", "PUT"):
            try:
                body = json.loads(data)
            except ValueError:
                raise SimError("invalid", "body", "request body is illegal.", code="Ecs.0005") from None
        call.params = {"path": path_params, "query": dict(pairs), "body": body if isinstance(body, dict) else {}}
        return call

    @staticmethod
    def _region(request, path_params: dict) -> str:
        host = _HOST.match(request.host or "")
        if host and CATALOGUES[PROVIDER].region(host.group(1)):
            return host.group(1)
        pid = path_params.get("project_id") or request.headers.get("X-Project-Id", "")
        return _PROJECTS.get(pid, DEFAULT_REGION)

    def verify(self, call: Call, secret: str) -> bool:
        """Recompute SDK-HMAC-SHA256 as huaweicloudsdkcore.signer.Signer does."""
        req = call.request
        date = req.headers.get("X-Sdk-Date", "")
        if not date or "signed" not in call.auth:
            return False
        signed = call.auth["signed"].split(";")
        headers = "".join(f"{h}:{_latin(req.headers.get(h, '')).strip()}\n" for h in signed)
        segments = [quote(part, safe="~") for part in req.path.split("/")]
        uri = "/".join(segments)
        uri = uri if uri.endswith("/") else uri + "/"
        query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(call.auth["pairs"]))
        body = req.get_data(cache=True)
        payload = req.headers.get("X-Sdk-Content-Sha256") or (hashlib.sha256(body).hexdigest() if body
                                                               else _EMPTY_HASH)
        canonical = f"{req.method}\n{uri}\n{query}\n{headers}\n{';'.join(signed)}\n{payload}"
        to_sign = f"SDK-HMAC-SHA256\n{date}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        expected = hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, call.auth["signature"])

    def handler(self, call: Call):
        name = call.auth.get("route")
        if name is None:
            raise SimError("unknown_action", call.api, f"The API {call.request.method} {call.request.path} does "
                                                       "not exist or has not been published in the environment")
        return getattr(self, name)

    def _json(self, call_id: str, status: int, body) -> Response:
        response = Response(json.dumps(body) if body is not None else "", status=status,
                            content_type="application/json" if body is not None else None)
        response.headers["X-Request-Id"] = call_id
        return response

    def success(self, call: Call, result) -> Response:
        status = result.pop("__status__", 200) if isinstance(result, dict) else 200
        return self._json(call.request_id, status, result if status != 204 else None)

    def failure(self, call, err, status, code, message) -> Response:
        request_id = call.request_id if call else uuid.UUID(self.cloud.request_id()).hex
        service = call.service if call else "ecs"
        if err.kind in _GATEWAY:
            body = {"error_code": code, "error_msg": message, "request_id": request_id}
        elif service == "vpc":
            code = code if err.code or not code.startswith("Ecs.") else _VPC_GENERIC.get(err.kind, "VPC.0001")
            body = {"code": code, "message": message}
        elif service == "iam":
            body = {"error": {"code": status, "message": message, "title": "Error"}}
        elif service == "ims":
            code = code if not code.startswith("Ecs.") else "IMG.0001"
            body = {"error": {"code": code, "message": message}}
        else:
            body = {"error": {"code": code, "message": message}}
        return self._json(request_id, status, body)

    # ---------------------------------------------------------------- ECS: servers and jobs
    def _jobs(self) -> dict:
        return self.cloud.face_data[PROVIDER].setdefault("jobs", {})

    def _new_job(self, job: dict) -> str:
        job_id = "ff80808" + uuid.UUID(self.cloud.new_id(PROVIDER, "job")).hex[7:]
        with self._jobs_lock:
            self._jobs()[job_id] = dict(job, begin=time.time())
        return job_id

    def create_servers(self, call: Call) -> dict:
        region = call.region
        body = call.params["body"]
        server = body.get("server")
        if not isinstance(server, dict):
            raise SimError("missing", "server", "Invalid parameter values: 'server' is required.")
        _need(server, "imageRef", "flavorRef", "name", "vpcid", "nics", "root_volume")
        nics = server["nics"]
        if not isinstance(nics, list) or not nics[0].get("subnet_id"):
            raise SimError("missing", "nics", "Invalid parameter values: 'nics.subnet_id' is required.")
        _need(server["root_volume"], "volumetype")
        count = to_int(server.get("count"), "count", 1, 1, 100, code="Ecs.0005")
        token = call.request.headers.get("X-Client-Token")
        if token is not None and not _UUID.match(token):
            raise SimError("invalid", "X-Client-Token", "X-Client-Token must be a UUID.", code="Ecs.0005")
        subnet = self.cloud.subnets(PROVIDER, region, ids={nics[0]["subnet_id"]})
        if subnet and subnet[0].vpc_id != server["vpcid"]:
            raise SimError("mismatch", "subnet", "The subnet does not belong to the VPC in 'vpcid'.")
        eip = (server.get("publicip") or {}).get("eip") or {}
        bandwidth = to_int((eip.get("bandwidth") or {}).get("size"), "bandwidth.size", 0, 0, 2000,
                           code="Ecs.0005") if eip else 0
        extend = server.get("extendparam") or {}
        prepaid = str(extend.get("chargingMode", "postPaid")) in ("prePaid", "1")
        spot = not prepaid and extend.get("marketType") == "spot"  # marketType counts only for postPaid
        tags = {t.get("key"): t.get("value", "") for t in server.get("server_tags") or [] if t.get("key")}
        spec = LaunchSpec(
            zone=server.get("availability_zone") or None, instance_type=server["flavorRef"],
            image_id=server["imageRef"], subnet_id=nics[0]["subnet_id"],
            security_group_ids=[g.get("id") for g in server.get("security_groups") or [] if g.get("id")],
            tags=tags, name=server["name"], bandwidth_out=bandwidth, public_ip=bool(eip) or None,
            charge_type="prePaid" if prepaid else "postPaid", client_token=token,
            extra={"batch": count, "root_volume": server["root_volume"],
                   "data_volumes": server.get("data_volumes") or [], "request_id": call.request_id,
                   "spot_strategy": "spot" if spot else "NoSpot",
                   "spot_price_limit": (extend.get("spotPrice") or None) if spot else None})

        def create():
            try:
                made = self.cloud.run_instances(PROVIDER, region, spec, count)
            except SimError as err:
                if err.kind != "no_capacity":
                    raise
                # Accepted, then failed by the job: the planned servers are rolled back.
                planned = [self.cloud.new_id(PROVIDER, "instance") for _ in range(count)]
                status, code, message = self.error_code(call, err)
                job_id = self._new_job({"type": "createServer", "ids": planned, "fail": (code, message)})
                return {"job_id": job_id, "serverIds": planned}
            ids = [i.instance_id for i in made]
            return {"job_id": self._new_job({"type": "createServer", "ids": ids}), "serverIds": ids}

        fingerprint = json.dumps(body, sort_keys=True)
        result = self.cloud.idempotent((PROVIDER, call.access_key, region, "CreateServers"), token, fingerprint,
                                       create)
        if prepaid:
            result = dict(result, order_id="CS" + result["job_id"][-16:].upper())
        return dict(result)

    def show_job(self, call: Call) -> dict:
        job_id = call.params["path"]["job_id"]
        with self._jobs_lock:
            job = self._jobs().get(job_id)
        if job is None:
            raise SimError("not_found", "job", f"Job [{job_id}] does not exist.")
        known = {i.instance_id: i for i in self.cloud.instances(PROVIDER, ids=set(job["ids"]), include_deleted=True)}
        subs = []
        for n, iid in enumerate(job["ids"]):
            inst = known.get(iid)
            if job.get("fail") or inst is None:
                state = "FAIL"
            elif job["type"] == "createServer" and inst.status == PENDING:
                state = "RUNNING"
            else:
                state = "SUCCESS"
            code, reason = job.get("fail") or (None, None)
            subs.append({"status": state, "entities": {"server_id": iid},
                         "job_id": f"{job_id[:-4]}{n:04x}", "job_type": job["type"].replace("Server", "SingleServer"),
                         "begin_time": _time(job["begin"]), "end_time": _time(job["begin"]) if state != "RUNNING"
                         else "", "error_code": code, "fail_reason": reason})
        states = {s["status"] for s in subs}
        status = "FAIL" if "FAIL" in states else "RUNNING" if "RUNNING" in states else "SUCCESS"
        code, reason = job.get("fail") or (None, None)
        return {"status": status, "job_id": job_id, "job_type": job["type"], "begin_time": _time(job["begin"]),
                "end_time": "" if status == "RUNNING" else _time(time.time()),
                "entities": {"sub_jobs_total": len(subs), "sub_jobs": subs},
                "error_code": code, "fail_reason": reason}

    def _server(self, i, groups: dict) -> dict:
        image = self.cloud.catalogue(PROVIDER).image(i.image_id)
        pending, state = i.status == PENDING, _states(i)
        mac = "fa:16:3e:" + ":".join(i.instance_id.replace("-", "")[k:k + 2] for k in (0, 2, 4))
        addresses = [{"version": "4", "addr": i.ip_inner, "OS-EXT-IPS:type": "fixed",
                      "OS-EXT-IPS-MAC:mac_addr": mac, "OS-EXT-IPS:port_id": str(uuid.uuid5(uuid.NAMESPACE_OID,
                                                                                             i.instance_id))}]
        if i.ip_outer:
            addresses.append({"version": "4", "addr": i.ip_outer, "OS-EXT-IPS:type": "floating",
                              "OS-EXT-IPS-MAC:mac_addr": mac, "OS-EXT-IPS:port_id": addresses[0]["OS-EXT-IPS:port_id"]})
        batch = i.extra.get("batch", 1)
        return {
            "id": i.instance_id, "name": f"{i.name}-{i.launch_index + 1:04d}" if batch > 1 else i.name,
            "status": state[0], "addresses": {i.vpc_id: addresses},
            "flavor": {"id": i.instance_type, "name": i.instance_type, "disk": "0", "vcpus": str(i.cores),
                       "ram": str(int(i.memory_gb * 1024))},
            "image": {"id": i.image_id}, "OS-EXT-AZ:availability_zone": i.zone,
            "created": _time(i.created_at), "updated": _time(i.created_at),
            "OS-SRV-USG:launched_at": "" if pending else iso(i.ready_at, "%Y-%m-%dT%H:%M:%S.000000"),
            "OS-SRV-USG:terminated_at": "", "OS-EXT-STS:vm_state": state[1],
            "OS-EXT-STS:task_state": "spawning" if pending else "", "OS-EXT-STS:power_state": state[2],
            "tags": [f"{k}={v}" for k, v in i.tags.items()],
            "sys_tags": [{"key": "_sys_enterprise_project_id", "value": "0"}],
            # charging_mode: "0" pay-per-use, "1" yearly/monthly, "2" spot
            "metadata": {"charging_mode": "2" if i.extra.get("spot_strategy") == "spot" else
                         "1" if i.charge_type == "prePaid" else "0", "vpc_id": i.vpc_id,
                         "metering.image_id": i.image_id, "metering.imagetype": "gold",
                         "metering.resourcespeccode": f"{i.instance_type}.linux", "image_name": image.name if image
                         else "", "os_type": "Linux"},
            "security_groups": [{"id": g, "name": groups.get(g, "")} for g in i.security_group_ids],
            "key_name": None, "tenant_id": "", "user_id": "", "hostId": "", "host_status": "UP",
            "description": "", "locked": False, "config_drive": "", "progress": 0 if pending else 100,
            "accessIPv4": "", "accessIPv6": "", "enterprise_project_id": "0", "fault": None,
            "os-extended-volumes:volumes_attached": [], "OS-DCF:diskConfig": "MANUAL",
        }

    def list_servers(self, call: Call) -> dict:
        q = call.params["query"]
        region = call.region
        limit = to_int(q.get("limit"), "limit", 25, 1, 1000, code="Ecs.0005")
        page = max(to_int(q.get("offset"), "offset", 1, 0, code="Ecs.0005"), 1)  # a page number, not an item offset
        groups = {g.group_id: g.name for g in self.cloud.security_groups(PROVIDER, region)}
        if q.get("server_id"):
            # server_id overrides every other filter; an unknown id still gets an entry: id and fault only
            wanted = [s for s in q["server_id"].split(",") if s]
            found = {i.instance_id: i for i in self.cloud.instances(PROVIDER, region, ids=set(wanted))}
            servers = []
            for sid in dict.fromkeys(wanted):
                if sid in found:
                    servers.append(self._server(found[sid], groups))
                else:
                    servers.append({"id": sid, "fault": {"code": 404, "message": "Instance could not be found",
                                                         "created": _time(time.time()), "details": ""},
                                    **{k: None for k in ("name", "status", "addresses", "flavor", "tags",
                                                         "OS-EXT-AZ:availability_zone", "created")}})
            return {"count": len(servers), "servers": servers[(page - 1) * limit:page * limit]}
        status = q.get("status")
        where = None
        if status:
            where = lambda i: _states(i)[0] == status  # noqa: E731
        after = 0
        if q.get("marker"):
            marker = self.cloud.instances(PROVIDER, ids={q["marker"]}, include_deleted=True)
            if not marker:
                raise SimError("invalid", "marker", f"The marker [{q['marker']}] is invalid.")
            after = marker[0].seq
        total, chunk, _ = self.cloud.instance_page(
            PROVIDER, region, tags=parse_tags(q.get("tags"), "="), where=where, after_seq=after,
            offset=(page - 1) * limit if not after else 0, limit=limit)
        return {"count": total, "servers": [self._server(i, groups) for i in chunk]}

    def delete_servers(self, call: Call) -> dict:
        body = call.params["body"]
        servers = body.get("servers")
        if not servers or not isinstance(servers, list):
            raise SimError("missing", "servers", "Invalid parameter values: 'servers' is required.")
        ids = [str(s.get("id", "")) for s in servers]
        live = {i.instance_id for i in self.cloud.instances(PROVIDER, call.region, ids=set(ids))}
        gone = [i for i in ids if i not in live]
        if gone:
            raise SimError("not_found", "instance", f"Instance[{gone[0]}] could not be found.")
        self.cloud.delete_instances(PROVIDER, ids)
        return {"job_id": self._new_job({"type": "deleteServer", "ids": ids})}

    # ---------------------------------------------------------------- catalogue
    def list_regions(self, call: Call) -> dict:
        base = f"http://{call.request.host}/v3/regions"
        return {"regions": [
            {"id": r.region_id, "type": "public", "parent_region_id": None, "description": "",
             "locales": {"zh-cn": r.name, "en-us": _LOCALES.get(r.region_id, r.region_id)},
             "links": {"self": f"{base}/{r.region_id}"}} for r in self.cloud.catalogue(PROVIDER).regions],
            "links": {"self": base, "previous": None, "next": None}}

    def list_zones(self, call: Call) -> dict:
        zones = self.cloud.catalogue(PROVIDER).region(call.region).zones
        return {"availabilityZoneInfo": [{"zoneName": z.zone_id, "zoneState": {"available": True}, "hosts": None}
                                         for z in zones]}

    def list_flavors(self, call: Call) -> dict:
        q = call.params["query"]
        cat = self.cloud.catalogue(PROVIDER)
        zones = cat.region(call.region).zones
        if q.get("availability_zone"):
            self.cloud.check_zone(PROVIDER, call.region, q["availability_zone"])
        flavors = []
        for t in cat.instance_types:
            states = ",".join(
                f"{z.zone_id}({'normal' if self.cloud.stock_left(PROVIDER, z.zone_id, t.name) > 0 else 'sellout'})"
                for z in zones)
            flavors.append({
                "id": t.name, "name": t.name, "vcpus": str(t.cores), "ram": int(t.memory_gb * 1024), "disk": "0",
                "swap": "", "links": [], "OS-FLV-EXT-DATA:ephemeral": 0, "rxtx_factor": 1.0,
                "OS-FLV-DISABLED:disabled": False, "rxtx_quota": None, "rxtx_cap": None,
                "os-flavor-access:is_public": True,
                "os_extra_specs": {"ecs:performancetype": "normal", "ecs:virtualization_env_types": "CloudCompute",
                                   "resource_type": _FLAVOR_TYPES.get(t.family, t.family),
                                   "cond:operation:status": "normal", "cond:operation:az": states}})
        return {"flavors": flavors}

    def list_images(self, call: Call) -> dict:
        q = call.params["query"]
        images = list(self.cloud.catalogue(PROVIDER).images)
        if q.get("id"):
            images = [i for i in images if i.image_id == q["id"]]
        if q.get("__platform"):
            images = [i for i in images if i.platform == q["__platform"]]
        limit = to_int(q.get("limit"), "limit", 500, 1, 1000, code="IMG.0001")
        start = 0
        if q.get("marker"):
            ids = [i.image_id for i in images]
            start = ids.index(q["marker"]) + 1 if q["marker"] in ids else len(ids)
        chunk = images[start:start + limit]
        out = {"images": [
            {"id": i.image_id, "name": i.name, "status": "active", "visibility": "public", "__imagetype": "gold",
             "__os_type": "Windows" if i.os_type == "windows" else "Linux", "__platform": i.platform,
             "__os_version": i.os_name, "__os_bit": "64", "__support_kvm": "true", "min_disk": i.size_gb,
             "min_ram": 0, "disk_format": "zvhd2", "container_format": "bare", "protected": True,
             "created_at": "2021-10-30T02:25:00Z", "updated_at": "2021-10-30T02:25:00Z",
             "self": f"/v2/images/{i.image_id}", "file": f"/v2/images/{i.image_id}/file",
             "schema": "/v2/schemas/image", "tags": []} for i in chunk],
            "first": f"/v2/cloudimages?limit={limit}"}
        if start + limit < len(images):
            out["next"] = f"/v2/cloudimages?limit={limit}&marker={chunk[-1].image_id}"
        return out

    # ---------------------------------------------------------------- VPC
    def _vpc(self, v) -> dict:
        return {"id": v.vpc_id, "name": v.name, "description": v.description, "cidr": v.cidr, "status": "OK",
                "routes": [], "enterprise_project_id": "0", "tenant_id": "",
                "created_at": _vpc_time(v.created_at), "updated_at": _vpc_time(v.created_at)}

    def create_vpc(self, call: Call) -> dict:
        vpc = call.params["body"].get("vpc")
        if not isinstance(vpc, dict):
            raise SimError("missing", "vpc", "Invalid parameter: 'vpc' is required.", code="VPC.0001")
        created = self.cloud.create_vpc(PROVIDER, call.region, vpc.get("cidr") or "192.168.0.0/16",
                                        vpc.get("name", ""), vpc.get("description", ""))
        return {"vpc": self._vpc(created)}

    @staticmethod
    def _after_marker(items: list, key: str, q: dict, code: str) -> list:
        limit = to_int(q.get("limit"), "limit", 2000, 1, 2000, code=code)
        start = 0
        if q.get("marker"):
            ids = [getattr(i, key) for i in items]
            if q["marker"] not in ids:
                raise SimError("invalid", "marker", f"The marker [{q['marker']}] is invalid.", code=code)
            start = ids.index(q["marker"]) + 1
        return items[start:start + limit]

    def list_vpcs(self, call: Call) -> dict:
        q = call.params["query"]
        vpcs = self.cloud.vpcs(PROVIDER, call.region, {q["id"]} if q.get("id") else None)
        return {"vpcs": [self._vpc(v) for v in self._after_marker(vpcs, "vpc_id", q, "VPC.0001")]}

    def delete_vpc(self, call: Call) -> dict:
        self.cloud.delete_vpc(PROVIDER, call.region, call.params["path"]["vpc_id"])
        return {"__status__": 204}

    def _subnet(self, s) -> dict:
        return {"id": s.subnet_id, "name": s.name, "description": "", "cidr": s.cidr, "gateway_ip": s.gateway,
                "ipv6_enable": False, "dhcp_enable": True, "primary_dns": "100.125.1.250",
                "secondary_dns": "100.125.129.250", "dnsList": ["100.125.1.250", "100.125.129.250"],
                "availability_zone": s.zone, "vpc_id": s.vpc_id, "status": "ACTIVE",
                "neutron_network_id": s.subnet_id, "neutron_subnet_id": str(uuid.uuid5(uuid.NAMESPACE_OID,
                                                                                      s.subnet_id)),
                "extra_dhcp_opts": [], "tenant_id": "", "available_ip_address_count": s.available_ips,
                "created_at": _vpc_time(s.created_at), "updated_at": _vpc_time(s.created_at)}

    def create_subnet(self, call: Call) -> dict:
        sub = call.params["body"].get("subnet")
        if not isinstance(sub, dict):
            raise SimError("missing", "subnet", "Invalid parameter: 'subnet' is required.", code="VPC.0201")
        _need(sub, "name", "cidr", "gateway_ip", "vpc_id", code="VPC.0201")
        zone = sub.get("availability_zone") or self.cloud.catalogue(PROVIDER).region(call.region).zones[0].zone_id
        created = self.cloud.create_subnet(PROVIDER, call.region, sub["vpc_id"], zone, sub["cidr"], sub["name"],
                                           gateway=sub["gateway_ip"])
        out = self._subnet(created)
        out["status"] = "UNKNOWN"  # a new subnet turns ACTIVE a moment later
        return {"subnet": out}

    def list_subnets(self, call: Call) -> dict:
        q = call.params["query"]
        subnets = self.cloud.subnets(PROVIDER, call.region, q.get("vpc_id") or None)
        return {"subnets": [self._subnet(s) for s in self._after_marker(subnets, "subnet_id", q, "VPC.0201")]}

    def delete_subnet(self, call: Call) -> dict:
        path = call.params["path"]
        found = self.cloud.subnets(PROVIDER, call.region, ids={path["subnet_id"]})
        if not found or found[0].vpc_id != path["vpc_id"]:
            raise SimError("not_found", "subnet", f"Subnet {path['subnet_id']} does not exist in VPC {path['vpc_id']}.")
        self.cloud.delete_subnet(PROVIDER, call.region, path["subnet_id"])
        return {"__status__": 204}

    @staticmethod
    def _rule(r, group_id: str) -> dict:
        ports = r.protocol in ("tcp", "udp") and r.from_port != -1
        return {"id": r.rule_id, "description": r.description, "security_group_id": group_id,
                "direction": r.direction, "ethertype": "IPv6" if r.cidr and ":" in r.cidr else "IPv4",
                "protocol": None if r.protocol == "all" else r.protocol,
                "port_range_min": r.from_port if ports else None, "port_range_max": r.to_port if ports else None,
                "remote_ip_prefix": r.cidr, "remote_group_id": r.group_id, "remote_address_group_id": None,
                "tenant_id": ""}

    def _group(self, g) -> dict:
        return {"id": g.group_id, "name": g.name, "description": g.description, "vpc_id": g.vpc_id or "",
                "enterprise_project_id": "0",
                "security_group_rules": [self._rule(r, g.group_id) for r in g.rules]}

    def create_security_group(self, call: Call) -> dict:
        sg = call.params["body"].get("security_group")
        if not isinstance(sg, dict):
            raise SimError("missing", "security_group", "Invalid parameter: 'security_group' is required.",
                           code="VPC.0601")
        _need(sg, "name", code="VPC.0601")
        group = self.cloud.create_security_group(PROVIDER, call.region, sg.get("vpc_id") or None, sg["name"],
                                                 sg.get("description", ""))
        # A new group allows all egress and all traffic from its own members.
        self.cloud.add_rules(PROVIDER, call.region, group.group_id, [
            SimRule("egress", "all", cidr="0.0.0.0/0"), SimRule("egress", "all", cidr="::/0"),
            SimRule("ingress", "all", group_id=group.group_id)])
        return {"security_group": self._group(self.cloud.security_groups(PROVIDER, ids={group.group_id})[0])}

    def list_security_groups(self, call: Call) -> dict:
        q = call.params["query"]
        groups = self.cloud.security_groups(PROVIDER, call.region, q.get("vpc_id") or None)
        return {"security_groups": [self._group(g) for g in self._after_marker(groups, "group_id", q, "VPC.0601")]}

    def delete_security_group(self, call: Call) -> dict:
        self.cloud.delete_security_group(PROVIDER, call.region, call.params["path"]["security_group_id"])
        return {"__status__": 204}

    def create_rule(self, call: Call) -> dict:
        rule = call.params["body"].get("security_group_rule")
        if not isinstance(rule, dict):
            raise SimError("missing", "security_group_rule", "Invalid parameter: 'security_group_rule' is required.",
                           code="VPC.0601")
        _need(rule, "security_group_id", "direction", code="VPC.0601")
        direction = rule["direction"]
        if direction not in ("ingress", "egress"):
            raise SimError("invalid", "direction", "direction must be ingress or egress.", code="VPC.0601")
        protocol = (rule.get("protocol") or "all").lower()
        if protocol not in ("tcp", "udp", "icmp", "all", "icmpv6", "gre"):
            raise SimError("invalid", "protocol", f"Invalid protocol {protocol}.", code="VPC.0601")
        low, high = rule.get("port_range_min"), rule.get("port_range_max")
        if protocol in ("tcp", "udp") and low is not None:
            low = to_int(low, "port_range_min", None, 1, 65535, code="VPC.0601")
            high = to_int(high if high is not None else low, "port_range_max", None, low, 65535, code="VPC.0601")
        else:
            low = high = -1
        remote_ip = rule.get("remote_ip_prefix") or None
        remote_group = rule.get("remote_group_id") or None
        if remote_ip is None and remote_group is None:
            remote_ip = "::/0" if rule.get("ethertype") == "IPv6" else "0.0.0.0/0"
        [added] = self.cloud.add_rules(PROVIDER, call.region, rule["security_group_id"], [SimRule(
            direction, protocol, low, high, remote_ip, remote_group, description=rule.get("description", ""))],
            duplicate_error=True)
        return {"security_group_rule": self._rule(added, rule["security_group_id"])}


_VPC_GENERIC = {"missing": "VPC.0001", "invalid": "VPC.0001", "internal": "VPC.0500", "mismatch": "VPC.0001"}
