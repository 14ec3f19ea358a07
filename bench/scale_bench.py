#!/usr/bin/env python
"""Scaling benchmark: the whole stack (API → Celery worker → real SDK → emulator over HTTP).

Starts the emulator and `manage.py run` as subprocesses, creates an AlibabaCloud cluster, then for
each count: expand (timed until the task is SUCCESS and every machine is Running with an IP in
the database), shrink_all (timed likewise). Prints wall time, the lower bound the emulator's
settings imply, their ratio, and the worker's CPU seconds and peak memory.

    python bench/scale_bench.py --db sqlite  --counts 1000 10000
    python bench/scale_bench.py --db mariadb --counts 1000 10000
    python bench/scale_bench.py --db sqlite  --counts 10000 --zero     # no latency, boot or rate limit
"""
from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY, SECRET = "LTAIBENCHKEY0001", secrets.token_urlsafe(18)
REGION, ZONE, ITYPE, IMAGE = "cn-qingdao", "cn-qingdao-b", "ecs.g6.large", "centos_7_6_x64_20G_alibase_20211030.vhd"
SETTINGS = {"create_latency": 1.0, "describe_latency": 0.2, "boot": 10.0, "create_rate": 10.0, "describe_rate": 20.0}
ZERO = {"create_latency": 0.0, "describe_latency": 0.0, "boot": 0.0, "create_rate": 0.0, "describe_rate": 0.0}
BATCH = 100


