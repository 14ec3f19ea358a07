#!/usr/bin/env python
"""Chaos replay of issue 16 in the Procfile topology: gunicorn, two Celery workers, beat and the
emulator (its own process, driven through its control endpoint), on MariaDB and a private
redis-server. Every process reaches MariaDB through a proxy this script can freeze.

For each scenario a fresh AlibabaCloud cluster is scaled under one fault; after the task ends the
faults are cleared and the reconciler gets two periods; then the emulator's inventory (by the
cluster's tag) is compared with the database and one table is printed:

  scenario | requested | cloud | db | unknown | leaked | task status | result

requested = what should exist afterwards; cloud = machines alive in the emulator; db = live rows;
unknown = alive in the cloud without a row; leaked = alive in the cloud while the row says
deleted/failed (billing, invisible). result OK iff cloud = db = requested (same ids), 0 unknown,
0 leaked.

    python bench/chaos.py                    # 100 machines per scenario, every scenario
    python bench/chaos.py --count 300 --only baseline sigkill redis

Uses its own database `bridgx_chaos` (dropped and created) and a private redis-server on a free
port; never the shared `test` database or Redis. Not part of the pytest run.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faults import FreezableProxy, PrivateRedis, free_port  # noqa: E402

KEY, SECRET = "LTAICHAOSKEY0001", secrets.token_urlsafe(18)
REGION, ZONE, ITYPE, IMAGE = "cn-qingdao", "cn-qingdao-b", "ecs.g6.large", "centos_7_6_x64_20G_alibase_20211030.vhd"
DB = "bridgx_chaos"
NO_FAULTS = {"error_rate": 0, "throttle_rate": 0, "lost_reply_rate": 0, "latency": 0, "capacity": [], "quota": [],
             "boot_seconds": 3}


def http(method, url, body=None, token=None, headers=None, timeout=60):
    req = Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                  headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {}),
                           **(headers or {})})
    try:
        with urlopen(req, timeout=timeout) as resp:
            return json.load(resp)
    except HTTPError as exc:
        return json.loads(exc.read() or b"{}")


def wait(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(what)


class Stack:
    def __init__(self, home: Path, reconcile: float):
        import pymysql
        self.home, self.reconcile, self.procs = home, reconcile, {}
        conn = pymysql.connect(host="127.0.0.1", user="root")
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {DB}")
            cur.execute(f"CREATE DATABASE {DB} CHARACTER SET utf8mb4")
        conn.close()
        self.redis = PrivateRedis(home).start()
        self.proxy = FreezableProxy("127.0.0.1", 3306)
        self.sim_port, self.api_port = free_port(), free_port()
        self.sim_url, self.base = f"http://127.0.0.1:{self.sim_port}", f"http://127.0.0.1:{self.api_port}"
        from cryptography.fernet import Fernet
        self.env = dict(os.environ, BRIDGX_CONFIG="production", BRIDGX_HOME=str(home),
                        BRIDGX_DATABASE_URL=f"mysql+pymysql://root@127.0.0.1:{self.proxy.port}/{DB}?charset=utf8mb4",
                        BRIDGX_BROKER_URL=self.redis.url, BRIDGX_REDIS_URL=self.redis.url.replace("/0", "/1"),
                        BRIDGX_SECRET_KEY=secrets.token_urlsafe(40), BRIDGX_ENCRYPTION_KEY=Fernet.generate_key().decode(),
                        BRIDGX_RECONCILE_SECONDS=str(reconcile), BRIDGX_SCALE_STALE_SECONDS="10",
                        BRIDGX_SCALE_HEARTBEAT_SECONDS="2", BRIDGX_VERIFY_ACCOUNTS="0", BRIDGX_SCALE_READY_TIMEOUT="120",
                        BRIDGX_ENDPOINT_ALLOWLIST="http://127.0.0.1", BRIDGX_METRICS_PUBLIC="1")
        try:
            self._boot()
        except BaseException:
            self.close()  # never leave a process behind
            raise

    def _boot(self):
        self.start("sim", [sys.executable, "-m", "cloudsim", "--port", str(self.sim_port), "--credentials",
                           f"{KEY}:{SECRET}", "--boot-seconds", "3"])
        subprocess.run([sys.executable, "manage.py", "migrate"], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([sys.executable, "manage.py", "create-user", "--org", "chaos", "--username", "chaos",
                        "--password", "Chaos-pass-1", "--admin"], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        self.token = subprocess.run([sys.executable, "manage.py", "create-token", "--username", "chaos"], cwd=ROOT,
                                    env=self.env, check=True, capture_output=True, text=True).stdout.strip().split()[-1]
        self.start_app()
        http("POST", self.base + "/api/v1/cloud_account/create", {
            "account_name": "chaos", "provider": "AlibabaCloud", "account_key": KEY, "account_secret": SECRET,
            "endpoint": self.sim_url}, self.token)
        from app.providers import base as pbase, registry
        provider = registry.get_provider("AlibabaCloud", pbase.Credentials(KEY, SECRET, endpoint=self.sim_url), REGION)
        vpc = provider.create_vpc("chaos-vpc", "10.0.0.0/8")
        self.network = {"vpc": vpc, "subnet_id": provider.create_subnet(vpc, ZONE, "chaos-subnet", "10.0.0.0/16"),
                        "security_group": provider.create_security_group(vpc, "chaos-sg")}

    # ------------------------------------------------------------ processes
    def start(self, name, argv):
        log = open(self.home / f"{name}.log", "a")
        self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def start_app(self):
        self.start("web", [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "4", "--bind",
                           f"127.0.0.1:{self.api_port}", "app:create_app()"])
        for n in (1, 2):
            self.start(f"worker{n}", [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--pool",
                                      "threads", "-c", "8", "-n", f"w{n}@chaos", "-l", "INFO"])
        self.start("beat", [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "-l", "INFO", "-s",
                            str(self.home / "beat-schedule")])
        wait(lambda: self._healthy(), 90, "the API")

    def _healthy(self):
        try:
            return http("GET", self.base + "/healthz", timeout=5).get("code") == 200
        except OSError:
            return False

    def stop(self, name, sig=signal.SIGTERM):
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_app(self):
        for name in ("web", "worker1", "worker2", "beat"):
            if name in self.procs:
                self.stop(name)

    def close(self):
        self.stop_app()
        if "sim" in self.procs:
            self.stop("sim")
        self.proxy.close()
        self.redis.stop()

    # ------------------------------------------------------------ API and oracle
    def api(self, method, path, body=None, **kw):
        return http(method, self.base + "/api/v1/" + path, body, self.token, **kw)

    def faults(self, **knobs):
        return http("POST", self.sim_url + "/_sim/faults", dict(NO_FAULTS, **knobs))

    def cluster(self, name):
        answer = self.api("POST", "cluster/create", {
            "name": name, "provider": "AlibabaCloud", "account_key": KEY, "region_id": REGION, "zone_id": ZONE,
            "instance_type": ITYPE, "image": IMAGE, "password": "Chaos-pass1", "network_config": self.network,
            "disks": {"system_disk": {"category": "cloud_efficiency", "size": 40}}})
        assert answer.get("code") == 200, answer
        return name

    def task(self, task_id):
        answer = self.api("GET", f"task/describe?task_id={task_id}")
        return answer["data"] if answer.get("code") == 200 else {}  # a 503 while the database is away

    def finished(self, task_id, timeout=300):
        return wait(lambda: (lambda t: t if t.get("finish_at") else None)(self.task(task_id)), timeout,
                    f"task {task_id}")

    def sql(self, query, *args):
        import pymysql
        conn = pymysql.connect(host="127.0.0.1", user="root", database=DB)
        try:
            with conn.cursor() as cur:
                cur.execute(query, args)
                return cur.fetchall()
        finally:
            conn.close()

    def holder_pid(self, task_id):
        rows = self.sql("SELECT holder FROM tasks WHERE id=%s", task_id)
        return int(rows[0][0].split(":")[1]) if rows and rows[0][0] else None

    def measure(self, name):
        cid = self.sql("SELECT id FROM clusters WHERE name=%s AND deleted_id=0", name)[0][0]
        dep = self.sql("SELECT deployment_id FROM deployment")[0][0]
        cloud = {i["instance_id"] for i in http("GET", f"{self.sim_url}/_sim/instances?tag=bridgx-cluster={dep}-c{cid}")
                 ["instances"] if i["status"] != "deleted"}
        rows = dict(self.sql("SELECT instance_id, status FROM instances WHERE cluster_id=%s", cid))
        live = {i for i, s in rows.items() if s in ("Pending", "Running", "Deleting")}
        return {"cloud": len(cloud), "db": len(live), "unknown": len(cloud - set(rows)),
                "leaked": len({i for i in cloud if rows.get(i) in ("Deleted", "Failed")}), "same": cloud == live}


# ---------------------------------------------------------------- scenarios: (stack, cluster, n) → (task, expected)
def expand(stack, cluster, n, **headers):
    answer = stack.api("POST", "cluster/expand", {"task_name": "chaos", "cluster_name": cluster, "count": n},
                       headers=headers or None)
    assert answer.get("code") == 200, answer
    return answer["data"]


def running(stack, task_id):
    wait(lambda: stack.holder_pid(task_id), 60, "a worker to claim the task")


def s_baseline(stack, cluster, n):
    return expand(stack, cluster, n), n


def s_throttle_lost(stack, cluster, n):
    stack.faults(throttle_rate=0.5, lost_reply_rate=0.4)
    return expand(stack, cluster, n), n


def s_sigkill(stack, cluster, n):
    stack.faults(latency={"create": 1.0})
    task = expand(stack, cluster, n)
    running(stack, task)
    time.sleep(1.0)
    pid = stack.holder_pid(task)
    name = next(k for k, p in stack.procs.items() if p.pid == pid)
    stack.stop(name, signal.SIGKILL)
    stack.start(name, [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--pool", "threads", "-c", "8",
                       "-n", f"{name}-again@chaos", "-l", "INFO"])  # what a supervisor does
    return task, n


def s_redis(stack, cluster, n):
    stack.faults(latency={"create": 1.0}, boot_seconds=5)
    task = expand(stack, cluster, n)
    running(stack, task)
    stack.redis.stop()
    time.sleep(5)
    stack.redis.start()
    return task, n


def s_db_freeze(stack, cluster, n):
    stack.faults(latency={"create": 1.0}, boot_seconds=5)
    task = expand(stack, cluster, n)
    running(stack, task)
    time.sleep(1.0)
    stack.proxy.freeze()
    time.sleep(5)
    stack.proxy.thaw()
    return task, n


def s_db_cut(stack, cluster, n):
    stack.faults(latency={"create": 1.0}, boot_seconds=5)
    task = expand(stack, cluster, n)
    running(stack, task)
    time.sleep(1.0)
    stack.proxy.cut(1.7)  # the blip: connections reset, new ones refused for 1.7 s
    return task, n


def s_slow_reconcile(stack, cluster, n):
    stack.faults(latency={"describe": 0.5, "create": 0.5})  # passes take long while the expand runs
    return expand(stack, cluster, n), n


def s_idempotent(stack, cluster, n):
    key = {"Idempotency-Key": f"chaos-{secrets.token_hex(4)}"}
    tasks = {expand(stack, cluster, n, **key) for _ in range(3)}
    assert len(tasks) == 1, tasks
    return tasks.pop(), n


def s_shrink_errors(stack, cluster, n):
    stack.finished(expand(stack, cluster, n))
    stack.faults(error_rate=0.3)
    answer = stack.api("POST", "cluster/shrink", {"task_name": "s", "cluster_name": cluster, "count": n // 2})
    return answer["data"], n - n // 2


def s_stockout(stack, cluster, n):
    stack.faults(capacity=[{"provider": "AlibabaCloud", "zone": ZONE, "instance_type": ITYPE,
                            "max": stack.live_in_zone() + n // 2}])
    return expand(stack, cluster, n), n // 2


def s_rotate(stack, cluster, n):
    task = expand(stack, cluster, n)
    stack.finished(task)
    stack.stop_app()
    stack.env["BRIDGX_SECRET_KEY"] = secrets.token_urlsafe(40)
    stack.start_app()
    time.sleep(2 * stack.reconcile)
    return task, n


SCENARIOS = {
    "baseline": ("no faults", s_baseline),
    "throttle": ("50% throttled, 40% lost replies", s_throttle_lost),
    "sigkill": ("SIGKILL the holder mid-expand", s_sigkill),
    "redis": ("Redis down 5 s under the task", s_redis),
    "dbfreeze": ("MariaDB frozen 5 s mid-expand", s_db_freeze),
    "dbcut": ("MariaDB gone 1.7 s mid-expand", s_db_cut),
    "slowpass": ("expand during slow reconcile passes", s_slow_reconcile),
    "idempotent": ("expand sent 3x, one Idempotency-Key", s_idempotent),
    "shrinkerr": ("shrink half, 30% call errors", s_shrink_errors),
    "stockout": ("stock for half", s_stockout),
    "rotate": ("BRIDGX_SECRET_KEY rotated", s_rotate),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--reconcile", type=float, default=5.0, help="reconciler period (s)")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS))
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bridgx-chaos-"))
    stack = Stack(home, args.reconcile)

    def live_in_zone():
        return sum(1 for i in http("GET", stack.sim_url + "/_sim/instances")["instances"] if i["status"] != "deleted")
    stack.live_in_zone = live_in_zone
    rows = []
    try:
        for key in args.only or SCENARIOS:
            title, run = SCENARIOS[key]
            stack.faults()
            cluster = stack.cluster(key)
            try:
                task, expected = run(stack, cluster, args.count)
                status = stack.finished(task)["task_status"] if task else "-"
            except Exception as exc:  # noqa: BLE001 - a scenario that breaks is a result too
                task, expected, status = None, args.count, f"error: {type(exc).__name__}: {exc}"[:60]
            stack.faults()
            time.sleep(2 * args.reconcile + 2)  # two reconciler passes: destructive rules need two sightings
            m = stack.measure(cluster)
            ok = m["same"] and m["cloud"] == m["db"] == expected and not m["unknown"] and not m["leaked"]
            rows.append((title, expected, m["cloud"], m["db"], m["unknown"], m["leaked"], status, "OK" if ok else "FAIL"))
            print(" | ".join(map(str, rows[-1])), flush=True)
    finally:
        stack.close()
    print(f"\n{args.count} machines per scenario, reconciler every {args.reconcile:g} s, logs in {home}\n")
    print("| scenario | requested | cloud | db | unknown | leaked | task status | result |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()
