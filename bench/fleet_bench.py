#!/usr/bin/env python
"""Fleet benchmark (issue 15): many clusters scaling at once on one cloud account, on one or more
worker processes, with the API read meanwhile; shrink_all; the worker's cost per machine.

Each measurement starts its own stack: the emulator (scale_bench's settings and lower bound), a
database (MariaDB `bench_fleet`, recreated, or a SQLite file), a private redis-server (broker and
shared rate budget, MariaDB only), gunicorn, celery beat and K celery worker processes.
One table at the end; each row is also printed as a JSON line when it is measured.

    python bench/fleet_bench.py --concurrent                    # 20 clusters x 1,000 at once, 1 worker
    python bench/fleet_bench.py --workers 1 2 4 --kill          # the same on 1, 2, 4 workers; kill 1 of 4
    python bench/fleet_bench.py --api                           # (1) while 100 clients read the API, 1M rows
    python bench/fleet_bench.py --cost 1000 10000 50000 --shrink 50000
    python bench/fleet_bench.py --concurrent --clusters 4 --machines 200 --db sqlite   # a quick check
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import scale_bench as sb
import usage_bench as ub

ROOT = sb.ROOT
DB_NAME = "bench_fleet"
# `celery worker`, with the Alibaba SDK imported first: a worker that has been up for a while. Its
# first scaling task would otherwise import it (about 2 s of CPU, 5 s on this loaded host, three
# creator threads waiting on the import lock), which says nothing about fleet scheduling.
PRELOAD = ("import sys, alibabacloud_ecs20140526.client, alibabacloud_ecs20140526.models, "
           "alibabacloud_vpc20160428.client; from celery.__main__ import main; sys.exit(main())")


def log(*args):
    ub.log(*args)


def start_redis(home: Path) -> tuple[subprocess.Popen, int]:
    import redis
    port = sb.free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(home)], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return proc, port
        except redis.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def recreate_mysql(name: str) -> None:
    import pymysql
    conn = pymysql.connect(host="127.0.0.1", user="root")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    conn.close()


def copy_database(source: str, target: str) -> None:
    """Copy a database `usage_bench.py --db mysql --seed-only` seeded (read only; the same schema)."""
    import pymysql
    t0 = time.time()
    conn = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"SHOW TABLES FROM {source}")
        tables = [row[0] for row in cur.fetchall()]
        cur.execute("SET foreign_key_checks = 0, unique_checks = 0")
        for table in tables:
            cur.execute(f"CREATE TABLE {target}.{table} LIKE {source}.{table}")
            cur.execute(f"INSERT INTO {target}.{table} SELECT * FROM {source}.{table}")
        cur.execute(f"ANALYZE TABLE {target}.instances")
        cur.execute(f"SELECT COUNT(*) FROM {target}.instances")
        log(f"copied {source} ({cur.fetchone()[0]:,} instance rows) in {time.time() - t0:.0f} s")
    conn.close()


def pct(values, p):
    return ub.pct(values, p) if values else float("nan")


def max_in_window(stamps: list[float], window: float = 1.0) -> int:
    """The most calls that fell in any `window` seconds (the budget check: rate x window + burst)."""
    stamps, best, j = sorted(stamps), 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] < t - window + 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


class Stack:
    """Emulator + database (+ Redis) + gunicorn + beat + K worker processes, all on this host."""

    def __init__(self, args, settings: dict, workers: int, rows: int = 0):
        self.args, self.settings, self.rows = args, settings, rows
        self.home = Path(tempfile.mkdtemp(prefix="bridgx-fleet-"))
        self.workers: list[subprocess.Popen] = []
        self.others: list[subprocess.Popen] = []
        self.clusters: set[str] = set()
        self.start(workers)

    # ------------------------------------------------------------ processes
    def start(self, workers: int) -> None:
        a, s = self.args, self.settings
        rates = {"RunInstances": s["create_rate"] or 1000, "DescribeInstances": s["describe_rate"] or 1000,
                 "DeleteInstances": s["create_rate"] or 1000, "*": 1000}
        env = {"BRIDGX_HOME": str(self.home), "BRIDGX_CONFIG": "embedded", "BRIDGX_SCALE_BATCH_CONCURRENCY": "16",
               "BRIDGX_PROVIDER_RATES": json.dumps({"AlibabaCloud": rates}),
               "BRIDGX_SCALE_STALE_SECONDS": str(a.stale), "BRIDGX_SCALE_HEARTBEAT_SECONDS": str(a.stale / 5),
               # The seeded organisations' accounts are billing history with no cloud behind them: the
               # reconciler would spend the run failing to reach the real Alibaba endpoints.
               "BRIDGX_RECONCILE_SECONDS": "86400"}
        if a.worker_threads:
            env["BRIDGX_WORKER_CONCURRENCY"] = str(a.worker_threads)
        self.sim_port = sb.free_port()
        # the emulator is an account endpoint; the benchmark asks for more than the default quotas
        env.update(BRIDGX_ENDPOINT_ALLOWLIST=f"http://127.0.0.1:{self.sim_port}", BRIDGX_METRICS_PUBLIC="1",
                   BRIDGX_QUOTA_LIVE_INSTANCES="0", BRIDGX_QUOTA_INSTANCES_PER_TASK="0", BRIDGX_QUOTA_TASKS_IN_FLIGHT="0")
        self.sim = sb.start_sim(s, self.sim_port)
        if a.db == "mariadb":
            redis_proc, redis_port = start_redis(self.home)
            self.others.append(redis_proc)
            env["BRIDGX_BROKER_URL"] = env["BRIDGX_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
            self.url = f"{ub.MYSQL_SERVER}/{a.db_name}?charset=utf8mb4"
            recreate_mysql(a.db_name)
        else:
            self.url = f"sqlite:///{self.home / 'bridgx.sqlite'}"
        os.environ.update(env)
        self.app = ub.make_app(self.url, self.home)
        if self.rows and a.copy_from:
            copy_database(a.copy_from, a.db_name)
            for name in ("encryption_key", "secret_key"):  # the copied account secrets need their key
                shutil.copy2(Path(a.copy_home) / name, self.home / name)
        else:
            log(f"seeding {self.rows:,} instance rows")
            ub.seed(self.app, self.rows, a.orgs, a.orgs * 10, random.Random(42))
        self.tokens = ub.tokens(self.app, a.orgs)
        self.token = self.tokens[1]  # organisation 1 owns the fleet
        from sqlalchemy import create_engine
        self.db = create_engine(self.url)
        self.api_port = sb.free_port()
        self.others.append(ub.serve(self.url, self.home, self.api_port, a.api_workers, a.api_threads))
        self.base = f"http://127.0.0.1:{self.api_port}"
        self.others.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "-l", "WARNING",
             "-s", str(self.home / "beat-schedule")], cwd=ROOT, stdout=open(self.home / "beat.log", "w"),
            stderr=subprocess.STDOUT))
        for _ in range(workers):
            self.add_worker()
        self.setup_cloud()

    def add_worker(self) -> subprocess.Popen:
        n = len(self.workers)
        proc = subprocess.Popen([sys.executable, "-c", PRELOAD, "-A", "workers.app", "worker", "--pool", "threads",
                                 "-c", str(self.args.worker_threads or self.app.config["WORKER_CONCURRENCY"]), "-l", "INFO", "-n", f"w{n}@fleet"],
                                cwd=ROOT, stdout=open(self.home / f"worker{n}.log", "w"), stderr=subprocess.STDOUT)
        self.workers.append(proc)
        deadline = time.time() + 120
        while "ready." not in (self.home / f"worker{n}.log").read_text():
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError(f"worker {n} did not start; see {self.home / f'worker{n}.log'}")
            time.sleep(0.2)
        return proc

    def database_server(self) -> list:
        """The local MariaDB server process (its CPU counts too: it runs on this host), if any."""
        if self.args.db != "mariadb":
            return []
        found = subprocess.run(["pgrep", "-x", "mariadbd"], capture_output=True, text=True).stdout.split()
        return [SimpleNamespace(pid=int(found[0]))] if found else []

    def fresh_worker(self) -> subprocess.Popen:
        """Replace every worker by one new process (its peak RSS then belongs to what follows)."""
        for proc in self.workers:
            proc.terminate()
            proc.wait(timeout=60)
        self.workers = []
        return self.add_worker()

    def stop(self) -> None:
        for group in (self.workers, self.others):  # workers first: they still talk to Redis
            for proc in group:
                if proc.poll() is None:
                    proc.terminate()
            for proc in group:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.sim.kill()
        self.db.dispose()

    # ------------------------------------------------------------ cloud objects
    def call(self, method, path, body=None):
        return sb.call(self.base, method, path, body, self.token)

    def setup_cloud(self) -> None:
        from app.providers import base as pbase, registry
        sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.call("POST", "/api/v1/cloud_account/create", {
            "account_name": "fleet", "provider": "AlibabaCloud", "account_key": sb.KEY,
            "account_secret": sb.SECRET, "endpoint": sim_url})
        provider = registry.get_provider("AlibabaCloud", pbase.Credentials(sb.KEY, sb.SECRET, endpoint=sim_url),
                                         sb.REGION)
        vpc = provider.create_vpc("fleet-vpc", "10.0.0.0/8")
        subnet = provider.create_subnet(vpc, sb.ZONE, "fleet-subnet", "10.0.0.0/16")
        group = provider.create_security_group(vpc, "fleet-sg")
        self.network = {"vpc": vpc, "subnet_id": subnet, "security_group": group}
        with self.db.connect() as conn:
            from sqlalchemy import text
            self.account_id = conn.execute(text("SELECT id FROM cloud_accounts WHERE account_key = :k"),
                                           {"k": sb.KEY}).scalar()

    def cluster(self, name: str) -> str:
        if name not in self.clusters:
            self.call("POST", "/api/v1/cluster/create", {
                "name": name, "provider": "AlibabaCloud", "account_key": sb.KEY, "region_id": sb.REGION,
                "zone_id": sb.ZONE, "instance_type": sb.ITYPE, "image": sb.IMAGE, "password": "Bench-pass1",
                "network_config": self.network, "disks": {"system_disk": {"category": "cloud_efficiency", "size": 40}}})
            self.clusters.add(name)
        return name

    def expand(self, name: str, count: int) -> int:
        return self.call("POST", "/api/v1/cluster/expand", {"task_name": f"{name}-{count}",
                                                             "cluster_name": self.cluster(name), "count": count})["data"]

    # ------------------------------------------------------------ database probes
    def sql(self, query: str, **params):
        from sqlalchemy import text
        with self.db.connect() as conn:
            return conn.execute(text(query), params).all()

    def wait_tasks(self, ids: list[int], on_tick=None, timeout: float = 3600) -> None:
        marks = ",".join(map(str, ids))
        deadline = time.time() + timeout
        while self.sql(f"SELECT COUNT(*) FROM tasks WHERE id IN ({marks}) AND finished_at IS NULL")[0][0]:
            if time.time() > deadline:
                raise RuntimeError(f"tasks {ids} unfinished after {timeout} s")
            if on_tick:
                on_tick()
            time.sleep(0.2)

    def tasks(self, ids: list[int]) -> list[dict]:
        """Per task: status, seconds from the request to its first and last machine Running, and to its end."""
        marks = ",".join(map(str, ids))
        rows = self.sql(f"SELECT t.id, t.status, t.count, t.created_at, t.finished_at, t.success_num, "
                        f"MIN(i.running_at), MAX(i.running_at) FROM tasks t LEFT JOIN instances i ON i.task_id = t.id "
                        f"WHERE t.id IN ({marks}) GROUP BY t.id, t.status, t.count, t.created_at, t.finished_at, "
                        f"t.success_num")
        out = []
        for tid, status, count, created, finished, success, first, last in rows:
            sec = (lambda d: (_dt(d) - _dt(created)).total_seconds() if d is not None else None)
            out.append({"id": tid, "status": status, "count": count, "success": success, "created": _dt(created),
                        "finished": _dt(finished), "first_running_s": sec(first), "last_running_s": sec(last),
                        "wall_s": sec(finished)})
        return out

    def live_in_db(self) -> int:
        return self.sql("SELECT COUNT(*) FROM instances WHERE account_id = :a AND status IN ('Pending', 'Running', "
                        "'Deleting')", a=self.account_id)[0][0]

    def running_in(self, names) -> int:
        marks = ",".join(f"'{n}'" for n in names)
        return self.sql(f"SELECT COUNT(*) FROM instances i JOIN clusters c ON c.id = i.cluster_id "
                        f"WHERE c.name IN ({marks}) AND i.status = 'Running'")[0][0]


def _dt(value):
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


class Cost:
    """A worker process's CPU seconds (all its threads) and peak RSS between two points."""

    def __init__(self, procs):
        self.pids = [p.pid for p in procs]
        self.cpu0 = {pid: sb.cpu_seconds(pid) for pid in self.pids}

    def done(self) -> tuple[float, float]:
        cpu, rss = 0.0, 0.0
        for pid in self.pids:
            try:
                cpu += sb.cpu_seconds(pid) - self.cpu0[pid]
                rss = max(rss, sb.peak_rss_mb(pid))
            except OSError:  # a worker killed on purpose
                pass
        return round(cpu, 2), round(rss, 1)


