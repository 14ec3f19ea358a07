"""Machine-seconds per day, summed in SQL from the raw spans (no rollup to keep in step).

An instance is billed over [created_at, deleted_at or now). Both ends are truncated to whole
seconds first, so a span cut at any number of midnights adds up exactly to the whole span, and a
day's rows add up exactly to the day's total (both are sums of the same SQL expression).
"""
from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

from sqlalchemy import BigInteger, Integer, cast, func, literal, literal_column, or_, select, union_all

from app.clusters.models import Cluster
from app.core.db import utcnow
from app.core.tenancy import org_id
from app.core.timefmt import deployment_zone, fmt
from app.extensions import db
from app.instances.models import Instance
from app.instances.service import cluster_ids_named

EPOCH = datetime(1970, 1, 1)
FIRST_DAY = date(1970, 1, 2)  # nothing is billed earlier; also keeps day bounds inside datetime's range


# ------------------------------------------------------------ the one dialect-specific helper
def _mysql() -> bool:
    return db.session.get_bind().dialect.name in ("mysql", "mariadb")


def _epoch(column):
    """SQL: whole seconds since 1970 of a naive-UTC datetime column (fraction truncated)."""
    if _mysql():  # TO_SECONDS (from year 0, fraction truncated) costs less than TIMESTAMPDIFF per row
        return func.to_seconds(column) - literal_column("62167219200")  # TO_SECONDS('1970-01-01')
    # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff'; strftime('%s') would round the fraction.
    return cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)


def _greatest(a, b):
    return func.greatest(a, b) if _mysql() else func.max(a, b)


def _least(a, b):
    return func.least(a, b) if _mysql() else func.min(a, b)


# ------------------------------------------------------------ day windows
def _to_epoch(dt: datetime) -> int:
    return calendar.timegm(dt.utctimetuple())


