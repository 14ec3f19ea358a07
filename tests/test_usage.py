"""Usage (billing): hand-computed days, a property test of additivity, tenancy, bad dates, the export."""
from __future__ import annotations

import calendar
import csv
import io
import json
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_instances import SHANGHAI, Fleet, fleet, utc  # noqa: F401 - fleet is a fixture

DAY = "2021-10-11"
NOW = "2021-10-20 12:00:00"  # frozen "now" (Shanghai): 2021-10-20 is "today"

# (case, created, deleted or None, expected seconds on {day: seconds}); Shanghai local times.
CASES = [
    ("inside the day", "2021-10-11 10:00:00", "2021-10-11 10:30:00", {DAY: 1800}),
    ("day before, still running", "2021-10-10 22:00:00", None,
     {"2021-10-10": 7200, DAY: 86400, "2021-10-19": 86400, "2021-10-20": 43200, "2021-10-21": 0}),
    ("deleted the next day", "2021-10-11 20:00:00", "2021-10-12 03:00:00", {DAY: 14400, "2021-10-12": 10800}),
    ("created after the day", "2021-10-12 00:00:00", "2021-10-12 01:00:00", {DAY: 0, "2021-10-12": 3600}),
    ("deleted before the day", "2021-10-10 10:00:00", "2021-10-10 23:59:59", {DAY: 0, "2021-10-10": 50399}),
    ("crossing two midnights", "2021-10-10 23:00:00", "2021-10-12 01:00:00",
     {"2021-10-10": 3600, DAY: 86400, "2021-10-12": 3600}),
    ("deleted exactly at midnight", "2021-10-11 22:00:00", "2021-10-12 00:00:00", {DAY: 7200, "2021-10-12": 0}),
    ("created exactly at midnight", "2021-10-11 00:00:00", "2021-10-11 00:00:01", {"2021-10-10": 0, DAY: 1}),
    ("fractions of seconds are cut", "2021-10-11 09:59:59.900000", "2021-10-11 10:00:02.100000", {DAY: 3}),
    ("created today, running", "2021-10-20 09:00:00", None, {"2021-10-20": 10800, "2021-10-19": 0}),
    ("created today, deleted", "2021-10-20 00:30:00", "2021-10-20 01:00:00", {"2021-10-20": 1800}),
]


@pytest.fixture
def clock(monkeypatch):
    """clock("2021-10-20 12:00:00") freezes the usage service's now (Shanghai local time)."""
    def _set(local: str):
        monkeypatch.setattr("app.usage.service.utcnow", lambda: utc(local))
    _set(NOW)
    return _set


def usage_total(api, day, **query) -> int:
    status, body = api.get("instance/usage_total", date=day, **query)
    assert status == 200, body
    assert set(body["data"]) == {"usage_total"}
    return body["data"]["usage_total"]


def usage_rows(api, day, page_size=50, **query) -> list[dict]:
    """Every row of usage_statistics for a day, following the pages."""
    rows, page = [], 1
    while True:
        status, body = api.get("instance/usage_statistics", date=day, page_number=page, page_size=page_size, **query)
        assert status == 200, body
        rows += body["data"]["instance_list"]
        if page * page_size >= body["data"]["pager"]["total"]:
            assert len(rows) == body["data"]["pager"]["total"]
            return rows
        page += 1


def test_hand_computed_cases(api, fleet, clock):
    for i, (_, created, deleted, _) in enumerate(CASES):
        fleet.add(f"case{i}", created, deleted)
    wrong = []
    for i, (case, created, deleted, expected) in enumerate(CASES):
        for day, seconds in expected.items():
            got = usage_total(api, day, cluster_name=f"case{i}")
            rows = usage_rows(api, day, cluster_name=f"case{i}")
            if got != seconds or [r["startup_time"] for r in rows] != ([seconds] if seconds else []):
                wrong.append((case, day, seconds, got, rows))
    assert not wrong
    # all clusters: the sum of the cases, and the rows add up to it
    total = sum(exp.get(DAY, 0) for *_, exp in CASES)
    assert usage_total(api, DAY) == total == sum(r["startup_time"] for r in usage_rows(api, DAY, page_size=2))