def call(base, method, path, body=None, token=None):
    req = Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                  headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})
    with urlopen(req, timeout=60) as resp:
        return json.load(resp)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sim(settings: dict, port: int) -> subprocess.Popen:
    code = f"""
import json
import sys
from collections import Counter
from cloudsim import CloudSim
s = {settings!r}
rates = {{}}
if s["create_rate"]: rates["create"] = s["create_rate"]
if s["describe_rate"]: rates["describe"] = s["describe_rate"]
sim = CloudSim(credentials={{{KEY!r}: {SECRET!r}}}, boot_seconds=s["boot"], rates=rates,
               latency={{"create": s["create_latency"], "describe": s["describe_latency"]}})
sim.serve(port={port})
print("ready", flush=True)
for line in sys.stdin:  # one line in, one JSON line out (sim_stats); exits with its parent (stdin closed)
    log = sim.requests
    print(json.dumps({{"calls": Counter(f"{{r.op}}:{{r.outcome}}" for r in log), "live": len(sim.instances()),
                      "ok_at": {{op: [r.ts for r in log if r.op == op and r.outcome == "ok"]
                                for op in ("create", "describe", "delete")}}}}), flush=True)
"""
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def sim_stats(proc: subprocess.Popen) -> dict:
    """The emulator's request log so far: calls by "op:outcome", live machines, and the times of
    the accepted create/describe/delete calls (epoch seconds)."""
    proc.stdin.write("stats\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def worker_pid(parent: int) -> int:
    for _ in range(100):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                stat = Path(f"/proc/{pid}/stat").read_text().split()
            except OSError:
                continue
            if b"workers.app" in cmd and int(stat[3]) == parent:
                return int(pid)
        time.sleep(0.1)
    raise RuntimeError("worker process not found")


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def lower_bound(count: int, s: dict) -> float:
    batches = math.ceil(count / BATCH)
    pacing = (batches - 1) / s["create_rate"] if s["create_rate"] else 0.0
    return pacing + s["create_latency"] + s["boot"] + s["describe_latency"]


def wait_task(base, token, task_id) -> dict:
    while True:
        info = call(base, "GET", f"/api/v1/task/describe?task_id={task_id}", token=token)["data"]
        if info["finish_at"]:
            return info
        time.sleep(0.05)


def running_with_ip(db_url: str) -> int:
    from sqlalchemy import create_engine, text
    engine = create_engine(db_url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM instances WHERE status='Running' AND ip_inner IS NOT NULL")).scalar()
    engine.dispose()
    return n


def prepare_services(db: str, home: Path, database: str = "bench_scale", redis_db: int = 3) -> dict:
    """Environment for `manage.py run`; for mariadb, `database` is dropped and made afresh and Redis
    db `redis_db` flushed."""
    env = {"BRIDGX_HOME": str(home), "BRIDGX_CONFIG": "embedded", "BRIDGX_SCALE_BATCH_CONCURRENCY": "16",
           # the benchmark asks for more machines than the default per-organisation quotas allow
           "BRIDGX_QUOTA_LIVE_INSTANCES": "0", "BRIDGX_QUOTA_INSTANCES_PER_TASK": "0"}
    if db == "mariadb":
        import pymysql
        import redis
        conn = pymysql.connect(host="127.0.0.1", user="root")
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        conn.close()
        redis_url = f"redis://127.0.0.1:6379/{redis_db}"
        redis.Redis.from_url(redis_url).flushdb()
        env.update(BRIDGX_DATABASE_URL=f"mysql+pymysql://root@127.0.0.1:3306/{database}?charset=utf8mb4",
                   BRIDGX_BROKER_URL=redis_url, BRIDGX_REDIS_URL=redis_url)
    return env


def login_when_ready(base: str, home: Path) -> str:
    """Wait for `manage.py run` to answer, then log in as its first-run admin; the bearer token."""
    for _ in range(300):
        try:
            if call(base, "GET", "/healthz")["code"] == 200:
                break
        except OSError:
            time.sleep(0.1)
    password = (home / "admin_password").read_text().strip()
    return call(base, "POST", "/user/login", {"username": "admin", "password": password})["data"]


def create_bench_cluster(base: str, token: str, sim_port: int) -> None:
    """The account on the emulator, a network made in the emulator, and cluster `bench`."""
    sim_url = f"http://127.0.0.1:{sim_port}"
    call(base, "POST", "/api/v1/cloud_account/create", {"account_name": "bench", "provider": "AlibabaCloud",
         "account_key": KEY, "account_secret": SECRET, "endpoint": sim_url}, token)
    from app.providers import base as pbase, registry
    provider = registry.get_provider("AlibabaCloud", pbase.Credentials(KEY, SECRET, endpoint=sim_url), REGION)
    vpc = provider.create_vpc("bench-vpc", "10.0.0.0/8")
    subnet = provider.create_subnet(vpc, ZONE, "bench-subnet", "10.0.0.0/16")
    group = provider.create_security_group(vpc, "bench-sg")
    call(base, "POST", "/api/v1/cluster/create", {
        "name": "bench", "provider": "AlibabaCloud", "account_key": KEY, "region_id": REGION, "zone_id": ZONE,
        "instance_type": ITYPE, "image": IMAGE, "password": "Bench-pass1",
        "network_config": {"vpc": vpc, "subnet_id": subnet, "security_group": group},
        "disks": {"system_disk": {"category": "cloud_efficiency", "size": 40}}}, token)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "mariadb"), default="sqlite")
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--zero", action="store_true", help="no latency, no boot time, no rate limits")
    args = parser.parse_args()
    settings = ZERO if args.zero else SETTINGS

    home = Path(tempfile.mkdtemp(prefix="bridgx-bench-"))
    env = dict(os.environ, **prepare_services(args.db, home))
    rates = {"RunInstances": settings["create_rate"] or 1000, "DescribeInstances": settings["describe_rate"] or 1000,
             "DeleteInstances": settings["create_rate"] or 1000, "*": 1000}
    env["BRIDGX_PROVIDER_RATES"] = json.dumps({"AlibabaCloud": rates})
    sim_port, api_port = free_port(), free_port()
    env["BRIDGX_ENDPOINT_ALLOWLIST"] = f"http://127.0.0.1:{sim_port}"  # the emulator may be an account's endpoint
    sim = start_sim(settings, sim_port)
    api = subprocess.Popen([sys.executable, "manage.py", "run", "--port", str(api_port)], cwd=ROOT, env=env,
                           stdout=open(home / "run.log", "w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{api_port}"
    try:
        token = login_when_ready(base, home)
        worker = worker_pid(api.pid)
        create_bench_cluster(base, token, sim_port)
        db_url = env.get("BRIDGX_DATABASE_URL", f"sqlite:///{home / 'bridgx.sqlite'}")
        results = []
        for count in args.counts:
            cpu0 = cpu_seconds(worker)
            t0 = time.time()
            task = call(base, "POST", "/api/v1/cluster/expand", {"task_name": f"e{count}", "cluster_name": "bench",
                                                                  "count": count}, token)["data"]
            info = wait_task(base, token, task)
            expand_s = time.time() - t0
            cpu1 = cpu_seconds(worker)
            ok = running_with_ip(db_url)
            t1 = time.time()
            task = call(base, "POST", "/api/v1/cluster/shrink_all", {"cluster_name": "bench"}, token)["data"]
            shrink = wait_task(base, token, task)
            shrink_s = time.time() - t1
            bound = lower_bound(count, settings)
            results.append({
                "db": args.db, "count": count, "status": info["task_status"], "running_with_ip": ok,
                "expand_s": round(expand_s, 2), "lower_bound_s": round(bound, 2),
                "ratio": round(expand_s / bound, 3) if bound else None,
                "shrink_status": shrink["task_status"], "shrink_s": round(shrink_s, 2),
                "worker_cpu_s": round(cpu1 - cpu0, 2), "worker_peak_rss_mb": round(peak_rss_mb(worker), 1)})
            print(json.dumps(results[-1]), flush=True)
        print("\n| db | machines | expand status | Running with IP | expand wall s | lower bound s | ratio | "
              "shrink_all s | worker CPU s | worker peak RSS MB |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in results:
            print(f"| {r['db']} | {r['count']} | {r['status']} | {r['running_with_ip']} | {r['expand_s']} | "
                  f"{r['lower_bound_s']} | {r['ratio']} | {r['shrink_s']} | {r['worker_cpu_s']} | "
                  f"{r['worker_peak_rss_mb']} |")
    finally:
        api.terminate()
        api.wait(timeout=30)
        sim.kill()


if __name__ == "__main__":
    main()