# ---------------------------------------------------------------- API load
class Load:
    """`clients` threads, each: one request to a random route as a random organisation, then a pause
    of `think` seconds on average (dashboards and people, not a tight loop), over keep-alive
    connections. Records latency and errors per route until stop()."""

    def __init__(self, stack: Stack, clients: int, think: float, task_ids: list[int]):
        self.stack, self.clients, self.think, self.task_ids = stack, clients, think, task_ids
        zone = ZoneInfo(stack.app.config["TIMEZONE"])
        today = datetime.now(zone).date()
        self.days = [(today - timedelta(days=d)).isoformat() for d in range(ub.DAYS)]
        self.routes = {
            "instance/describe_all": lambda r, o: {"page_size": 50},
            "cluster/describe_all": lambda r, o: {},
            "task/describe": lambda r, o: {"task_id": r.choice(self.task_ids)},
            "instance/usage_total": lambda r, o: {"date": r.choice(self.days)},
        }
        self.lat = {name: [] for name in self.routes}
        self.errors = {name: 0 for name in self.routes}
        self.samples: list[str] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(clients)]

    def start(self):
        self.t0 = time.time()
        for t in self.threads:
            t.start()
        return self

    def client(self, i: int):
        rng = random.Random(i)
        conn = http.client.HTTPConnection("127.0.0.1", self.stack.api_port, timeout=60)
        time.sleep(rng.random() * self.think)  # spread the first requests
        while not self.stopping.is_set():
            name = rng.choice(list(self.routes))
            org = 1 if name == "task/describe" else rng.randint(1, len(self.stack.tokens))
            query = self.routes[name](rng, org)
            t = time.perf_counter()
            try:
                try:
                    resp = self.get(conn, name, query, org)
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    # gunicorn closes a keep-alive connection idle for 2 s: reconnect and send again,
                    # as any HTTP client library does for a GET on a reused connection.
                    conn.close()
                    resp = self.get(conn, name, query, org)
                body = resp.read()
                ok = resp.status == 200
                if not ok and len(self.samples) < 5:
                    self.samples.append(f"{name} {query}: {resp.status} {body[:300]!r}")
            except (OSError, http.client.HTTPException) as exc:
                ok = False
                if len(self.samples) < 5:
                    self.samples.append(f"{name} {query}: {exc!r}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.stack.api_port, timeout=60)
            elapsed = (time.perf_counter() - t) * 1000
            self.lat[name].append(elapsed)
            if not ok:
                self.errors[name] += 1
            self.stopping.wait(rng.expovariate(1 / self.think) if self.think else 0)

    def get(self, conn, name, query, org):
        conn.request("GET", f"/api/v1/{name}?{urlencode(query)}",
                     headers={"Authorization": f"Bearer {self.stack.tokens[org]}"})
        return conn.getresponse()

    def _halt(self) -> float:
        """Stop the clients; the seconds they ran."""
        self.stopping.set()
        seconds = time.time() - self.t0
        for t in self.threads:
            t.join(timeout=70)
        return seconds

    def stop_after(self, seconds: float) -> None:
        """Run for `seconds`, then stop and discard what was measured."""
        time.sleep(seconds)
        self._halt()

    def stop(self) -> list[dict]:
        seconds = self._halt()
        rows = []
        for sample in self.samples:
            log("API error:", sample)
        everything = [x for v in self.lat.values() for x in v]
        for name, lat in list(self.lat.items()) + [("all four routes", everything)]:
            errors = sum(self.errors.values()) if name == "all four routes" else self.errors[name]
            rows.append({"route": name, "requests": len(lat), "errors": errors,
                         "p50_ms": round(statistics.median(lat), 1) if lat else None,
                         "p99_ms": round(pct(lat, 99), 1) if lat else None,
                         "req_per_s": round(len(lat) / seconds, 1)})
        return rows


# ---------------------------------------------------------------- measurements
def lone(stack: Stack, m: int) -> dict:
    """One task alone on the account: the reference for each fleet task's first Running machines."""
    task = stack.expand("lone", m)
    stack.wait_tasks([task])
    [info] = stack.tasks([task])
    return info


def fleet(stack: Stack, label: str, n: int, m: int, kill: bool = False, load: Load | None = None,
          alone: dict | None = None) -> dict:
    """N clusters x M machines expanded at once; returns a table row."""
    s = stack.settings
    alone = alone or lone(stack, m)
    names = [stack.cluster(f"fleet-{i}") for i in range(n)]
    before = sb.sim_stats(stack.sim)
    cost = Cost(stack.workers)
    servers = stack.database_server()
    database = Cost(servers)
    if load is not None:
        load.start()
    with ThreadPoolExecutor(n) as pool:  # the N requests at once
        ids = list(pool.map(lambda name: stack.expand(name, m), names))
    if load is not None:
        load.task_ids[:] = ids
    killed = []

    def maybe_kill():
        if kill and not killed and stack.running_in(names) >= n * m // 2:
            holders = stack.sql(f"SELECT holder FROM tasks WHERE id IN ({','.join(map(str, ids))}) "
                                f"AND finished_at IS NULL AND holder IS NOT NULL")
            pids = [int(h.split(":")[1]) for (h,) in holders]
            victim = max((p for p in stack.workers if p.poll() is None), key=lambda p: pids.count(p.pid))
            os.kill(victim.pid, signal.SIGKILL)
            killed.append((victim.pid, pids.count(victim.pid), time.time()))
            log(f"killed worker {victim.pid} holding {pids.count(victim.pid)} of the unfinished tasks")
    stack.wait_tasks(ids, on_tick=maybe_kill)
    api = load.stop() if load is not None else None
    cpu, rss = cost.done()
    db_cpu, _ = database.done()
    after = sb.sim_stats(stack.sim)
    tasks = stack.tasks(ids)
    wall = (max(t["finished"] for t in tasks) - min(t["created"] for t in tasks)).total_seconds()
    batches = n * math.ceil(m / sb.BATCH)
    bound = sb.lower_bound(batches * sb.BATCH, s)
    firsts = [t["first_running_s"] for t in tasks if t["first_running_s"] is not None]
    throttled = {k.split(":")[0]: v - before["calls"].get(k, 0) for k, v in after["calls"].items()
                 if k.endswith(":throttled") and v - before["calls"].get(k, 0)}
    creates = sorted(after["ok_at"]["create"][len(before["ok_at"]["create"]):])  # the log only grows
    running = stack.running_in(names)
    row = {
        "measurement": label, "machines": n * m, "status": _statuses(tasks), "wall_s": round(wall, 2),
        "lower_bound_s": round(bound, 2), "ratio": round(wall / bound, 3) if bound else None,
        "lone_first_running_s": round(alone["first_running_s"], 2),
        "first_running_s_median": round(statistics.median(firsts), 2) if firsts else None,
        "first_running_s_max": round(max(firsts), 2) if firsts else None,
        "first_running_vs_lone_max": round(max(firsts) / alone["first_running_s"], 2) if firsts else None,
        "throttled": throttled or 0,
        "create_calls_max_1s": max_in_window(creates), "create_budget_1s": int(s["create_rate"]) + 1 if s["create_rate"] else None,
        "create_calls": len(creates),
        "describe_calls": len(after["ok_at"]["describe"]) - len(before["ok_at"]["describe"]),
        "creates_per_s": round((len(creates) - 1) / (creates[-1] - creates[0]), 2) if len(creates) > 1 else None,
        "running": running, "sim_live": after["live"], "db_live": stack.live_in_db(),
        "worker_cpu_s": cpu, "cpu_ms_per_machine": round(cpu * 1000 / (n * m), 2), "worker_peak_rss_mb": rss,
        "workers": len(stack.workers),
        "db_server_cpu_s": db_cpu if servers else None,
    }
    row["exact"] = running == n * m and row["sim_live"] == row["db_live"]
    if killed:
        row["killed"] = f"pid {killed[0][0]} holding {killed[0][1]} tasks"
    if api is not None:
        row["api"] = api
    return row


def _statuses(tasks) -> str:
    counts = {}
    for t in tasks:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    return " ".join(f"{k}×{v}" for k, v in sorted(counts.items()))


def cost(stack: Stack, count: int) -> dict:
    """One expand on a fresh worker process (after a 1-machine warm-up): its CPU and peak RSS per machine."""
    stack.fresh_worker()
    stack.wait_tasks([stack.expand("warm-up", 1)])  # a first task's one-off imports and caches are not per machine
    c = Cost(stack.workers)
    task = stack.expand(f"cost-{count}", count)
    stack.wait_tasks([task])
    cpu, rss = c.done()
    [t] = stack.tasks([task])
    bound = sb.lower_bound(count, stack.settings)
    return {"measurement": f"cost {count:,}", "machines": count, "status": t["status"], "wall_s": round(t["wall_s"], 2),
            "lower_bound_s": round(bound, 2), "ratio": round(t["wall_s"] / bound, 3) if bound else None,
            "worker_cpu_s": cpu, "cpu_ms_per_machine": round(cpu * 1000 / count, 2), "worker_peak_rss_mb": rss,
            "running": stack.running_in([f"cost-{count}"]), "workers": 1}


def shrink(stack: Stack, count: int) -> dict:
    """shrink_all of a cluster of `count` machines vs (delete calls - 1) / delete budget."""
    name = f"cost-{count}"
    if name not in stack.clusters:
        name = f"shrink-{count}"
        stack.wait_tasks([stack.expand(name, count)])
    live_before = sb.sim_stats(stack.sim)["live"]
    c = Cost(stack.workers)
    task = stack.call("POST", "/api/v1/cluster/shrink_all", {"cluster_name": name})["data"]
    stack.wait_tasks([task])
    cpu, rss = c.done()
    [t] = stack.tasks([task])
    rate = stack.settings["create_rate"]  # DeleteInstances is budgeted like RunInstances
    bound = (math.ceil(count / sb.BATCH) - 1) / rate if rate else 0.0
    live_after = sb.sim_stats(stack.sim)["live"]
    deleted = stack.sql("SELECT COUNT(*) FROM instances WHERE delete_task_id = :t AND status = 'Deleted'", t=task)[0][0]
    return {"measurement": f"shrink_all {count:,}", "machines": count, "status": t["status"],
            "wall_s": round(t["wall_s"], 2), "lower_bound_s": round(bound, 2),
            "ratio": round(t["wall_s"] / bound, 3) if bound else None, "worker_cpu_s": cpu,
            "cpu_ms_per_machine": round(cpu * 1000 / count, 2), "worker_peak_rss_mb": rss,
            "exact": deleted == count and live_before - live_after == count, "workers": len(stack.workers)}


# ---------------------------------------------------------------- output
COLUMNS = [("measurement", "measurement"), ("workers", "workers"), ("machines", "machines"), ("status", "tasks"),
           ("wall_s", "wall s"), ("lower_bound_s", "lower bound s"), ("ratio", "ratio"),
           ("first_running_vs_lone_max", "worst first Running / lone"), ("throttled", "throttled calls"),
           ("create_calls_max_1s", "max creates in 1 s"), ("creates_per_s", "creates / s"),
           ("exact", "inventory exact"),
           ("worker_cpu_s", "worker CPU s"), ("cpu_ms_per_machine", "CPU ms / machine"),
           ("worker_peak_rss_mb", "peak RSS MB"), ("db_server_cpu_s", "MariaDB CPU s"),
           ("describe_calls", "describe calls"), ("notes", "notes")]


def notes(row: dict) -> str:
    parts = []
    if "lone_first_running_s" in row:
        parts.append(f"first Running {row['first_running_s_median']} s median, {row['first_running_s_max']} s worst, "
                     f"lone {row['lone_first_running_s']} s")
    if row.get("killed"):
        parts.append("killed " + row["killed"])
    if "sim_live" in row:
        parts.append(f"emulator {row['sim_live']} = db {row['db_live']}")
    for r in row.get("api") or []:
        parts.append(f"{r['route']}: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, {r['req_per_s']} req/s, "
                     f"{r['errors']} errors / {r['requests']}")
    return "; ".join(parts)


def print_table(rows: list[dict], args) -> None:
    print(f"\n{args.db}{', zero' if args.zero else ''}; {os.cpu_count()} CPUs; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end\n")
    print("| " + " | ".join(h for _, h in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        row = dict(row, notes=notes(row))
        print("| " + " | ".join("–" if row.get(k) is None else str(row.get(k)) for k, _ in COLUMNS) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("mariadb", "sqlite"), default="mariadb")
    ap.add_argument("--db-name", default=DB_NAME, help="MariaDB database to (re)create and use")
    ap.add_argument("--zero", action="store_true", help="no latency, no boot time, no rate limits")
    ap.add_argument("--clusters", type=int, default=20, help="N clusters expanded at once")
    ap.add_argument("--machines", type=int, default=1000, help="M machines per cluster")
    ap.add_argument("--concurrent", action="store_true", help="(1) N x M at once on one worker")
    ap.add_argument("--workers", type=int, nargs="*", default=[], help="(2) the same on each number of workers")
    ap.add_argument("--kill", action="store_true", help="(2) 4 workers, one killed when half the machines run")
    ap.add_argument("--api", action="store_true", help="(3) (1) while clients read the API")
    ap.add_argument("--rows", type=int, default=1_000_000, help="instance rows seeded for --api")
    ap.add_argument("--copy-from", metavar="DB", help="--api: copy this MariaDB database (seeded by usage_bench.py "
                    "with --orgs organisations) instead of seeding")
    ap.add_argument("--copy-home", default=str(Path(tempfile.gettempdir()) / "bench_usage"),
                    help="--copy-from: the BRIDGX_HOME that seeded it (its encryption key)")
    ap.add_argument("--api-alone", type=float, default=60.0, metavar="SECONDS",
                    help="--api: first the clients alone for this long, no scaling (0: skip)")
    ap.add_argument("--api-warmup", type=float, default=10.0, metavar="SECONDS",
                    help="--api: the clients run this long first, unmeasured (a new gunicorn's cold start)")
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--think", type=float, default=1.0, help="mean pause between a client's requests, s")
    ap.add_argument("--shrink", type=int, default=0, help="(4) shrink_all of a cluster of this size")
    ap.add_argument("--cost", type=int, nargs="*", default=[], help="(6) single expands, each on a fresh worker")
    ap.add_argument("--orgs", type=int, default=100, help="organisations seeded (10 clusters each)")
    ap.add_argument("--worker-threads", type=int, default=0, help="celery threads per worker (default: config)")
    ap.add_argument("--api-workers", type=int, default=2)
    ap.add_argument("--api-threads", type=int, default=4)
    ap.add_argument("--stale", type=float, default=10.0, help="BRIDGX_SCALE_STALE_SECONDS (heartbeat: a fifth)")
    args = ap.parse_args()
    if (args.workers and max(args.workers) > 1 or args.kill) and args.db != "mariadb":
        ap.error("several workers need --db mariadb (Redis broker and shared rate budget)")
    settings = sb.ZERO if args.zero else sb.SETTINGS
    n, m = args.clusters, args.machines
    rows: list[dict] = []

    def record(row):
        rows.append(row)
        print(json.dumps(row, default=str), flush=True)

    def run(workers, body, rows_seeded=0):
        stack = Stack(args, settings, workers, rows_seeded)
        try:
            body(stack)
        finally:
            stack.stop()

    if args.concurrent:
        run(1, lambda st: record(fleet(st, f"{n} x {m:,} at once", n, m)))
    for k in args.workers:
        run(k, lambda st: record(fleet(st, f"{n} x {m:,}, {k} worker{'s' if k > 1 else ''}", n, m)))
    if args.kill:
        run(4, lambda st: record(fleet(st, f"{n} x {m:,}, 4 workers, one killed", n, m, kill=True)))
    if args.api:
        def api(st):
            seeded = st.sql("SELECT COUNT(*) FROM instances")[0][0]
            alone = lone(st, m)
            if args.api_warmup:  # a fresh gunicorn's first second is its cold start: not measured
                Load(st, args.clients, args.think, [alone["id"]]).start().stop_after(args.api_warmup)
            if args.api_alone:
                quiet = Load(st, args.clients, args.think, [alone["id"]]).start()
                time.sleep(args.api_alone)
                record({"measurement": f"{args.clients} API clients alone, {seeded:,} rows", "api": quiet.stop()})
            load = Load(st, args.clients, args.think, [alone["id"]])
            record(fleet(st, f"{n} x {m:,} + {args.clients} API clients, {seeded:,} rows", n, m, load=load,
                         alone=alone))
        run(1, api, args.rows)
    if args.cost or args.shrink:
        def cost_and_shrink(st):
            for count in args.cost:
                record(cost(st, count))
            if args.shrink:
                record(shrink(st, args.shrink))
        run(1, cost_and_shrink)
    print_table(rows, args)


if __name__ == "__main__":
    main()
