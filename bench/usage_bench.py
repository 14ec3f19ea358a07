#!/usr/bin/env python
"""Inventory and usage API latency at 1,000,000 instances (see bench/README.md).

Seeds a separate database (100 organisations x 10 clusters, 1M instance rows with a realistic mix
of running, deleted, failed and midnight-crossing spans over 90 days) with bulk inserts, serves
the API with gunicorn, and measures p50/p99 of each route with concurrent HTTP clients.

    python bench/usage_bench.py --db sqlite                # SQLite file under /tmp/bench_usage
    python bench/usage_bench.py --db mysql                 # MariaDB database bench_usage (recreated)
    python bench/usage_bench.py --db mysql --reuse         # keep the seeded rows, measure again
    python bench/usage_bench.py --db mysql --reuse --export  # the 90-day finance export instead
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MYSQL_SERVER = "mysql+pymysql://root@127.0.0.1:3306"
TYPES = ("ecs.g6.large", "ecs.c6.xlarge", "ecs.s6-c1m1.small", "ecs.r6.2xlarge")
DAYS = 90
COLUMNS = ("org_id", "cluster_id", "account_id", "task_id", "batch_idx", "instance_id", "provider", "region_id",
           "zone_id", "instance_type", "image_id", "ip_inner", "ip_outer", "status", "created_at", "running_at",
           "deleted_at")


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- database and app
def database_url(kind: str, home: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{home / 'bench.sqlite'}"
    return f"{MYSQL_SERVER}/bench_usage?charset=utf8mb4"


def make_app(url: str, home: Path):
    os.environ.update(BRIDGX_DATABASE_URL=url, BRIDGX_HOME=str(home), BRIDGX_CONFIG="embedded")
    from app import create_app
    return create_app()


def recreate(kind: str, home: Path) -> None:
    if kind == "sqlite":
        for name in ("bench.sqlite", "bench.sqlite-wal", "bench.sqlite-shm"):
            (home / name).unlink(missing_ok=True)
        return
    import pymysql
    conn = pymysql.connect(host="127.0.0.1", user="root")
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS bench_usage")
        cur.execute("CREATE DATABASE bench_usage CHARACTER SET utf8mb4")
    conn.close()


# ---------------------------------------------------------------- seeding
def seed(app, rows: int, orgs: int, clusters: int, rng: random.Random) -> None:
    from sqlalchemy import insert

    from app.accounts.models import CloudAccount
    from app.auth.models import Organization, User
    from app.clusters.models import Cluster
    from app.core.crypto import encrypt
    from app.core.schema import upgrade
    from app.extensions import db

    with app.app_context():
        upgrade(app)
        t0 = time.time()
        secret = encrypt("bench-secret")
        db.session.execute(insert(Organization), [{"id": o, "name": f"bench-org-{o}"} for o in range(1, orgs + 1)])
        db.session.execute(insert(User), [{"id": o, "org_id": o, "username": f"bench-user-{o}",
                                           "password_hash": "x", "is_admin": True} for o in range(1, orgs + 1)])
        db.session.execute(insert(CloudAccount), [
            {"id": o, "org_id": o, "account_name": "main", "provider": "AlibabaCloud", "account_key": f"LTAIbench{o}",
             "secret_encrypted": secret} for o in range(1, orgs + 1)])
        per_org = clusters // orgs
        db.session.execute(insert(Cluster), [
            {"id": c, "org_id": (c - 1) // per_org + 1, "account_id": (c - 1) // per_org + 1, "name": f"cluster-{c}",
             "provider": "AlibabaCloud", "region_id": "cn-beijing", "zone_id": "cn-beijing-h",
             "instance_type": TYPES[c % len(TYPES)], "image": "m-bench",
             "network_config": {"vpc": "vpc-bench", "subnet_id": "vsw-bench", "security_group": "sg-bench"},
             "charge_config": {"charge_type": "PostPaid"},
             "disks": {"system_disk": {"category": "cloud_efficiency", "size": 40},
                       "data_disk": [{"category": "cloud_efficiency", "size": 100}]}} for c in range(1, clusters + 1)])
        db.session.commit()

        sqlite = db.engine.dialect.name == "sqlite"
        marks = ", ".join("?" if sqlite else "%s" for _ in COLUMNS)
        sql = f"INSERT INTO instances ({', '.join(COLUMNS)}) VALUES ({marks})"
        with db.engine.begin() as conn:
            if not sqlite:
                conn.exec_driver_sql("SET unique_checks=0, foreign_key_checks=0")
            batch, done = [], 0
            for row in generate(rows, clusters, per_org, rng):
                batch.append(tuple(_sqlite_time(v) for v in row) if sqlite else row)
                if len(batch) == 20000:
                    conn.exec_driver_sql(sql, batch)
                    done += len(batch)
                    batch = []
                    if done % 200000 == 0:
                        log(f"  {done:,} rows ({time.time() - t0:.0f} s)")
            if batch:
                conn.exec_driver_sql(sql, batch)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE" if sqlite else "ANALYZE TABLE instances")
        log(f"seeded {rows:,} instances in {time.time() - t0:.0f} s")


def migrate(app) -> None:
    """A reused database gets the newer migrations (indexes) too."""
    from app.core.schema import upgrade
    with app.app_context():
        upgrade(app)


def _sqlite_time(value):
    """SQLAlchemy's SQLite DateTime text (always with microseconds), so string order is time order."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


