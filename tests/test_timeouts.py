"""Point 8 of issue 16: a hung database or broker never hangs the API; retried requests with an
Idempotency-Key never start a second task."""
from __future__ import annotations

import shutil
import threading
import time

import pytest

from tests.faults import FreezableProxy, PrivateRedis, swapped_broker
from tests.test_scaling import assert_db_matches_cloud, expand


def _timed(fn, limit):
    """fn() in a thread; (seconds, result) or a failure naming the limit when it hangs."""
    out = {}

    def target():
        start = time.monotonic()
        out["result"] = fn()
        out["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    assert "seconds" in out, f"no answer within {limit}s"
    return out["seconds"], out["result"]


# ---------------------------------------------------------------- Idempotency-Key
def test_expand_retried_with_the_same_key_starts_one_task(app, api, sim, cloud_cluster):
    cluster = cloud_cluster()
    headers = {"Authorization": f"Bearer {api.token}", "Idempotency-Key": "expand-7f3a"}
    body = {"task_name": "grow", "cluster_name": cluster, "count": 3}
    answers = [api.client.post("/api/v1/cluster/expand", json=body, headers=headers) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert len({r.get_json()["data"] for r in answers}) == 1
    assert api.get("task/num")[1]["data"]["task_num"] == 1
    assert_db_matches_cloud(app, sim, cluster, 3)

    # the same key on another kind of request is a conflict naming the header
    resp = api.client.post("/api/v1/cluster/shrink", json={"task_name": "s", "cluster_name": cluster, "count": 1},
                           headers=headers)
    assert resp.status_code == 409 and "Idempotency-Key" in resp.get_json()["data"]
    # a shrink retried with its own key deletes once
    headers["Idempotency-Key"] = "shrink-1"
    answers = [api.client.post("/api/v1/cluster/shrink", json={"task_name": "s", "cluster_name": cluster, "count": 1},
                               headers=headers) for _ in range(2)]
    assert [r.status_code for r in answers] == [200, 200] and answers[0].get_json() == answers[1].get_json()
    assert_db_matches_cloud(app, sim, cluster, 2)


def test_keys_are_per_organisation_and_validated(app, api, make_user, sim, cloud_cluster):
    cluster = cloud_cluster()
    first = api.client.post("/api/v1/cluster/expand", json={"task_name": "g", "cluster_name": cluster, "count": 1},
                            headers={"Authorization": f"Bearer {api.token}", "Idempotency-Key": "k1"})
    assert first.status_code == 200
    other = make_user("other-org")  # the same key elsewhere is not a replay (and reveals nothing)
    resp = other.client.post("/api/v1/cluster/expand", json={"task_name": "g", "cluster_name": cluster, "count": 1},
                             headers={"Authorization": f"Bearer {other.token}", "Idempotency-Key": "k1"})
    assert resp.status_code == 400 and "cluster_name" in resp.get_json()["data"]
    for bad in ("x" * 129, "has space"):
        resp = api.client.post("/api/v1/cluster/expand", json={"task_name": "g", "cluster_name": cluster, "count": 1},
                               headers={"Authorization": f"Bearer {api.token}", "Idempotency-Key": bad})
        assert resp.status_code == 400 and "Idempotency-Key" in resp.get_json()["data"], resp.get_json()
    assert api.get("task/num")[1]["data"]["task_num"] == 1


# ---------------------------------------------------------------- a frozen broker
@pytest.fixture
def frozen_broker_app(app, tmp_path):
    """The app with its Celery broker on a private redis-server (frozen by the test)."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    redis = PrivateRedis(tmp_path).start()
    try:
        with swapped_broker(app, redis.url, timeout=1.0):
            yield redis
    finally:
        redis.stop()


def test_a_frozen_broker_never_hangs_healthz_or_expand(app, api, sim, cloud_cluster, frozen_broker_app):
    cluster = cloud_cluster()
    assert api.client.get("/healthz").status_code == 200
    frozen_broker_app.freeze()
    try:
        seconds, resp = _timed(lambda: api.client.get("/healthz"), 30)
        assert resp.status_code == 503 and resp.get_json()["data"]["broker"].startswith("unavailable")
        assert seconds < app.config["HEALTH_TIMEOUT_SECONDS"] + 2
        seconds, answer = _timed(lambda: api.post("cluster/expand", {"task_name": "g", "cluster_name": cluster,
                                                                     "count": 1}), 60)
        assert answer[0] == 200 and seconds < 8, (seconds, answer)  # the task waits (INIT) for the resumer
    finally:
        frozen_broker_app.thaw()
    assert api.get("task/describe", task_id=answer[1]["data"])[1]["data"]["task_status"] == "INIT"


# ---------------------------------------------------------------- a frozen database
def test_a_frozen_database_never_hangs_a_route(app, api):
    """MariaDB only (the freeze is a proxy that stops relaying): /healthz and an API route answer
    503 within seconds, using the engine options the configuration builds."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("mysql"):
        pytest.skip("a database freeze needs the MariaDB pass")
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from app.extensions import db
    from config import engine_options
    target = make_url(url)
    proxy = FreezableProxy(target.host or "127.0.0.1", target.port or 3306)
    engine = create_engine(target.set(host="127.0.0.1", port=proxy.port), **engine_options(url, 2.0))
    with app.app_context():
        engines = db._app_engines[app]
        real, engines[None] = engines[None], engine
    try:
        assert api.get("task/num")[0] == 200
        proxy.freeze()
        seconds, resp = _timed(lambda: api.client.get("/healthz"), 30)
        assert resp.status_code == 503 and resp.get_json()["data"]["database"].startswith("unavailable")
        assert seconds < app.config["HEALTH_TIMEOUT_SECONDS"] + 2
        seconds, answer = _timed(lambda: api.get("task/num"), 60)
        assert answer[0] == 503 and seconds < 15, (seconds, answer)
    finally:
        proxy.close()
        with app.app_context():
            engines[None] = real
        engine.dispose()


def test_a_worker_at_full_concurrency_never_waits_for_a_database_connection(tmp_path, monkeypatch):
    """Each running scaling task holds two connections at once (its engine thread and its
    heartbeat): a worker running WORKER_CONCURRENCY tasks must get all of them from its pool, not
    time out waiting (which interrupted tasks and handed them over in the fleet benchmark)."""
    import os

    from sqlalchemy import create_engine, text

    from config import TestConfig
    monkeypatch.setenv("BRIDGX_WORKER_CONCURRENCY", "12")
    monkeypatch.setenv("BRIDGX_DB_TIMEOUT_SECONDS", "1")
    config = TestConfig(tmp_path)
    url = os.environ.get("BRIDGX_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'pool.sqlite'}"
    engine = create_engine(url, **config.SQLALCHEMY_ENGINE_OPTIONS)
    holders = 2 * config.WORKER_CONCURRENCY + 2  # + the worker's own main thread and reconciler
    all_in, errors = threading.Barrier(holders, timeout=30), []

    def hold():
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                all_in.wait()
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(type(exc).__name__)
            all_in.abort()
    threads = [threading.Thread(target=hold) for _ in range(holders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    engine.dispose()
    assert not errors, errors
