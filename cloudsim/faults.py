"""The fault knobs in JSON form: one table shared by the `cloudsim` flags and `POST /_sim/faults`.

A knob is a `Knob(name, parse, dump, help)`: `parse` turns the JSON value into what
`CloudSim.configure(name=...)` takes (raising ValueError with a reason), `dump` turns the
configured value back into JSON. To add a knob: give `CloudSim.configure` the keyword, then add
one `Knob` to `KNOBS` — the flag `--faults`, the endpoint and `GET /_sim/faults` pick it up.

JSON shapes:
  error_rate, throttle_rate, lost_reply_rate: a fraction 0..1
  boot_seconds: seconds
  latency: seconds, or {"create": 2.0, "*": 0.01, "AlibabaCloud:describe": 0.5}   (slow replies)
  rates: calls/second, keyed like latency
  capacity: [{"provider": "AlibabaCloud", "zone": "cn-qingdao-b", "instance_type": "ecs.g6.large", "max": 250}]
  quota: [{"provider": "AlibabaCloud", "region": "cn-qingdao", "max": 100}]   (region optional)
  stock_outs: [{"provider": "AlibabaCloud", "zone": "cn-qingdao-b", "instance_type": "ecs.g6.large"}]
  spot_refused: ["AlibabaCloud", {"provider": "AlibabaCloud", "zone": "cn-qingdao-b", "instance_type": "ecs.g6.large"}]
  die_after: [{"after": 60, "fraction": 0.1, "spot_only": false, "how": "die"}]   (rules for machines created
    from now on; fraction 1, spot_only false and how "die" by default; how: die, reclaim or stop)
  kill: [{"provider": "AlibabaCloud", "instance_ids": ["i-..."], "after": 0, "how": "stop"}]   (one-offs; after 0
    and how "die" by default; GET shows those not yet due, `after` counted from now; unknown ids are refused)
  (stock_outs, spot_refused, die_after and kill are the faults of cloudsim/lifecycle_faults.py, which also has
  `cloudsim` flags for them)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .lifecycle_faults import HOWS

OPS = ("create", "describe", "delete", "other", "*")


@dataclass(frozen=True)
class Knob:
    name: str
    parse: Callable[[Any], Any]
    dump: Callable[[Any], Any]
    help: str


def _fraction(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError("must be a number from 0 to 1")
    return float(value)


def _seconds(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("must be a number of seconds >= 0")
    return float(value)


def _per_op(value):
    if not isinstance(value, dict):
        return _seconds(value)
    out = {}
    for key, number in value.items():
        provider, sep, op = str(key).rpartition(":")
        if op not in OPS:
            raise ValueError(f"unknown op class {op!r} (one of {', '.join(OPS)})")
        out[(provider, op) if sep else op] = _seconds(number)
    return out


def _dump_per_op(table: dict):
    return {(f"{k[0]}:{k[1]}" if isinstance(k, tuple) else k): v for k, v in table.items()}


def _limit(entry, fields: tuple, optional: tuple = ()):
    if not isinstance(entry, dict):
        raise ValueError("each entry must be an object")
    missing = [f for f in fields + ("max",) if f not in entry]
    if missing:
        raise ValueError("an entry lacks " + ", ".join(missing))
    unknown = set(entry) - set(fields + optional + ("max",))
    if unknown:
        raise ValueError("unknown fields " + ", ".join(sorted(unknown)))
    if isinstance(entry["max"], bool) or not isinstance(entry["max"], int) or entry["max"] < 0:
        raise ValueError("max must be an integer >= 0")
    return entry["max"]


def _capacity(value):
    if not isinstance(value, list):
        raise ValueError("must be a list of {provider, zone, instance_type, max}")
    out = {}
    for e in value:
        n = _limit(e, ("provider", "zone", "instance_type"))
        out[(e["provider"], e["zone"], e["instance_type"])] = n
    return out


def _quota(value):
    if not isinstance(value, list):
        raise ValueError("must be a list of {provider, region?, max}")
    out = {}
    for e in value:
        n = _limit(e, ("provider",), ("region",))
        out[(e["provider"], e["region"]) if e.get("region") else e["provider"]] = n
    return out


def _place(entry) -> tuple:
    if not isinstance(entry, dict) or set(entry) != {"provider", "zone", "instance_type"}:
        raise ValueError("each entry must be {provider, zone, instance_type}")
    return entry["provider"], entry["zone"], entry["instance_type"]


def _stock_outs(value):
    if not isinstance(value, list):
        raise ValueError("must be a list of {provider, zone, instance_type}")
    return {_place(e) for e in value}


def _spot_refused(value):
    if not isinstance(value, list):
        raise ValueError("must be a list of providers or {provider, zone, instance_type}")
    return {e if isinstance(e, str) else _place(e) for e in value}


def _fields(entry, required: tuple, defaults: dict) -> dict:
    """An object with these fields (the optional ones filled from `defaults`) and no others."""
    if not isinstance(entry, dict):
        raise ValueError("each entry must be an object")
    missing = [f for f in required if f not in entry]
    if missing:
        raise ValueError("an entry lacks " + ", ".join(missing))
    unknown = set(entry) - set(required) - set(defaults)
    if unknown:
        raise ValueError("unknown fields " + ", ".join(sorted(unknown)))
    out = {**defaults, **entry}
    if out.get("how", "die") not in HOWS:
        raise ValueError(f"how must be one of {', '.join(HOWS)}, not {out['how']!r}")
    try:
        out["after"] = _seconds(out["after"])
    except ValueError:
        raise ValueError("after must be a number of seconds >= 0") from None
    return out


def _die_after(value):
    if not isinstance(value, list):
        raise ValueError("must be a list of {after, fraction?, spot_only?, how?}")
    rules = [_fields(e, ("after",), {"fraction": 1.0, "spot_only": False, "how": "die"}) for e in value]
    for rule in rules:
        try:
            rule["fraction"] = _fraction(rule["fraction"])
        except ValueError:
            raise ValueError("fraction must be a number from 0 to 1") from None
        if not isinstance(rule["spot_only"], bool):
            raise ValueError("spot_only must be true or false")
    return rules


def _kill(value):
    from .catalog import CATALOGUES
    if not isinstance(value, list):
        raise ValueError("must be a list of {provider, instance_ids, after?, how?}")
    kills = [_fields(e, ("provider", "instance_ids"), {"after": 0.0, "how": "die"}) for e in value]
    for k in kills:
        if k["provider"] not in CATALOGUES:
            raise ValueError(f"unknown provider {k['provider']!r} (one of {', '.join(CATALOGUES)})")
        ids = k["instance_ids"]
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise ValueError("instance_ids must be a non-empty list of instance ids")
    return kills


def _dump_places(keys) -> list:
    return sorted((k if isinstance(k, str) else dict(zip(("provider", "zone", "instance_type"), k)) for k in keys),
                  key=str)


KNOBS = {k.name: k for k in (
    Knob("error_rate", _fraction, float, "fraction of calls answered with a transient 5xx"),
    Knob("throttle_rate", _fraction, float, "fraction of calls answered with the throttling error"),
    Knob("lost_reply_rate", _fraction, float, "fraction of successful calls whose reply is lost (effect kept)"),
    Knob("boot_seconds", _seconds, float, "pending -> running delay"),
    Knob("latency", _per_op, _dump_per_op, "seconds per call (slow replies), per op class"),
    Knob("rates", _per_op, _dump_per_op, "calls/second per key, region and op class"),
    Knob("capacity", _capacity, lambda t: [{"provider": p, "zone": z, "instance_type": i, "max": n}
                                           for (p, z, i), n in t.items()], "live machines per zone and type"),
    Knob("quota", _quota, lambda t: [dict(({"provider": k[0], "region": k[1]} if isinstance(k, tuple)
                                           else {"provider": k}), max=n) for k, n in t.items()],
         "live machines per provider (and region)"),
    Knob("stock_outs", _stock_outs, _dump_places, "(provider, zone, type) answering out of stock"),
    Knob("spot_refused", _spot_refused, _dump_places, "providers or (provider, zone, type) refusing spot"),
    Knob("die_after", _die_after, list, "machines created from now on die, are reclaimed or stop after a delay"),
    Knob("kill", _kill, list, "given machines die, are reclaimed or stop after a delay (pending one-offs)"),
)}


def parse(payload: dict) -> dict:
    """JSON knobs → `CloudSim.configure` keywords; ValueError naming the knob and the reason."""
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object of knobs: " + ", ".join(KNOBS))
    out = {}
    for name, value in payload.items():
        if name not in KNOBS:
            raise ValueError(f"unknown knob {name!r} (one of {', '.join(KNOBS)})")
        try:
            out[name] = KNOBS[name].parse(value)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{name}: {exc}") from None
    return out


def dump(knobs: dict) -> dict:
    """`CloudSim.knobs()` → JSON."""
    return {name: KNOBS[name].dump(value) for name, value in knobs.items() if name in KNOBS}