def generate(rows: int, clusters: int, per_org: int, rng: random.Random):
    """Rows in creation order over the last 90 days: short jobs, day-long (midnight-crossing) and
    multi-day machines; whatever has not been deleted by now is live (Running, some Pending/Deleting)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    begin = now - timedelta(days=DAYS)
    per_day = rows // DAYS
    n = 0
    for day in range(DAYS):
        count = per_day if day < DAYS - 1 else rows - per_day * (DAYS - 1)
        offsets = sorted(rng.random() * 86400 for _ in range(count))
        for off in offsets:
            n += 1
            created = begin + timedelta(days=day, seconds=off)
            kind = rng.random()
            if kind < 0.45:
                life = rng.expovariate(1 / 7200)                # jobs: ~2 h
            elif kind < 0.85:
                life = rng.uniform(6 * 3600, 40 * 3600)          # day-long: most cross a midnight
            elif kind < 0.95:
                life = rng.uniform(2 * 86400, 20 * 86400)        # multi-day
            else:
                life = None                                      # long-lived service machines
            deleted = created + timedelta(seconds=life) if life is not None else None
            if deleted is not None and deleted >= now:
                deleted = None
            failed = deleted is not None and rng.random() < 0.03
            if deleted is not None:
                running = None if failed else created + timedelta(seconds=rng.randint(3, 60))
                status = "Failed" if failed else "Deleted"
            else:
                r = rng.random()
                status = "Pending" if r < 0.02 else "Deleting" if r < 0.04 else "Running"
                running = None if status == "Pending" else created + timedelta(seconds=rng.randint(3, 60))
            cluster = rng.randint(1, clusters)
            org = (cluster - 1) // per_org + 1
            yield (org, cluster, org, None, None, f"i-bench{n:09d}", "AlibabaCloud", "cn-beijing", "cn-beijing-h",
                   TYPES[cluster % len(TYPES)], "m-bench", ip_inner(n), ip_outer(n) if n % 3 == 0 else None,
                   status, created, running, deleted)


def ip_inner(n: int) -> str:
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def ip_outer(n: int) -> str:
    return f"47.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


# ---------------------------------------------------------------- serving and measuring
def serve(url: str, home: Path, port: int, workers: int, threads: int) -> subprocess.Popen:
    env = dict(os.environ, BRIDGX_DATABASE_URL=url, BRIDGX_HOME=str(home), BRIDGX_CONFIG="embedded")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
                             "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "app:create_app()"],
                            cwd=ROOT, env=env)
    for _ in range(120):
        try:
            requests.get(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=5).raise_for_status()
            return proc
        except requests.RequestException:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("gunicorn did not start")


def tokens(app, orgs: int) -> dict[int, str]:
    from app.auth.service import create_api_token
    with app.app_context():
        return {o: create_api_token(f"bench-user-{o}", "bench") for o in range(1, orgs + 1)}


def samples(app, orgs: int, rng: random.Random) -> dict[int, dict]:
    """Per organisation: some of its clusters, instance ids and IPs to ask for."""
    from sqlalchemy import text

    from app.extensions import db
    out = {}
    with app.app_context():
        total = db.session.scalar(text("SELECT max(id) FROM instances"))
        picks = sorted(rng.sample(range(1, total + 1), 3000))
        rows = db.session.execute(text("SELECT org_id, instance_id, ip_inner, ip_outer FROM instances WHERE id IN (%s)"
                                       % ",".join(map(str, picks)))).all()
        for o in range(1, orgs + 1):
            out[o] = {"clusters": db.session.scalars(text(f"SELECT name FROM clusters WHERE org_id = {o}")).all(),
                      "ids": [], "ips": []}
        for org, iid, inner, outer in rows:
            out[org]["ids"].append(iid)
            out[org]["ips"].append(outer if outer and rng.random() < 0.5 else inner)
    return out


def scenarios(sample: dict, days: list[str], deep: dict):
    """name → function(rng, org) returning (path, query)."""
    def pick(rng, org, key):
        return rng.choice(sample[org][key])
    return {
        "describe_all (no filter)": lambda r, o: ("instance/describe_all", {}),
        "describe_all by cluster": lambda r, o: ("instance/describe_all", {"cluster_name": pick(r, o, "clusters")}),
        "describe_all by IP": lambda r, o: ("instance/describe_all", {"ip": pick(r, o, "ips")}),
        "describe_all by status": lambda r, o: ("instance/describe_all",
                                                {"status": r.choice(["running", "deleted", "pending,deleting"])}),
        "id/describe": lambda r, o: ("instance/id/describe", {"instance_id": pick(r, o, "ids")}),
        "num": lambda r, o: ("instance/num", {"cluster_name": pick(r, o, "clusters")} if r.random() < 0.5 else {}),
        "usage_total (all clusters)": lambda r, o: ("instance/usage_total", {"date": r.choice(days)}),
        "usage_total (one cluster)": lambda r, o: ("instance/usage_total",
                                                   {"date": r.choice(days), "cluster_name": pick(r, o, "clusters")}),
        "usage_statistics (page 1)": lambda r, o: ("instance/usage_statistics",
                                                   {"date": r.choice(days), "page_size": 50}),
        "usage_statistics (deep page)": lambda r, o: ("instance/usage_statistics", deep_page(r, o, deep)),
    }


def deep_page(rng, org, deep):
    day, last = rng.choice(deep[org])
    return {"date": day, "page_size": 50, "page_number": last}


def last_pages(base: str, toks: dict, days: list[str], rng: random.Random) -> dict:
    """For each org, a few days with their last usage_statistics page (the deepest OFFSET)."""
    out = {}
    for org, tok in toks.items():
        out[org] = []
        for day in rng.sample(days, 3):
            body = requests.get(f"{base}/api/v1/instance/usage_statistics", params={"date": day, "page_size": 50},
                                headers={"Authorization": f"Bearer {tok}"}, timeout=30).json()
            out[org].append((day, max(1, -(-body["data"]["pager"]["total"] // 50))))
    return out


def measure(port: int, toks: dict, make, requests_n: int, concurrency: int, seed_: int) -> list[float]:
    """Latencies (ms) of `requests_n` requests from `concurrency` keep-alive clients (http.client:
    the client should not eat the CPU the server needs)."""
    local = threading.local()
    orgs = list(toks)

    def one(i):
        rng = random.Random(seed_ * 1_000_003 + i)
        org = rng.choice(orgs)
        path, query = make(rng, org)
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        t = time.perf_counter()
        headers = {"Authorization": f"Bearer {toks[org]}"}
        local.conn.request("GET", f"/api/v1/{path}?{urlencode(query)}", headers=headers)
        resp = local.conn.getresponse()
        body = resp.read()
        elapsed = (time.perf_counter() - t) * 1000
        if resp.status != 200:
            raise RuntimeError(f"{path} {query}: {resp.status} {body[:200]!r}")
        return elapsed

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(requests_n)))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def export(app, kind: str, url: str, home: Path) -> None:
    """The finance export of the last 90 days, every organisation: the streamed export and the
    per-day SQL of the usage API (the reference) side by side at one frozen now, rows compared
    day by day, peak memory added; then `manage.py usage-report` end to end, as an operator runs it."""
    import resource

    from app.usage import service
    from app.usage.service import day_by_cluster_and_type, export_days

    frozen = service.utcnow()
    service.utcnow = lambda: frozen  # both methods cut today at the same instant
    with app.app_context():
        zone = ZoneInfo(app.config["TIMEZONE"])
        today = datetime.now(zone).date()
        days = [today - timedelta(days=d) for d in range(DAYS - 1, -1, -1)]
        load = os.getloadavg()[0]
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        streamed, rows = {}, 0
        for day, day_rows in export_days(days):  # rows are not kept: a hash per day to compare
            rows += len(day_rows)
            if day_rows:
                streamed[day] = hash(tuple(day_rows))
        t1 = time.perf_counter()
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        per_day = {d: hash(tuple(r)) for d in days if (r := day_by_cluster_and_type(d))}
        t2 = time.perf_counter()
        same = streamed == per_day
        print(f"\n{kind}: export of {len(days)} days, {rows:,} rows: streamed {t1 - t0:.1f} s "
              f"(peak RSS +{(rss1 - rss0) / 1024:.0f} MB), day by day (the API's per-day SQL) {t2 - t1:.1f} s; "
              f"same rows every day: {same}; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    out = home / "usage-report.csv"
    env = {k: v for k, v in os.environ.items() if k != "BRIDGX_DB_TIMEOUT_SECONDS"}  # the default timeout
    env.update(BRIDGX_DATABASE_URL=url, BRIDGX_HOME=str(home), BRIDGX_CONFIG="embedded")
    cmd = [sys.executable, "manage.py", "usage-report", "--from", days[0].isoformat(), "--to", days[-1].isoformat(),
           "-o", str(out)]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    with out.open() as f:
        rows = sum(1 for _ in f) - 1
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{kind}: `{' '.join(cmd[1:4])} ... -o FILE`: {wall:.1f} s, {rows:,} CSV rows, peak RSS {peak:.0f} MB; "
          f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=["sqlite", "mysql"], required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--orgs", type=int, default=100)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=400, help="measured requests per route")
    ap.add_argument("--concurrency", type=int, default=4, help="concurrent HTTP clients")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    ap.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    ap.add_argument("--port", type=int, default=9391)
    ap.add_argument("--home", default=str(Path(tempfile.gettempdir()) / "bench_usage"))
    ap.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    ap.add_argument("--seed-only", action="store_true", help="seed, then stop")
    ap.add_argument("--export", action="store_true",
                    help="time the 90-day finance export (streamed vs day by day, same rows; then "
                         "`manage.py usage-report`), then stop")
    args = ap.parse_args()

    rng = random.Random(42)
    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True)
    url = database_url(args.db, home)
    if args.export:  # the day-by-day reference's queries can pass the default 10 s on a busy machine
        os.environ.setdefault("BRIDGX_DB_TIMEOUT_SECONDS", "300")
    if not args.reuse:
        recreate(args.db, home)
    app = make_app(url, home)
    if not args.reuse:
        log(f"seeding {args.rows:,} instances into {args.db}")
        seed(app, args.rows, args.orgs, args.clusters, rng)
    else:
        migrate(app)
    if args.seed_only:
        return
    if args.export:
        export(app, args.db, url, home)
        return
    toks = tokens(app, args.orgs)
    sample = samples(app, args.orgs, rng)
    zone = ZoneInfo(app.config["TIMEZONE"])
    today = datetime.now(zone).date()
    days = [(today - timedelta(days=d)).isoformat() for d in range(DAYS)]

    server = serve(url, home, args.port, args.workers, args.threads)
    base = f"http://127.0.0.1:{args.port}"
    try:
        deep = last_pages(base, toks, days, rng)
        routes = scenarios(sample, days, deep)
        for name, make in routes.items():  # warm up every route (connections, caches)
            measure(args.port, toks, make, 50, args.concurrency, seed_=len(name))
        print(f"\n{args.db}: {args.rows:,} instances, {args.clusters} clusters, {args.orgs} organisations; "
              f"{args.requests} requests per route, {args.concurrency} concurrent clients, "
              f"gunicorn {args.workers}x{args.threads}\n")
        print("| route | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|")
        load = os.getloadavg()[0]
        for i, (name, make) in enumerate(routes.items()):
            lat = measure(args.port, toks, make, args.requests, args.concurrency, seed_=i + 1)
            print(f"| {name} | {statistics.median(lat):.1f} | {pct(lat, 99):.1f} | {max(lat):.1f} |", flush=True)
        print(f"\n{os.cpu_count()} CPUs; 1-minute load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
