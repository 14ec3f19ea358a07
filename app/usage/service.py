"""Machine-seconds per day, summed in SQL from the raw spans (no rollup to keep in step).

An instance is billed over [created_at, deleted_at or now). Both ends are truncated to whole
seconds first, so a span cut at any number of midnights adds up exactly to the whole span, and a
day's rows add up exactly to the day's total (both are sums of the same SQL expression).
"""
from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

from sqlalchemy import Integer, cast, func, literal_column, or_, select, union_all

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
    if _mysql():
        return func.timestampdiff(literal_column("SECOND"), literal_column("'1970-01-01 00:00:00'"), column)
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


# ------------------------------------------------------------ finance export over many days, one query
def _offsets(start: int, end: int) -> list[tuple[int, int]]:
    """[(from epoch second, UTC offset in seconds)] of the deployment zone over [start, end), oldest first."""
    zone = deployment_zone()

    def offset(t: int) -> int:
        return int(datetime.fromtimestamp(t, zone).utcoffset().total_seconds())

    segments = [(start, offset(start))]
    step = 86400
    t = start
    while t < end:
        nxt = min(t + step, end)
        if offset(nxt - 1) != segments[-1][1]:  # a transition in (t, nxt): find its first second
            lo, hi = t, nxt - 1
            while lo < hi:
                mid = (lo + hi) // 2
                if offset(mid) == segments[-1][1]:
                    lo = mid + 1
                else:
                    hi = mid
            segments.append((lo, offset(lo)))
            t = lo
            continue
        t = nxt
    return segments


def _local_day(t, segments):
    """SQL: the local date of epoch second `t` as days since 1970-01-01 (its offset looked up by range)."""
    from sqlalchemy import case
    if len(segments) == 1:
        off = literal_column(str(segments[0][1]))
    else:
        off = case(*((t < nxt, literal_column(str(o))) for (_, o), (nxt, _) in zip(segments, segments[1:])),
                   else_=literal_column(str(segments[-1][1])))
    return cast(t + off, Integer) // 86400


def range_by_cluster_and_type(days: list[date], cluster_ids: list[int] | None = None):
    """{day: [(cluster_id, instance_type, instances, seconds)]} for consecutive `days`, every
    organisation: the same numbers as `day_by_cluster_and_type` day by day, in two grouped scans.

    Each span is clipped to the whole range [A, B) as [s, e) and has a first day i and a last day j.
    On day d (window [a, b)) the live spans are those with i <= d <= j, and their seconds are
        live(d) * (b - a) - sum over i = d of (s - a) - sum over j = d of (b - e),
    so grouping by (cluster, type, i) and by (cluster, type, j) is enough: the rows read back are
    at most clusters x types x days, whatever the number of spans."""
    wins = {d: w for d in days if (w := window(d)) is not None}
    if not wins:
        return {}
    order = sorted(wins)
    first, last = wins[order[0]][0], wins[order[-1]][1]
    segments = _offsets(first - 86400, last + 86400)
    s = _greatest(_epoch(Instance.created_at), first)
    e = _least(func.coalesce(_epoch(Instance.deleted_at), last), last)
    i, j = _local_day(s, segments), _local_day(e - 1, segments)
    # j < i only for an empty span starting exactly at a midnight: no day counts it.
    where = [Instance.created_at < _from_epoch(last),
             or_(Instance.deleted_at.is_(None), Instance.deleted_at >= _from_epoch(first + 1)), j >= i]
    if cluster_ids is not None:
        where.append(Instance.cluster_id.in_(cluster_ids))
    epoch_day = date(1970, 1, 1)
    index = {(d - epoch_day).days: n for n, d in enumerate(order)}
    zero = [0] * len(order)
    starts: dict[tuple[int, str], tuple[list, list]] = {}
    ends: dict[tuple[int, str], tuple[list, list]] = {}
    for target, day_of, edge in ((starts, i, s), (ends, j, e)):
        query = (select(Instance.cluster_id, Instance.instance_type, day_of, func.count(), func.sum(edge))
                 .where(*where).group_by(Instance.cluster_id, Instance.instance_type, day_of))
        for cid, itype, day_no, n, total_edge in db.session.execute(query):
            counts, sums = target.setdefault((cid, itype), (zero.copy(), zero.copy()))
            k = index[int(day_no)]
            counts[k], sums[k] = int(n), int(total_edge)
    result: dict[date, list[tuple[int, str, int, int]]] = {d: [] for d in order}
    for key in sorted(starts):
        (s_count, s_sum), (e_count, e_sum) = starts[key], ends[key]
        began = ended_before = 0
        for k, day in enumerate(order):
            a, b = wins[day]
            began += s_count[k]
            live = began - ended_before
            if live:
                seconds = live * (b - a) - (s_sum[k] - s_count[k] * a) - (e_count[k] * b - e_sum[k])
                result[day].append((key[0], key[1], live, seconds))
            ended_before += e_count[k]
    return result