def test_statistics_row_shape(api, fleet, clock):
    iid = fleet.add("gf.bridgx.online", "2021-10-11 10:16:53", "2021-10-11 11:21:27")
    live = fleet.add("gf.bridgx.online", "2021-10-11 12:00:00")
    status, body = api.get("instance/usage_statistics", date=DAY)
    assert status == 200
    first, second = body["data"]["instance_list"]
    assert first == {"id": first["id"], "cluster_name": "gf.bridgx.online", "instance_id": iid,
                     "startup_at": "2021-10-11 10:16:53 +0800 CST", "shutdown_at": "2021-10-11 11:21:27 +0800 CST",
                     "startup_time": 3874, "instance_type": "ecs.g6.large"}
    assert isinstance(first["id"], str)
    assert second["instance_id"] == live and second["shutdown_at"] == "" and second["startup_time"] == 12 * 3600
    assert body["data"]["pager"] == {"page_number": 1, "page_size": 10, "total": 2}


def test_today_without_a_frozen_clock(api, fleet):
    """Real now: a machine started an hour ago has about 3600 s today (or less just after midnight)."""
    from app.core.db import utcnow
    fleet.add("live", utcnow() - timedelta(hours=1))
    today = datetime.now(tz=SHANGHAI).date().isoformat()
    assert 0 < usage_total(api, today) <= 3600 + 5


def test_future_dates_are_zero_and_empty(api, fleet, clock):
    fleet.add("web", "2021-10-20 09:00:00")
    for day in ("2021-10-21", "2099-01-01", "9999-12-31"):
        assert usage_total(api, day) == 0
        status, body = api.get("instance/usage_statistics", date=day)
        assert status == 200 and body["data"]["instance_list"] == [] and body["data"]["pager"]["total"] == 0
    assert usage_total(api, "0001-01-01") == 0


@pytest.mark.parametrize("value", ["2021-13-40", "2021-10-11x", "2021-02-29", "20211011", "2021-1-1", "", "today",
                                   "2021-10-11T00:00:00", "0000-01-01"])
def test_bad_date_is_400_naming_date(api, value):
    for path in ("instance/usage_total", "instance/usage_statistics"):
        status, body = api.get(path, date=value)
        assert status == 400 and body["msg"] == "param_invalid" and "date" in body["data"], (path, value, body)


def test_missing_date_and_unknown_cluster_are_400(api, fleet):
    fleet.cluster("web")
    for path in ("instance/usage_total", "instance/usage_statistics"):
        status, body = api.get(path)
        assert status == 400 and "date" in body["data"]
        status, body = api.get(path, date=DAY, cluster_name="nope")
        assert status == 400 and "cluster_name" in body["data"]
    # issue 12: paging is normalised, and an empty cluster_name (ComandX's "all clusters") is no filter
    status, body = api.get("instance/usage_statistics", date=DAY, page_size=0, cluster_name="")
    assert status == 200 and body["data"]["pager"]["page_size"] == 10


def test_daylight_saving_days_are_23_and_25_hours(app, api, fleet, clock, monkeypatch):
    monkeypatch.setitem(app.config, "TIMEZONE", "America/New_York")
    clock("2022-01-01 00:00:00")
    fleet.add("ny", datetime(2021, 3, 1), datetime(2021, 12, 1))
    assert usage_total(api, "2021-03-14") == 23 * 3600
    assert usage_total(api, "2021-11-07") == 25 * 3600
    assert usage_total(api, "2021-11-08") == 24 * 3600


def test_an_organisation_never_sees_another_organisations_usage(app, make_user, clock):
    a, b = make_user("org-a"), make_user("org-b")
    fa, fb = Fleet(app, a), Fleet(app, b)
    fa.add("shared-name", "2021-10-11 10:00:00", "2021-10-11 11:00:00")
    fa.add("secret", "2021-10-11 10:00:00")
    fb.add("shared-name", "2021-10-11 10:00:00", "2021-10-11 10:00:10")
    assert usage_total(b, DAY) == 10 and usage_total(b, DAY, cluster_name="shared-name") == 10
    assert [r["startup_time"] for r in usage_rows(b, DAY)] == [10]
    assert b.get("instance/usage_total", date=DAY, cluster_name="secret")[0] == 400
    assert b.get("instance/usage_statistics", date=DAY, cluster_name="secret")[0] == 400
    assert usage_total(a, DAY) == 3600 + 14 * 3600


