"""`python -m cloudsim` / `manage.py cloudsim`: serve the emulator until Ctrl-C."""
from __future__ import annotations

import argparse
import secrets
import threading
from typing import Optional

from .catalog import CATALOGUES
from .faces import FACES
from .faces.huawei import project_id as huawei_project
from .faults import add_arguments as add_fault_arguments, apply_arguments as apply_fault_arguments
from .sim import CloudSim

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
    add_fault_arguments(parser)
    return parser


def main(argv: Optional[list] = None, ready: Optional[threading.Event] = None,
         stop: Optional[threading.Event] = None) -> int:
    """Run the emulator in the foreground. `ready`/`stop` let a caller (a test) drive it in-process."""
    args = build_parser().parse_args(argv)
    credentials = dict(args.credentials) if args.credentials else {
        "AKSIM" + secrets.token_hex(8).upper(): secrets.token_urlsafe(24)}
    rates = {op: rate for op, rate in (("create", args.create_rate), ("describe", args.describe_rate)) if rate}
    sim = CloudSim(credentials=credentials, boot_seconds=args.boot_seconds, latency=args.latency_ms / 1000.0,
                   rates=rates, seed=args.seed)
    apply_fault_arguments(sim.cloud.faults, args)
    server = sim.serve(args.host, args.port)
    print(f"cloudsim serving {', '.join(face.provider for face in FACES)} on {server.url}", flush=True)
    print(f"  HuaweiCloud project ids: {', '.join(f'{r}={huawei_project(r)}' for r in HUAWEI_REGIONS)}", flush=True)
    for key, secret in credentials.items():
        print(f"  access key {key}  secret {secret}", flush=True)
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
