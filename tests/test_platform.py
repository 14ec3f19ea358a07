"""Envelope, OpenAPI, health, configuration, and secrets at rest."""
import pytest

from tests.conftest import SECRETS, account_body, cluster_body


def test_openapi_document_lists_every_route_with_schemas(app, anon):
    resp = anon.client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    spec = resp.get_json()
    assert spec["openapi"].startswith("3.")
    documented = {path for path in spec["paths"]}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/v1/", "/user/")) and rule.rule != "/api/v1/openapi.json":
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            assert path in documented, path
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                op = spec["paths"][path][method.lower()]
                assert "200" in op["responses"] and op["responses"]["200"].get("content"), (method, path)
    assert "requestBody" in spec["paths"]["/api/v1/cluster/create"]["post"]
    assert anon.client.get("/api/docs").status_code == 200


def test_unknown_route_and_method_use_the_envelope(api):
    resp = api.client.get("/api/v1/nope", headers={"Authorization": f"Bearer {api.token}"})
    assert resp.status_code == 404 and resp.get_json() == {"code": 404, "msg": "not_found", "data": None}
    resp = api.client.get("/api/v1/cluster/create", headers={"Authorization": f"Bearer {api.token}"})
    assert resp.status_code == 405 and resp.get_json()["code"] == 405


def test_internal_error_leaks_nothing(app, api, monkeypatch):
    from app.clusters import service
    monkeypatch.setattr(service, "list_page", lambda args: 1 / 0)
    status, body = api.get("cluster/describe_all")
    assert status == 500 and body == {"code": 500, "msg": "internal_error", "data": None}


def test_healthz(anon):
    resp = anon.client.get("/healthz")
    assert resp.status_code == 200
    data = resp.get_json()["data"]
    assert (data["database"], data["broker"]) == ("ok", "ok")
    assert data["workers"] == 0  # tasks run inline in the tests: no worker expected
    assert anon.client.get("/readyz").get_json()["data"] == {"database": "ok", "broker": "ok"}


def test_production_config_refuses_to_start_without_secrets(monkeypatch):
    from config import ConfigError, ProductionConfig
    for name in ("DATABASE_URL", "BROKER_URL", "SECRET_KEY", "ENCRYPTION_KEY"):
        monkeypatch.delenv(f"BRIDGX_{name}", raising=False)
    with pytest.raises(ConfigError, match="BRIDGX_SECRET_KEY"):
        ProductionConfig()
    monkeypatch.setenv("BRIDGX_DATABASE_URL", "mysql+pymysql://root@127.0.0.1/test")
    monkeypatch.setenv("BRIDGX_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("BRIDGX_ENCRYPTION_KEY", "k")
    monkeypatch.setenv("BRIDGX_SECRET_KEY", "s" * 40)
    with pytest.raises(ConfigError, match="BRIDGX_ENCRYPTION_KEY key #1 is not a Fernet key"):
        ProductionConfig()
    monkeypatch.setenv("BRIDGX_ENCRYPTION_KEY", "h7N0p2Lx3Gf6Qz1Vb8Jc5Wm4Ry9Ta0Ku2Ds7Ep3Fo1M=")
    monkeypatch.setenv("BRIDGX_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="at least 32"):
        ProductionConfig()
    monkeypatch.setenv("BRIDGX_SECRET_KEY", "s" * 40)
    assert ProductionConfig().CELERY_RESULT_BACKEND == "redis://127.0.0.1:6379/0"


def test_secrets_not_in_plaintext_in_the_database_file(app, api):
    """Cloud secret and instance password go in through the API; neither appears in the file."""
    acc = api.post("cloud_account/create", account_body())[1]["data"]
    body = cluster_body(acc["account_key"])
    assert api.post("cluster/create", body)[0] == 200
    from app.extensions import db
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # checkpoint the WAL so the bytes are in the main file
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("sqlite:///"):
        pytest.skip("file check is for the SQLite database")
    import glob
    path = url[len("sqlite:///"):]
    data = b"".join(open(p, "rb").read() for p in glob.glob(path + "*"))
    assert data, "database file not found"
    for secret in (body["password"],) + tuple(SECRETS):
        assert secret.encode() not in data
