"""Regions, zones, instance types and images: answered from a per-account cache filled from the
cloud emulator on first use, by the beat job and by the refresh-catalog command."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from tests.network_fixtures import CLOUDS, KEYS, api, cloud_calls, cloudsim, sim, sim_accounts  # noqa: F401


def _lists(api, provider: str) -> dict:
    region, zone = CLOUDS[provider]
    out = {}
    for route, query in (("region/list", {}), ("zone/list", {"region_id": region}),
                         ("instance_type/list", {"region_id": region, "zone_id": zone}),
                         ("image/list", {"region_id": region})):
        status, resp = api.get(route, provider=provider, **query)
        assert status == 200, (route, resp)
        out[route] = resp["data"]
    return out


@pytest.mark.parametrize("provider", CLOUDS)
def test_lists_have_the_manuals_keys_and_come_from_the_cache_the_second_time(api, sim, sim_accounts, provider):
    region, zone = CLOUDS[provider]
    first = _lists(api, provider)
    assert region in {r["RegionId"] for r in first["region/list"]}
    assert zone in {z["ZoneId"] for z in first["zone/list"]}
    assert all(set(r) == {"RegionId", "LocalName"} for r in first["region/list"])
    assert all(set(z) == {"ZoneId", "LocalName"} for z in first["zone/list"])
    types = first["instance_type/list"]
    assert types and all({"instance_type_family", "instance_type", "core", "memory"} <= set(t) for t in types)
    assert all(isinstance(t["core"], int) and t["core"] > 0 and t["memory"] > 0 for t in types)
    images = first["image/list"]
    assert images and all({"OsType", "OsName", "ImageId"} <= set(i) for i in images)

    calls = cloud_calls(sim)
    assert _lists(api, provider) == first
    assert cloud_calls(sim) == calls  # no cloud call the second time


def test_unknown_region_or_zone_is_400(api, sim, sim_accounts):
    status, resp = api.get("zone/list", provider="AlibabaCloud", region_id="xx-nowhere-1")
    assert status == 400 and "region_id" in resp["data"]
    status, resp = api.get("instance_type/list", provider="AlibabaCloud", region_id="cn-qingdao",
                           zone_id="cn-qingdao-z")
    assert status == 400 and "zone_id" in resp["data"]
    assert api.get("zone/list", provider="AlibabaCloud")[0] == 400  # region_id is required
    assert api.get("instance_type/list", provider="AlibabaCloud", region_id="cn-qingdao")[0] == 400
    assert api.get("region/list", provider="OracleCloud")[0] == 400
    assert api.get("region/list")[0] == 400


def test_an_account_is_needed(api, sim):
    calls = cloud_calls(sim)
    status, resp = api.get("region/list", provider="AlibabaCloud")
    assert status == 400 and "account is needed" in resp["data"]["provider"]
    status, resp = api.get("region/list", provider="AlibabaCloud", account_key="AKnotmine")
    assert status == 400 and "account_key" in resp["data"]
    assert cloud_calls(sim) == calls


def test_first_account_of_the_provider_or_the_one_named(api, sim, sim_accounts, cloudsim):
    """Each account has its own cache (image lists include an account's own images)."""
    from tests.conftest import account_body
    from tests.network_fixtures import SECRET
    _, server = cloudsim
    second = "AKNETSECONDALIBABA"
    sim.configure(credentials={**{k: SECRET for k in KEYS.values()}, second: SECRET})
    assert api.post("cloud_account/create", account_body("AlibabaCloud", key=second, secret=SECRET,
                                                         endpoint=server.url))[0] == 200
    api.get("region/list", provider="AlibabaCloud")
    assert {r.access_key for r in sim.requests} == {KEYS["AlibabaCloud"]}
    api.get("region/list", provider="AlibabaCloud", account_key=second)
    assert {r.access_key for r in sim.requests} == {KEYS["AlibabaCloud"], second}


def test_stale_cache_is_refetched_and_a_failing_cloud_serves_it_with_a_warning(
        api, app, sim, sim_accounts, monkeypatch, caplog):
    from app.providers import registry
    from app.providers.retry import RetryPolicy
    first = api.get("region/list", provider="TencentCloud")[1]["data"]
    monkeypatch.setitem(app.config, "CATALOG_TTL_SECONDS", 0)  # everything is stale now
    calls = cloud_calls(sim)
    assert api.get("region/list", provider="TencentCloud")[1]["data"] == first
    assert cloud_calls(sim) == calls + 1

    monkeypatch.setattr(registry, "_policy", RetryPolicy(max_attempts=1))  # fail fast
    sim.configure(error_rate=1.0)
    # migrations/env.py's fileConfig() disables loggers that existed before the migration ran
    monkeypatch.setattr(logging.getLogger("app.catalog.service"), "disabled", False)
    with caplog.at_level(logging.WARNING, logger="app.catalog.service"):
        status, resp = api.get("region/list", provider="TencentCloud")
    assert (status, resp["data"]) == (200, first)
    assert any("serving the cached copy" in r.getMessage() for r in caplog.records)
    status, resp = api.get("region/list", provider="AWSCloud")  # nothing cached: the error shows
    assert status == 502 and resp["msg"] == "cloud_error"


def test_beat_job_and_command_refresh_the_cache(api, app, sim, sim_accounts):
    from click.testing import CliRunner

    from app.catalog.cli import refresh_catalog
    from app.catalog.models import CatalogEntry
    from app.extensions import db
    import workers.network_tasks  # noqa: F401 - registers the task

    _lists(api, "AlibabaCloud")

    def stamps():
        with app.app_context():
            return {(e.account_id, e.kind, e.region_id, e.zone_id): e.refreshed_at
                    for e in db.session.scalars(select(CatalogEntry))}

    before = stamps()
    assert len(before) == 4
    # The beat job refreshes lists past half their freshness (none yet) and fills each account's regions.
    counts = app.extensions["celery"].tasks["bridgx.catalog.refresh"].apply().get()
    assert counts == {"refreshed": 2, "failed": 0}  # the regions of the Tencent and AWS accounts
    after = stamps()
    assert len(after) == 6 and all(after[k] == v for k, v in before.items())

    calls = cloud_calls(sim)
    result = CliRunner().invoke(refresh_catalog, ["--max-age", "0"], obj=app)
    assert result.exit_code == 0, result.output
    assert "refreshed 6 catalogue lists, 0 failed" in result.output
    assert cloud_calls(sim) > calls
    assert all(stamp > before.get(key, stamp) or key not in before for key, stamp in stamps().items())