# ---------------------------------------------------------------- property test
BASE = utc("2021-10-11 00:00:00")
FROZEN_NOW = BASE + timedelta(days=5, hours=7, minutes=3)
spans = st.lists(st.tuples(st.integers(0, 5 * 86400 + 3600), st.integers(0, 999999),
                           st.one_of(st.none(), st.integers(0, 3 * 86400)), st.integers(0, 999999)),
                 min_size=1, max_size=8)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spans=spans)
def test_days_add_up(app, api, fleet, monkeypatch, spans):
    """For random spans: a day's rows sum to its total, and an instance's days sum to its whole span."""
    from sqlalchemy import delete

    from app.extensions import db
    from app.instances.models import Instance

    monkeypatch.setattr("app.usage.service.utcnow", lambda: FROZEN_NOW)
    with app.app_context():
        db.session.execute(delete(Instance))
        db.session.commit()
    whole = {}
    for start, us, length, us2 in spans:
        created = BASE + timedelta(seconds=start, microseconds=us)
        deleted = None if length is None else min(created + timedelta(seconds=length, microseconds=us2), FROZEN_NOW)
        iid = fleet.add("prop", created, deleted)
        end = deleted or FROZEN_NOW
        whole[iid] = calendar.timegm(end.timetuple()) - calendar.timegm(created.timetuple())

    per_instance = dict.fromkeys(whole, 0)
    day = date(2021, 10, 10)
    while day <= date(2021, 10, 17):
        rows = usage_rows(api, day.isoformat(), page_size=3)
        assert sum(r["startup_time"] for r in rows) == usage_total(api, day.isoformat())
        assert all(r["startup_time"] >= 0 for r in rows)
        for r in rows:
            per_instance[r["instance_id"]] += r["startup_time"]
        day += timedelta(days=1)
    assert per_instance == whole


# ---------------------------------------------------------------- finance export
def test_usage_report_csv_and_json(app, api, fleet, clock):
    from click.testing import CliRunner

    from app.usage.cli import usage_report

    fleet.add("web", "2021-10-10 23:00:00", "2021-10-11 01:00:00")
    fleet.add("web", "2021-10-11 10:00:00", "2021-10-11 10:00:30", instance_type="ecs.c6.large")
    fleet.add("db", "2021-10-11 23:00:00")
    runner = CliRunner()
    with app.app_context():
        result = runner.invoke(usage_report, ["--from", "2021-10-10", "--to", "2021-10-12"])
        assert result.exit_code == 0, result.output
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        got = {(r["date"], r["cluster_name"], r["instance_type"]): int(r["seconds"]) for r in rows}
        assert got == {("2021-10-10", "web", "ecs.g6.large"): 3600, ("2021-10-11", "web", "ecs.g6.large"): 3600,
                       ("2021-10-11", "web", "ecs.c6.large"): 30, ("2021-10-11", "db", "ecs.g6.large"): 3600,
                       ("2021-10-12", "db", "ecs.g6.large"): 86400}
        assert {r["organization"] for r in rows} == {"acme"}

        result = runner.invoke(usage_report, ["--from", DAY, "--to", DAY, "--cluster", "web", "--format", "json"])
        assert result.exit_code == 0, result.output
        [web] = json.loads(result.stdout)
        assert web["date"] == DAY and web["cluster_name"] == "web" and web["seconds"] == 3630
        assert web["seconds"] == usage_total(api, DAY, cluster_name="web")
        assert {t["instance_type"]: t["seconds"] for t in web["instance_types"]} == {"ecs.g6.large": 3600,
                                                                                     "ecs.c6.large": 30}
        assert runner.invoke(usage_report, ["--from", "2021-10-12", "--to", DAY]).exit_code == 2
        assert runner.invoke(usage_report, ["--from", "2021-13-40", "--to", DAY]).exit_code == 2
        assert runner.invoke(usage_report, ["--from", DAY, "--to", DAY, "--cluster", "nope"]).exit_code != 0


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "Australia/Lord_Howe"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spans=spans)
def test_export_over_a_range_equals_day_by_day(app, api, fleet, monkeypatch, zone, spans):
    """The streamed export gives exactly the per-day SQL's numbers, DST days and half-hour
    offsets included (New York changes clocks on 2021-11-07, Lord Howe by 30 min on 2021-10-03)."""
    from sqlalchemy import delete

    from app.extensions import db
    from app.instances.models import Instance
    from app.usage.service import day_by_cluster_and_type, export_days

    base = {"Asia/Shanghai": BASE, "America/New_York": utc("2021-11-06 12:00:00"),
            "Australia/Lord_Howe": utc("2021-10-02 05:00:00")}[zone]
    monkeypatch.setitem(app.config, "TIMEZONE", zone)
    monkeypatch.setattr("app.usage.service.utcnow", lambda: base + timedelta(days=5, hours=7, minutes=3))
    with app.app_context():
        db.session.execute(delete(Instance))
        db.session.commit()
    for n, (start, us, length, us2) in enumerate(spans):
        created = base + timedelta(seconds=start, microseconds=us)
        deleted = None if length is None else created + timedelta(seconds=length, microseconds=us2)
        fleet.add("prop" if n % 2 else "other", created, deleted, instance_type=f"t{n % 3}")
    days = [base.date() - timedelta(days=2) + timedelta(days=k) for k in range(10)]
    with app.app_context():
        expected = {d: rows for d in days if (rows := day_by_cluster_and_type(d))}
        got = {d: rows for d, rows in export_days(days) if rows}
        assert got == expected
        # a report that ends (and one that starts) while spans are running
        assert {d: r for d, r in export_days(days[1:5]) if r} == {d: r for d in days[1:5] if (r := expected.get(d))}
        only = [fleet.clusters["prop"]] if "prop" in fleet.clusters else []
        assert ({d: r for d, r in export_days(days, only) if r}
                == {d: r for d in days if (r := day_by_cluster_and_type(d, only))})


