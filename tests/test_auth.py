import time

import jwt

from tests.conftest import Api


def test_login_gives_a_token_that_opens_the_api(app, anon):
    from app.auth.service import create_user
    from tests.conftest import new_password
    password = new_password()
    with app.app_context():
        create_user("acme", "dora", password)
    status, body = anon.post("/user/login", {"username": "dora", "password": password})
    assert status == 200 and body["msg"] == "success" and isinstance(body["data"], str)
    status, body = Api(anon.client, body["data"]).get("cluster/describe_all")
    assert status == 200 and body["code"] == 200 and body["msg"] == "success"


def test_wrong_password_is_401(app, make_user, anon):
    make_user(username="alice")
    status, body = anon.post("/user/login", {"username": "alice", "password": "nope"})
    assert status == 401 and body == {"code": 401, "msg": "unauthorized", "data": {"reason": "wrong username or password"}}


def test_unknown_user_is_401_same_message(anon):
    status, body = anon.post("/user/login", {"username": "ghost", "password": "whatever"})
    assert status == 401 and body["data"]["reason"] == "wrong username or password"


def test_login_missing_field_is_400_naming_it(anon):
    status, body = anon.post("/user/login", {"username": "x"})
    assert status == 400 and body["msg"] == "param_invalid" and "password" in body["data"]


def test_every_api_v1_route_requires_a_token(app, anon):
    """Walk the URL map: every /api/v1/ route but the OpenAPI document answers 401 without a token."""
    from app.core.tenancy import PUBLIC_API_PATHS
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule in PUBLIC_API_PATHS:
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<int:{arg}>", "1").replace(f"<{arg}>", "1")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            resp = anon.client.open(path, method=method)
            assert resp.status_code == 401, (method, path, resp.status_code)
            assert resp.get_json()["msg"] == "unauthorized"
            checked += 1
    assert checked >= 10


def test_garbage_and_expired_tokens_are_401(app, api):
    status, _ = Api(api.client, "not-a-token").get("cluster/describe_all")
    assert status == 401
    claims = jwt.decode(api.token, options={"verify_signature": False})
    claims["exp"] = int(time.time()) - 10
    expired = jwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256")
    status, body = Api(api.client, expired).get("cluster/describe_all")
    assert status == 401 and body["data"]["reason"] == "token expired"
    forged = jwt.encode(dict(claims, exp=int(time.time()) + 100), "another-key-of-sufficient-length!!", algorithm="HS256")
    assert Api(api.client, forged).get("cluster/describe_all")[0] == 401


def test_refresh_token(api):
    status, body = api.post("/user/refresh_token")
    assert status == 200 and body["data"] and body["data"].count(".") == 2
    assert Api(api.client, body["data"]).get("cluster/describe_all")[0] == 200
    assert Api(api.client, None).post("/user/refresh_token")[0] == 401


def test_long_lived_api_token(app, make_user):
    from app.auth.service import create_api_token
    user = make_user(username="bot")
    with app.app_context():
        token = create_api_token("bot")
    assert token.startswith("bxt_")
    assert Api(user.client, token).get("cluster/describe_all")[0] == 200
    assert Api(user.client, token + "x").get("cluster/describe_all")[0] == 401


def test_passwords_are_hashed_with_argon2(app, make_user):
    from app.auth.models import User
    from app.extensions import db
    make_user(username="carol")
    with app.app_context():
        user = db.session.query(User).filter_by(username="carol").one()
        assert user.password_hash.startswith("$argon2")
