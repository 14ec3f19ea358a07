"""`python -m cloudsim` / `manage.py cloudsim`: serve the emulator until Ctrl-C."""
from __future__ import annotations

import argparse
import json
import secrets
import threading
from typing import Optional

from .catalog import CATALOGUES
from .lifecycle_faults import add_arguments as add_lifecycle_arguments, apply_arguments as apply_lifecycle_arguments

HUAWEI_REGIONS = [r.region_id for r in CATALOGUES["HuaweiCloud"].regions]


def _pair(text: str) -> tuple[str, str]:
    key, sep, secret = text.partition(":")
    if not sep or not key or not secret:
        raise argparse.ArgumentTypeError(f"expected AK:SK, got {text!r}")
    return key, secret


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudsim", description="Local multi-cloud emulator (one port, "
                                     "real SDK wire formats).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900, help="0 picks a free port (default 8900)")
    parser.add_argument("--credentials", nargs="+", type=_pair, metavar="AK:SK",
                        help="accepted key pairs (default: one generated pair, printed)")
    parser.add_argument("--boot-seconds", type=float, default=5.0, help="pending -> running delay (default 5)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every call")
    parser.add_argument("--create-rate", type=float, help="create calls/second per key and region")
    parser.add_argument("--describe-rate", type=float, help="describe calls/second per key and region")
    parser.add_argument("--seed", type=int)
    faults = parser.add_argument_group("fault knobs (also at run time: POST /_sim/faults, see cloudsim/README.md)")
    faults.add_argument("--error-rate", type=float, help="fraction of calls answered with a transient 5xx")
    faults.add_argument("--throttle-rate", type=float, help="fraction of calls answered with the throttling error")
    faults.add_argument("--lost-reply-rate", type=float, help="fraction of successful calls whose reply is lost")
    faults.add_argument("--slow", action="append", default=[], metavar="OP=SECONDS",
                        help="slow replies per op class (create, describe, delete, other, *); repeatable")
    faults.add_argument("--capacity", action="append", default=[], metavar="PROVIDER:ZONE:TYPE=N",
                        help="stock: at most N live machines of TYPE in ZONE; repeatable")
    faults.add_argument("--quota", action="append", default=[], metavar="PROVIDER[:REGION]=N",
                        help="at most N live machines per provider (and region); repeatable")
    faults.add_argument("--faults", metavar="JSON", help="any knobs as the control endpoint takes them")
    add_lifecycle_arguments(parser)
    return parser


def fault_knobs(args) -> dict:
    """The fault flags as `CloudSim.configure` keywords (through the same parser as the endpoint)."""
    from . import faults
    payload = json.loads(args.faults) if args.faults else {}
    for name in ("error_rate", "throttle_rate", "lost_reply_rate"):
        if getattr(args, name) is not None:
            payload[name] = getattr(args, name)
    try:
        if args.slow:
            payload["latency"] = {op: float(sec) for op, _, sec in (s.partition("=") for s in args.slow)}
            if args.latency_ms:
                payload["latency"].setdefault("*", args.latency_ms / 1000.0)
        if args.capacity:
            payload["capacity"] = [dict(zip(("provider", "zone", "instance_type"), key.split(":", 2)), max=int(n))
                                   for key, _, n in (c.partition("=") for c in args.capacity)]
        if args.quota:
            payload["quota"] = [dict(zip(("provider", "region"), key.split(":", 1)), max=int(n))
                                for key, _, n in (q.partition("=") for q in args.quota)]
        return faults.parse(payload)
    except ValueError as exc:
        raise SystemExit(f"cloudsim: {exc}")


def main(argv: Optional[list] = None, ready: Optional[threading.Event] = None,
         stop: Optional[threading.Event] = None) -> int:
    """Run the emulator in the foreground. `ready`/`stop` let a caller (a test) drive it in-process."""
    args = build_parser().parse_args(argv)
    from .faces import FACES  # after parsing: `--help` answers without loading every face
    from .faces.huawei import project_id as huawei_project
    from .sim import CloudSim
    credentials = dict(args.credentials) if args.credentials else {
        "AKSIM" + secrets.token_hex(8).upper(): secrets.token_urlsafe(24)}
    rates = {op: rate for op, rate in (("create", args.create_rate), ("describe", args.describe_rate)) if rate}
    knobs = fault_knobs(args)
    sim = CloudSim(credentials=credentials, boot_seconds=args.boot_seconds, latency=args.latency_ms / 1000.0,
                   rates=rates, seed=args.seed)
    if knobs:
        sim.configure(**knobs)
    apply_lifecycle_arguments(sim.cloud.faults, args)
    server = sim.serve(args.host, args.port)
    print(f"cloudsim serving {', '.join(face.provider for face in FACES)} on {server.url}", flush=True)
    print(f"  HuaweiCloud project ids: {', '.join(f'{r}={huawei_project(r)}' for r in HUAWEI_REGIONS)}", flush=True)
    for key, secret in credentials.items():
        print(f"  access key {key}  secret {secret}", flush=True)
    if knobs:
        print(f"  fault knobs: {', '.join(sorted(knobs))}", flush=True)
    print(f"  control: GET/POST {server.url}/_sim/faults, GET {server.url}/_sim/instances", flush=True)
    print("  Ctrl-C to stop", flush=True)
    if ready is not None:
        ready.set()
    try:
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