# ---------------------------------------------------------------- the export's numbers, pinned by hand
def _report(app, *args) -> list[tuple]:
    """`usage-report` CSV rows as (date, organization, cluster_name, instance_type, instances, seconds), in order."""
    from click.testing import CliRunner

    from app.usage.cli import usage_report
    with app.app_context():
        result = CliRunner().invoke(usage_report, list(args))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "date,organization,cluster_id,cluster_name,instance_type,instances,seconds"
    return [(r["date"], r["organization"], r["cluster_name"], r["instance_type"], int(r["instances"]),
             int(r["seconds"])) for r in csv.DictReader(io.StringIO(result.stdout))]


def test_usage_report_pinned_days(app, fleet, make_user, clock):
    """Per-day instances and seconds of the export on hand-computed spans (Shanghai; now is
    2021-10-20 12:00): midnights, the report's first and last day, fractions, zero-second spans,
    machines still running, ghosts the reconciler closed, failed, two types, two organisations."""
    g6, c6 = "ecs.g6.large", "ecs.c6.large"
    fleet.add("inside", "2021-10-11 10:00:00", "2021-10-11 10:30:00")
    fleet.add("from-before", "2021-10-10 22:00:00", "2021-10-11 03:00:00")  # crosses the report's start
    fleet.add("midnight", "2021-10-11 20:00:00", "2021-10-12 03:00:00")
    fleet.add("running", "2021-10-12 23:00:00")  # crosses the report's end, still running
    fleet.add("whole", "2021-10-09 12:00:00", "2021-10-14 00:00:00")
    fleet.add("at-midnight", "2021-10-11 22:00:00", "2021-10-12 00:00:00")  # no row on the 12th
    fleet.add("from-midnight", "2021-10-11 00:00:00", "2021-10-11 00:00:01")
    fleet.add("before", "2021-10-10 10:00:00", "2021-10-10 23:59:59")  # no row at all
    fleet.add("ends-at-start", "2021-10-10 23:00:00", "2021-10-11 00:00:00.999999")  # cut to 00:00:00: no row
    fleet.add("fractions", "2021-10-11 09:59:59.900000", "2021-10-11 10:00:02.100000")
    fleet.add("sub-second", "2021-10-11 10:00:00.200000", "2021-10-11 10:00:00.700000")  # a row of 0 s
    fleet.add("sub-second-midnight", "2021-10-11 23:59:59.500000", "2021-10-12 00:00:00.300000")
    fleet.add("empty-at-midnight", "2021-10-12 00:00:00.200000", "2021-10-12 00:00:00.700000")  # no row
    fleet.add("after", "2021-10-13 00:00:00", "2021-10-13 01:00:00")  # no row
    # a ghost: the reconciler found it gone and ended it at the last time the cloud showed it
    fleet.add("ghost", "2021-10-11 08:00:00", "2021-10-11 09:00:00", status="Deleted",
              last_seen_at=utc("2021-10-11 09:00:00"))
    # last seen long ago but not (yet) found gone: billed until now
    fleet.add("unseen", "2021-10-11 08:00:00", last_seen_at=utc("2021-10-11 09:00:00"))
    fleet.add("failed", "2021-10-11 12:00:00", "2021-10-11 12:00:05", status="Failed")
    fleet.add("mixed", "2021-10-11 01:00:00", "2021-10-11 02:00:00")
    fleet.add("mixed", "2021-10-11 03:00:00", "2021-10-11 03:30:00")
    fleet.add("mixed", "2021-10-12 05:00:00", "2021-10-12 06:00:00", instance_type=c6)
    Fleet(app, make_user("beta")).add("other-org", "2021-10-12 12:00:00", "2021-10-12 12:00:42")

    a = "acme"
    assert _report(app, "--from", "2021-10-11", "--to", "2021-10-12") == [
        ("2021-10-11", a, "inside", g6, 1, 1800),
        ("2021-10-11", a, "from-before", g6, 1, 10800),
        ("2021-10-11", a, "midnight", g6, 1, 14400),
        ("2021-10-11", a, "whole", g6, 1, 86400),
        ("2021-10-11", a, "at-midnight", g6, 1, 7200),
        ("2021-10-11", a, "from-midnight", g6, 1, 1),
        ("2021-10-11", a, "fractions", g6, 1, 3),
        ("2021-10-11", a, "sub-second", g6, 1, 0),
        ("2021-10-11", a, "sub-second-midnight", g6, 1, 1),
        ("2021-10-11", a, "ghost", g6, 1, 3600),
        ("2021-10-11", a, "unseen", g6, 1, 16 * 3600),
        ("2021-10-11", a, "failed", g6, 1, 5),
        ("2021-10-11", a, "mixed", g6, 2, 5400),
        ("2021-10-12", a, "midnight", g6, 1, 10800),
        ("2021-10-12", a, "running", g6, 1, 3600),
        ("2021-10-12", a, "whole", g6, 1, 86400),
        ("2021-10-12", a, "unseen", g6, 1, 86400),
        ("2021-10-12", a, "mixed", c6, 1, 3600),
        ("2021-10-12", "beta", "other-org", g6, 1, 42),
    ]
    # today is cut at now, tomorrow has nothing yet
    fleet.add("today", "2021-10-20 09:00:00")
    fleet.add("today-done", "2021-10-20 00:30:00", "2021-10-20 01:00:00")
    assert _report(app, "--from", "2021-10-19", "--to", "2021-10-21") == [
        ("2021-10-19", a, "running", g6, 1, 86400),
        ("2021-10-19", a, "unseen", g6, 1, 86400),
        ("2021-10-20", a, "running", g6, 1, 43200),
        ("2021-10-20", a, "unseen", g6, 1, 43200),
        ("2021-10-20", a, "today", g6, 1, 10800),
        ("2021-10-20", a, "today-done", g6, 1, 1800),
    ]
    assert _report(app, "--from", "2021-10-21", "--to", "2021-10-30") == []
    assert _report(app, "--from", "2021-10-12", "--to", "2021-10-12", "--org", "beta") == [
        ("2021-10-12", "beta", "other-org", g6, 1, 42)]
    assert _report(app, "--from", "2021-10-11", "--to", "2021-10-11", "--cluster", "mixed") == [
        ("2021-10-11", a, "mixed", g6, 2, 5400)]