def _from_epoch(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def window(day: date, now: datetime | None = None) -> tuple[int, int] | None:
    """`day` (00:00–24:00 in the deployment's zone) as epoch seconds [start, end), cut at `now`
    (naive UTC); None when none of it has happened yet (a future day) or it is before 1970."""
    now_s = _to_epoch(now or utcnow())
    if day < FIRST_DAY:
        return None
    zone = deployment_zone()
    start = _to_epoch(datetime.combine(day, time(), zone))
    if start >= now_s:
        return None
    end = _to_epoch(datetime.combine(day + timedelta(days=1), time(), zone))
    return start, min(end, now_s)


def seconds_in(win: tuple[int, int]):
    """SQL: whole seconds of an instance's span inside the window (0 when outside)."""
    start, end = win
    span_end = _least(func.coalesce(_epoch(Instance.deleted_at), end), end)
    return _greatest(span_end - _greatest(_epoch(Instance.created_at), start), 0)


def _parts(win: tuple[int, int]) -> tuple[list, list]:
    """WHERE clauses on the raw columns for spans with a whole second in the window (truncated
    created < end, truncated deleted > start), as two disjoint index ranges: live, deleted."""
    start, end = win
    created_before = Instance.created_at < _from_epoch(end)
    return ([Instance.deleted_at.is_(None), created_before],
            [Instance.deleted_at >= _from_epoch(start + 1), created_before])


def overlapping(win: tuple[int, int]) -> list:
    live, gone = _parts(win)
    return [live[1], or_(live[0], gone[0])]


def _scope(cluster_name: str | None) -> list:
    if cluster_name:  # the ids are the caller's clusters: no org clause, so the cluster index is used
        return [Instance.cluster_id.in_(cluster_ids_named(cluster_name))]
    return [Instance.org_id == org_id()]


# ------------------------------------------------------------ API
def total(day: date, cluster_name: str | None = None) -> int:
    """Machine-seconds the caller's instances (of one cluster name, or all) used on `day`."""
    scope = _scope(cluster_name)  # validates the name even for a future day
    win = window(day)
    if win is None:
        return 0
    return int(db.session.scalar(select(func.coalesce(func.sum(seconds_in(win)), 0)).where(*scope, *overlapping(win))))


def statistics(args: dict) -> dict:
    """One page of the instances used on `args["date"]`, oldest first, with their seconds that day."""
    scope = _scope(args.get("cluster_name"))
    number, size = args["page_number"], args["page_size"]
    win = window(args["date"])
    if win is None:
        return {"instance_list": [], "pager": {"page_number": number, "page_size": size, "total": 0}}
    count = db.session.scalar(select(func.count()).select_from(Instance).where(*scope, *overlapping(win)))
    # Page over (created_at, id) of the two index ranges, then load just that page's rows.
    live, gone = _parts(win)
    spans = union_all(*(select(Instance.id, Instance.created_at).where(*scope, *part)
                        for part in (live, gone))).subquery()
    ids = db.session.scalars(select(spans.c.id).order_by(spans.c.created_at, spans.c.id)
                             .limit(size).offset((number - 1) * size)).all()
    rows = db.session.execute(
        select(Instance.id, Cluster.name.label("cluster_name"), Instance.instance_id, Instance.created_at,
               Instance.deleted_at, Instance.instance_type, seconds_in(win).label("seconds"))
        .join(Cluster, Cluster.id == Instance.cluster_id).where(Instance.id.in_(ids))).all() if ids else []
    position = {i: n for n, i in enumerate(ids)}
    rows.sort(key=lambda r: position[r.id])
    return {"instance_list": [{"id": str(r.id), "cluster_name": r.cluster_name,
                               "instance_id": r.instance_id, "startup_at": fmt(r.created_at),
                               "shutdown_at": fmt(r.deleted_at), "startup_time": int(r.seconds),
                               "instance_type": r.instance_type} for r in rows],
            "pager": {"page_number": number, "page_size": size, "total": count}}


# ------------------------------------------------------------ finance export (no caller scope)
def day_by_cluster_and_type(day: date, cluster_ids: list[int] | None = None) -> list[tuple[int, str, int, int]]:
    """(cluster_id, instance_type, instances, seconds) used on `day`, every organisation."""
    win = window(day)
    if win is None:
        return []
    where = overlapping(win)
    if cluster_ids is not None:
        where.append(Instance.cluster_id.in_(cluster_ids))
    rows = db.session.execute(
        select(Instance.cluster_id, Instance.instance_type, func.count(), func.sum(seconds_in(win)))
        .where(*where).group_by(Instance.cluster_id, Instance.instance_type)
        .order_by(Instance.cluster_id, Instance.instance_type)).all()
    return [(c, t, int(n), int(s)) for c, t, n, s in rows]


# ------------------------------------------------------------ finance export over many days, streamed
DAYS_PER_QUERY = 4  # days per statement: the database works out the next day while we read one


def export_days(days: list[date], cluster_ids: list[int] | None = None):
    """Yield (day, [(cluster_id, instance_type, instances, seconds)]) for consecutive `days`, oldest
    first, every organisation: the same rows as `day_by_cluster_and_type` day by day.

    Clipped to the report, a span has a first day (where it starts) and a last day (where it ends).
    Each day reads only the spans that start or end on it, grouped by cluster and type (two index
    ranges, on created_at and on deleted_at), and for each cluster and type
        seconds = live * (b - a) - sum over its spans starting that day of (start - a)
                                 - sum over its spans ending that day of (b - end)
    where live counts its spans started by that day and not ended before it. Each row is read at
    most twice; memory is one count per cluster and type, plus one statement's days of sums.
    Within one transaction (the default), every day reads the same snapshot."""
    now = utcnow()
    wins = [(d, w) for d in days if (w := window(d, now)) is not None]
    scope = [] if cluster_ids is None else [Instance.cluster_id.in_(cluster_ids)]
    live: dict[tuple[int, str], int] = {}
    for first in range(0, len(wins), DAYS_PER_QUERY):
        chunk = wins[first:first + DAYS_PER_QUERY]
        edges = _edges([w for _, w in chunk], first == 0, scope)
        for k, (day, (a, b)) in enumerate(chunk):
            starts, ends = edges.get(2 * k, {}), edges.get(2 * k + 1, {})
            for key, (n, _) in starts.items():
                live[key] = live.get(key, 0) + n
            rows = []
            for key in sorted(live):
                n = live[key]
                rows.append((*key, n, n * (b - a) - starts.get(key, (0, 0))[1] - ends.get(key, (0, 0))[1]))
            for key, (n, _) in ends.items():
                live[key] = live.get(key, 0) - n
                if not live[key]:
                    del live[key]
            yield day, rows


def _edges(wins: list[tuple[int, int]], report_start: bool, scope: list) -> dict:
    """{2k: starts, 2k + 1: ends} of the k-th window, each {(cluster_id, instance_type): (spans,
    seconds between the day's edge and theirs)}, from one UNION ALL statement (MariaDB sends each
    part's rows as soon as it is done)."""
    parts = []
    for k, (a, b) in enumerate(wins):
        parts.append(_grouped(2 * k, _starting(a, b, report_start and k == 0) + scope,
                              _greatest(_epoch(Instance.created_at), a) - a))
        # a span the cloud's clock ends before it starts (deleted < created) ends where it starts: 0 s
        parts.append(_grouped(2 * k + 1, _ending(a, b) + scope,
                              b - _greatest(_epoch(Instance.deleted_at), _greatest(_epoch(Instance.created_at), a))))
    out: dict[int, dict] = {}
    for tag, cid, itype, n, seconds in db.session.execute(union_all(*parts)):
        out.setdefault(tag, {})[cid, itype] = (n, seconds)
    return out


def _grouped(tag: int, where: list, seconds):
    # SQL_BIG_RESULT: MariaDB groups by sorting, a quarter faster here than with its temporary
    # table; the cast spares the driver a Decimal per row
    return (select(literal(tag).label("tag"), Instance.cluster_id, Instance.instance_type, func.count(),
                   cast(func.sum(seconds), BigInteger)).prefix_with("SQL_BIG_RESULT", dialect="mysql")
            .where(*where).group_by(Instance.cluster_id, Instance.instance_type))


def _starting(a: int, b: int, first: bool) -> list:
    """Spans whose clipped start is on the day [a, b) and that have a whole second from a; the
    report's first day also starts the spans begun before it."""
    where = [Instance.created_at < _from_epoch(b),
             or_(Instance.deleted_at.is_(None), Instance.deleted_at >= _from_epoch(a + 1))]
    if not first:
        where.append(Instance.created_at >= _from_epoch(a))
    return where


def _ending(a: int, b: int) -> list:
    """Spans begun by the end of the day [a, b) whose end (whole seconds) is in (a, b]. Those that
    run past the report's last day need no end: they lack nothing of it (b - end = 0), and no
    day follows."""
    return [Instance.created_at < _from_epoch(b), Instance.deleted_at >= _from_epoch(a + 1),
            Instance.deleted_at < _from_epoch(b + 1)]
