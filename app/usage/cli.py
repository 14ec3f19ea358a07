"""`manage.py usage-report`: per-day, per-cluster machine-seconds (and per instance type) for finance.

Standalone: `python -m app.usage.cli --from 2021-10-01 --to 2021-10-31 --format csv -o october.csv`.
Days are 00:00–24:00 in the deployment's timezone, every organisation unless --org/--cluster say
otherwise; the numbers are the same sums the usage API answers.
"""
from __future__ import annotations

import contextlib
import csv
import json
import sys
from datetime import timedelta

import click


def _app_context():
    from flask import has_app_context
    if has_app_context():
        return contextlib.nullcontext()
    from app import create_app
    return create_app().app_context()


def _clusters(cluster: str | None, org: str | None) -> dict[int, tuple[str, str]]:
    """{cluster id: (cluster name, organisation name)}, deleted clusters included."""
    from sqlalchemy import select

    from app.auth.models import Organization
    from app.clusters.models import Cluster
    from app.extensions import db

    query = select(Cluster.id, Cluster.name, Organization.name).join(Organization, Organization.id == Cluster.org_id)
    if cluster:
        query = query.where(Cluster.name == cluster)
    if org:
        query = query.where(Organization.name == org)
    return {cid: (name, org_name) for cid, name, org_name in db.session.execute(query)}


def report(start, end, cluster: str | None = None, org: str | None = None, progress: bool = True):
    """Yield (day, cluster_id, cluster name, org name, instance_type, instances, seconds), day by day.

    Streamed: each day is read from the database (the spans starting or ending on it, see
    `export_days`) just before its rows are written; the progress bar follows the days."""
    from tqdm import tqdm

    from app.usage.service import export_days

    clusters = _clusters(cluster, org)
    if (cluster or org) and not clusters:
        raise click.ClickException("no cluster matches --cluster/--org")
    only = list(clusters) if cluster or org else None
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    for day, rows in tqdm(export_days(days, only), total=len(days), unit="day", file=sys.stderr,
                          disable=not progress or len(days) < 8):
        for cid, itype, count, seconds in rows:
            name, org_name = clusters.get(cid) or _clusters_by_id(cid)
            yield day, cid, name, org_name, itype, count, seconds


def _clusters_by_id(cid: int) -> tuple[str, str]:
    from app.auth.models import Organization
    from app.clusters.models import Cluster
    from app.extensions import db
    c = db.session.get(Cluster, cid)  # a cluster created while the report runs
    return c.name, db.session.get(Organization, c.org_id).name


def write_csv(rows, out) -> None:
    writer = csv.writer(out)
    writer.writerow(["date", "organization", "cluster_id", "cluster_name", "instance_type", "instances", "seconds"])
    for day, cid, name, org_name, itype, count, seconds in rows:
        writer.writerow([day.isoformat(), org_name, cid, name, itype, count, seconds])


def write_json(rows, out) -> None:
    """A list of {date, organization, cluster_id, cluster_name, instances, seconds, instance_types: [...]},
    one per day and cluster, each written as soon as its rows are read (they come day by day, cluster
    by cluster), in the same text as `json.dump(list, indent=1)`."""
    item, started = None, False
    encode = json.JSONEncoder(ensure_ascii=False, indent=1).encode

    def flush():
        nonlocal started
        out.write(",\n" if started else "[\n")
        out.write(" " + encode(item).replace("\n", "\n "))  # one level in
        started = True

    for day, cid, name, org_name, itype, count, seconds in rows:
        if item is None or item["cluster_id"] != cid or item["date"] != day.isoformat():
            if item is not None:
                flush()
            item = {"date": day.isoformat(), "organization": org_name, "cluster_id": cid, "cluster_name": name,
                    "instances": 0, "seconds": 0, "instance_types": []}
        item["instances"] += count
        item["seconds"] += seconds
        item["instance_types"].append({"instance_type": itype, "instances": count, "seconds": seconds})
    if item is not None:
        flush()
    out.write("\n]\n" if started else "[]\n")


@click.command("usage-report")
@click.option("--from", "start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day, YYYY-MM-DD.")
@click.option("--to", "end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day (included).")
@click.option("--cluster", default=None, help="Only clusters with this name.")
@click.option("--org", default=None, help="Only this organisation (by name).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-", help="File (default stdout).")
def usage_report(start, end, cluster, org, fmt, output):
    """Machine-seconds per day, per cluster and per instance type (deployment timezone)."""
    start, end = start.date(), end.date()
    if end < start:
        raise click.BadParameter("must not be before --from", param_hint="--to")
    with _app_context():
        rows = report(start, end, cluster, org)
        (write_json if fmt == "json" else write_csv)(rows, output)


if __name__ == "__main__":
    sys.path.insert(0, ".")
    usage_report()