def test_usage_report_pinned_daylight_saving(app, fleet, clock, monkeypatch):
    """New York: 2021-11-07 is 25 hours; 01:30 happens twice that night."""
    monkeypatch.setitem(app.config, "TIMEZONE", "America/New_York")
    clock("2021-11-20 12:00:00")
    g6 = "ecs.g6.large"
    fleet.add("across", datetime(2021, 11, 7, 2), datetime(2021, 11, 8, 6))  # 11-06 22:00 EDT → 11-08 01:00 EST
    fleet.add("twice", datetime(2021, 11, 7, 5, 30), datetime(2021, 11, 7, 6, 30))  # 01:30 EDT → 01:30 EST
    fleet.add("late", datetime(2021, 11, 8, 4, 30), datetime(2021, 11, 8, 5, 30))  # 11-07 23:30 → 11-08 00:30 EST
    assert _report(app, "--from", "2021-11-06", "--to", "2021-11-08") == [
        ("2021-11-06", "acme", "across", g6, 1, 7200),
        ("2021-11-07", "acme", "across", g6, 1, 25 * 3600),
        ("2021-11-07", "acme", "twice", g6, 1, 3600),
        ("2021-11-07", "acme", "late", g6, 1, 1800),
        ("2021-11-08", "acme", "across", g6, 1, 3600),
        ("2021-11-08", "acme", "late", g6, 1, 1800),
    ]


