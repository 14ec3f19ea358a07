#!/usr/bin/env python
"""Self-healing benchmark: the whole stack (API → Celery beat + worker → real SDK → emulator).

Starts the emulator and `manage.py run` as subprocesses (the emulator with scale_bench.py's
settings), makes a 1,000-machine elastic AlibabaCloud cluster (desired = max = 1000, grace 0),
waits until it is whole and idle, then, right after a controller pass has judged the cluster,
kills 10 % of its machines behind BridgX's back (the emulator's `kill` fault knob, as a cloud
failure would) and times until the database again holds exactly 1,000 Running machines with IPs,
none of them a killed one, and the cloud lists exactly 1,000. The reconciler is kept out of the
way (BRIDGX_RECONCILE_SECONDS=3600): this measures self-healing alone.

Lower bound = two controller intervals (self-healing acts on the second sighting, and the kill
lands just after a pass: the next pass sees it first, the one after confirms it and starts the
expand) + the expand's own lower bound for the replacements (scale_bench.lower_bound: create
latency + boot + describe latency for one batch of 100).

    python bench/heal_bench.py --db sqlite  [--interval 5] [--size 1000] [--kill 0.1]
    python bench/heal_bench.py --db mariadb [--database bench_heal] [--redis-db 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_bench import (ROOT, SETTINGS, call, create_bench_cluster, free_port, lower_bound,  # noqa: E402
                         login_when_ready, prepare_services, start_sim)


def db_state(engine, killed: set) -> tuple[int, int, int, int]:
    """(Running with IP, live, killed ones still live, unfinished tasks) in the database."""
    from sqlalchemy import text
    with engine.connect() as conn:
        running = conn.execute(text("SELECT COUNT(*) FROM instances WHERE status='Running' AND ip_inner IS NOT NULL"))\
            .scalar()
        live = set(conn.execute(text("SELECT instance_id FROM instances WHERE status IN ('Pending','Running')"))
                   .scalars())
        busy = conn.execute(text("SELECT COUNT(*) FROM tasks WHERE lock_cluster_id IS NOT NULL")).scalar()
    return running, len(live), len(live & killed), busy


def db_scalar(engine, sql: str):
    from sqlalchemy import text
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def epoch(value) -> float:
    """A naive UTC timestamp from the database (SQLite gives text) as epoch seconds."""
    value = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return value.replace(tzinfo=timezone.utc).timestamp()


def sim_call(port: int, method: str, path: str, body=None) -> dict:
    return call(f"http://127.0.0.1:{port}", method, path, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "mariadb"), default="sqlite")
    parser.add_argument("--database", default="bench_heal", help="MariaDB database (dropped and made afresh)")
    parser.add_argument("--redis-db", type=int, default=3, help="Redis db number (flushed)")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--kill", type=float, default=0.1, help="share of the machines to kill")
    parser.add_argument("--interval", type=float, default=5.0, help="BRIDGX_ELASTIC_CONTROLLER_SECONDS")
    args = parser.parse_args()
    settings = SETTINGS
    home = Path(tempfile.mkdtemp(prefix="bridgx-heal-"))
    env = dict(os.environ, **prepare_services(args.db, home, args.database, args.redis_db))
    rates = {"RunInstances": settings["create_rate"], "DescribeInstances": settings["describe_rate"],
             "DeleteInstances": settings["create_rate"], "*": 1000}
    env.update(BRIDGX_PROVIDER_RATES=json.dumps({"AlibabaCloud": rates}),
               BRIDGX_ELASTIC_CONTROLLER_SECONDS=str(args.interval), BRIDGX_RECONCILE_SECONDS="3600")
    sim_port, api_port = free_port(), free_port()
    env["BRIDGX_ENDPOINT_ALLOWLIST"] = f"http://127.0.0.1:{sim_port}"  # the emulator may be an account's endpoint
    sim = start_sim(settings, sim_port)
    api = subprocess.Popen([sys.executable, "manage.py", "run", "--port", str(api_port)], cwd=ROOT, env=env,
                           stdout=open(home / "run.log", "w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{api_port}"
    from sqlalchemy import create_engine
    engine = create_engine(env.get("BRIDGX_DATABASE_URL", f"sqlite:///{home / 'bridgx.sqlite'}"))
    try:
        token = login_when_ready(base, home)
        create_bench_cluster(base, token, sim_port)
        call(base, "POST", "/api/v1/elastic/policy", {"cluster_name": "bench", "grace_seconds": 0,
                                                      "max_replacements": args.size}, token)
        call(base, "POST", "/api/v1/elastic/capacity", {"cluster_name": "bench", "desired": args.size,
                                                        "max": args.size}, token)
        t_fill = time.time()
        while db_state(engine, set()) != (args.size, args.size, 0, 0):
            time.sleep(0.2)
        fill_s = time.time() - t_fill
        listed = sim_call(sim_port, "GET", "/_sim/instances")["instances"]
        ids = sorted(i["instance_id"] for i in listed if i["status"] == "running")
        killed = set(ids[:: round(1 / args.kill)][: int(args.size * args.kill)])
        # right after a pass has judged the cluster (it stamps last_seen_at on every live machine)
        seen = db_scalar(engine, "SELECT MAX(last_seen_at) FROM instances")
        while db_scalar(engine, "SELECT MAX(last_seen_at) FROM instances") == seen:
            time.sleep(0.02)
        t0 = time.time()
        sim_call(sim_port, "POST", "/_sim/faults", {"kill": [{"provider": "AlibabaCloud",
                                                             "instance_ids": sorted(killed)}]})
        kill_s = time.time() - t0
        while db_state(engine, killed) != (args.size, args.size, 0, 0):
            time.sleep(0.05)
        heal_s = time.time() - t0
        expand_at = epoch(db_scalar(engine, "SELECT MAX(created_at) FROM tasks"))
        in_cloud = sim_call(sim_port, "GET", "/_sim/instances")["count"]
        detect_bound, expand_bound = 2 * args.interval, lower_bound(len(killed), settings)
        bound = detect_bound + expand_bound
        result = {"db": args.db, "size": args.size, "killed": len(killed), "interval_s": args.interval,
                  "fill_s": round(fill_s, 2), "kill_call_s": round(kill_s, 3), "heal_s": round(heal_s, 2),
                  "detect_s": round(expand_at - t0, 2), "expand_s": round(heal_s - (expand_at - t0), 2),
                  "lower_bound_s": round(bound, 2), "ratio": round(heal_s / bound, 3), "in_cloud": in_cloud}
        print(json.dumps(result), flush=True)
        print("\n| db | machines | killed | controller interval s | heal wall s | kill → expand task s (bound "
              f"{detect_bound:g}) | expand s (bound {expand_bound:g}) | lower bound s | ratio | in cloud after |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        print(f"| {args.db} | {args.size} | {len(killed)} | {args.interval:g} | {result['heal_s']} | "
              f"{result['detect_s']} | {result['expand_s']} | {result['lower_bound_s']} | {result['ratio']} | "
              f"{in_cloud} |")
    finally:
        engine.dispose()
        api.terminate()
        api.wait(timeout=30)
        sim.kill()


if __name__ == "__main__":
    main()
