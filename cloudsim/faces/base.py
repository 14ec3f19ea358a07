"""What every protocol face shares: the request pipeline and error-code lookup.

A face turns one HTTP request into a `Call`, and the pipeline in `Face.handle` runs the checks in
the order the real clouds do: credentials known, signature right, then the fault/rate knobs, then
the handler. Each face supplies its parser, signature check, handlers and error table.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Optional

from werkzeug.wrappers import Request, Response

from ..model import SimError

log = logging.getLogger("cloudsim")


@dataclass
class Call:
    api: str
    service: str  # ecs / vpc / cvm / ec2 ...
    region: str
    access_key: str
    params: dict
    request: Request
    request_id: str
    auth: dict = field(default_factory=dict)  # parsed Authorization header parts


class Face:
    provider = ""
    # api -> op class; anything not listed is "other"
    ops: dict = {}
    # (api, kind, resource) / (kind, resource) / kind -> (http status, code, default message)
    codes: dict = {}

    def __init__(self, sim):
        self.sim = sim
        self.cloud = sim.cloud

    # ---------------------------------------------------------------- to implement
    def matches(self, request: Request) -> bool:
        raise NotImplementedError

    def parse(self, request: Request) -> Call:
        raise NotImplementedError

    def verify(self, call: Call, secret: str) -> bool:
        raise NotImplementedError

    def handler(self, call: Call) -> Callable[[Call], dict]:
        """The function serving call.api; raises SimError("unknown_action") when there is none."""
        raise NotImplementedError

    def success(self, call: Call, result: dict) -> Response:
        raise NotImplementedError

    def failure(self, call: Optional[Call], err: SimError, status: int, code: str, message: str) -> Response:
        raise NotImplementedError

    # ---------------------------------------------------------------- shared
    def op_class(self, api: str) -> str:
        return self.ops.get(api, "other")

    def error_code(self, call: Optional[Call], err: SimError) -> tuple[int, str, str]:
        api = call.api if call else ""
        found = None
        for key in ((api, err.kind, err.resource), (err.kind, err.resource), err.kind):
            if key in self.codes:
                found = self.codes[key]
                break
        status, code, message = found or self.codes.get("invalid", (400, "InvalidParameter", ""))
        if err.code:
            code, status = err.code, err.status or status
        return status, code, err.message or message or code

    def handle(self, request: Request) -> Response:
        ts, call, op = time.time(), None, "other"
        try:
            call = self.parse(request)
            op = self.op_class(call.api)
            if not call.access_key:
                raise SimError("auth_missing", "request")
            secret = self.sim.secret_for(call.access_key)
            if secret is None:
                raise SimError("auth_key", "request")
            if not self.verify(call, secret):
                raise SimError("auth_signature", "request")
            handler = self.handler(call)
            self.sim.admit(self.provider, call.access_key, call.region, op)
            result = handler(call)
            if self.sim.reply_lost():
                raise SimError("internal", "request")
            response, outcome = self.success(call, result), "ok"
        except Exception as exc:  # noqa: BLE001 - every failure becomes the cloud's own error shape
            if not isinstance(exc, SimError):
                log.exception("cloudsim %s face failed on %s", self.provider, call.api if call else "?")
                exc = SimError("internal", "request")
            status, code, message = self.error_code(call, exc)
            response, outcome = self.failure(call, exc, status, code, message), code
        self.sim.record(ts, self.provider, call.api if call else "?", op, call.access_key if call else "",
                        call.region if call else "", outcome)
        return response


# ---------------------------------------------------------------- small helpers for faces
def iso(ts: Optional[float], fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> Optional[str]:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime(fmt)


def to_int(value, name: str, default=None, low=None, high=None, code: Optional[str] = None) -> Optional[int]:
    """Parse an integer parameter, enforcing bounds; raises SimError("invalid", name)."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SimError("invalid", name, f"The parameter {name} must be an integer.", code=code) from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise SimError("invalid", name, f"The parameter {name} must be between {low} and {high}.", code=code)
    return number


def parse_tags(text: Optional[str], sep: str) -> Optional[dict]:
    """`k1<sep>v1,k2` (a key alone asks only for the key) into {k1: v1, k2: None}; all must match."""
    if not text:
        return None
    tags = {}
    for item in text.split(","):
        key, found, value = item.partition(sep)
        if key:
            tags[key] = value if found else None
    return tags


def page(items: list, offset: int, limit: int) -> list:
    return items[offset:offset + limit]


def seq_token(seq: int) -> str:
    """An opaque NextToken for a creation-order cursor (robust to deletions between pages)."""
    return f"sim-{seq:x}"


def token_seq(token: Optional[str]) -> int:
    if not token:
        return 0
    try:
        return int(token.removeprefix("sim-"), 16)
    except ValueError:
        raise SimError("invalid", "NextToken", "The NextToken is not valid.") from None