def test_usage_report_json_is_written_as_it_goes():
    """The JSON export writes each day of a cluster once its rows are read (flat memory over any
    range), and the text is exactly `json.dump(list, indent=1)`'s."""
    from app.usage.cli import write_json

    out = io.StringIO()
    d1, d2 = date(2021, 10, 11), date(2021, 10, 12)

    def rows():
        yield d1, 1, "web", "acme", "ecs.g6.large", 2, 7200
        yield d1, 1, "web", "acme", "ecs.c6.large", 1, 30
        yield d1, 2, "数据库", "acme", "ecs.g6.large", 1, 5
        assert '"cluster_id": 1' in out.getvalue()  # day 1 of cluster 1 is out already
        yield d2, 1, "web", "acme", "ecs.g6.large", 1, 3600

    write_json(rows(), out)
    web = {"date": "2021-10-11", "organization": "acme", "cluster_id": 1, "cluster_name": "web", "instances": 3,
           "seconds": 7230, "instance_types": [{"instance_type": "ecs.g6.large", "instances": 2, "seconds": 7200},
                                               {"instance_type": "ecs.c6.large", "instances": 1, "seconds": 30}]}
    db_ = {"date": "2021-10-11", "organization": "acme", "cluster_id": 2, "cluster_name": "数据库", "instances": 1,
           "seconds": 5, "instance_types": [{"instance_type": "ecs.g6.large", "instances": 1, "seconds": 5}]}
    web2 = {"date": "2021-10-12", "organization": "acme", "cluster_id": 1, "cluster_name": "web", "instances": 1,
            "seconds": 3600, "instance_types": [{"instance_type": "ecs.g6.large", "instances": 1, "seconds": 3600}]}
    assert out.getvalue() == json.dumps([web, db_, web2], ensure_ascii=False, indent=1) + "\n"
    empty = io.StringIO()
    write_json(iter(()), empty)
    assert empty.getvalue() == "[]\n"


def test_a_span_the_cloud_clock_ends_before_it_starts_bills_nothing_in_the_export(app, api, fleet, monkeypatch):
    """created_at is the cloud's accept time, deleted_at ours: with the cloud's clock ahead, a
    machine deleted at once can end seconds "before" it started. The API bills it 0 seconds; the
    finance export must agree (not subtract them from the cluster's other machines)."""
    from sqlalchemy import delete

    from app.extensions import db
    from app.instances.models import Instance
    from app.usage.service import day_by_cluster_and_type, export_days
    monkeypatch.setattr("app.usage.service.utcnow", lambda: BASE + timedelta(days=2))
    with app.app_context():
        db.session.execute(delete(Instance))
        db.session.commit()
    fleet.add("skew", BASE + timedelta(hours=3, seconds=5), BASE + timedelta(hours=3))  # ends 5 s "before"
    fleet.add("skew", BASE + timedelta(hours=1), BASE + timedelta(hours=2))  # an hour
    day = date(2021, 10, 11)  # BASE is its midnight in the deployment's zone
    with app.app_context():
        [(_, _, machines, seconds)] = day_by_cluster_and_type(day)
        assert (machines, seconds) == (2, 3600)
        assert dict(export_days([day]))[day] == day_by_cluster_and_type(day)
