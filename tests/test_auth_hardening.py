"""Security issue 11, findings 6, 7, 8 and the JWT `sub` of 10: what an unauthenticated or
revoked caller can still make the API do."""
from __future__ import annotations

import secrets
import threading
import time

import jwt
import pytest
from click.testing import CliRunner

from tests.conftest import Api, new_password


def _user(app, org="acme", admin=False, password=None):
    from app.auth.service import create_user
    username, password = f"u{secrets.token_hex(4)}", password or new_password()
    with app.app_context():
        create_user(org, username, password, admin=admin)
    return username, password


def _login(client, username, password, addr="127.0.0.1"):
    resp = client.post("/user/login", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": addr})
    return resp


# ---------------------------------------------------------------- finding 6: JSON5 before login
def test_big_lenient_body_is_refused_before_json5_runs(app, anon, monkeypatch):
    """A 64 KiB body with a trailing comma used to take the pure-Python JSON5 path (4-6 s of CPU
    per request, before any authentication). Strict JSON fails, and JSON5 is never tried."""
    import app.core.api as api_module
    calls = []
    real = api_module.json5.loads
    monkeypatch.setattr(api_module.json5, "loads", lambda text, *a, **k: calls.append(len(text)) or real(text, *a, **k))
    head, tail = '{"username": "x", "password": "y",', "}"
    body = head + " " * (64 * 1024 - len(head) - len(tail)) + tail
    assert len(body.encode()) == 64 * 1024
    resp = anon.client.post("/user/login", data=body, content_type="application/json")
    assert resp.status_code in (400, 413), resp.get_data(as_text=True)
    assert resp.get_json()["msg"] in ("param_invalid", "payload_too_large")
    assert calls == []
    # the manual's small trailing-comma bodies still parse (a 401 here: the body was understood)
    resp = anon.client.post("/user/login", data='{"username": "x", "password": "y",}', content_type="application/json")
    assert resp.status_code == 401 and calls == [len('{"username": "x", "password": "y",}')]


# ---------------------------------------------------------------- finding 7: login throttling
def test_wrong_passwords_lock_the_account_with_retry_after(app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_USER", 5)
    username, password = _user(app)
    other, other_password = _user(app)
    client, addr = app.test_client(), f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.7"
    for _ in range(5):
        assert _login(client, username, "wrong-" + secrets.token_hex(4), addr).status_code == 401
    for pw in ("still-wrong", password):  # now even the right password waits
        resp = _login(client, username, pw, addr)
        assert resp.status_code == 429 and resp.get_json()["msg"] == "too_many_requests"
        assert 0 < int(resp.headers["Retry-After"]) <= app.config["LOGIN_WINDOW_SECONDS"]
    resp = _login(client, username, password, "192.0.2.55")  # the lock is on the account, any address
    assert resp.status_code == 429
    assert _login(client, other, other_password, addr).status_code == 200  # other accounts are not locked


def test_a_success_clears_the_account_count(app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_USER", 3)
    username, password = _user(app)
    client = app.test_client()
    for _ in range(2):
        assert _login(client, username, "nope", "192.0.2.1").status_code == 401
    assert _login(client, username, password, "192.0.2.1").status_code == 200
    for _ in range(2):
        assert _login(client, username, "nope", "192.0.2.1").status_code == 401
    assert _login(client, username, password, "192.0.2.1").status_code == 200


def test_one_address_spraying_many_accounts_is_throttled(app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 4)
    client = app.test_client()
    addr = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.9"
    for _ in range(4):
        assert _login(client, f"ghost{secrets.token_hex(3)}", "pw", addr).status_code == 401
    username, password = _user(app)
    resp = _login(client, username, password, addr)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert _login(client, username, password, "192.0.2.200").status_code == 200  # another address is fine


def test_argon2_memory_is_bounded_and_old_hashes_rehash(app):
    from argon2 import PasswordHasher
    from argon2 import extract_parameters

    from app.auth.models import User
    from app.extensions import db
    username, password = _user(app)
    with app.app_context():
        user = db.session.query(User).filter_by(username=username).one()
        assert extract_parameters(user.password_hash).memory_cost <= 19 * 1024  # OWASP: 19 MiB
        user.password_hash = PasswordHasher().hash(password)  # the old 64 MiB parameters
        db.session.commit()
    assert _login(app.test_client(), username, password).status_code == 200
    with app.app_context():
        new = db.session.query(User).filter_by(username=username).one().password_hash
        assert extract_parameters(new).memory_cost == 19 * 1024


def peak_hashes_at_once(app, monkeypatch, call) -> int:
    """The most argon2 runs (a counting stand-in, 50 ms each) at once while 16 threads each make
    call(service) in an app context."""
    from app.auth import service
    active, peak, lock = [0], [0], threading.Lock()

    class Counting:
        def _busy(self):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.05)
            with lock:
                active[0] -= 1

        def hash(self, *_):
            self._busy()
            return "$argon2id$x"

        def verify(self, *_):
            self._busy()
            return True

    monkeypatch.setattr(service, "_hasher", Counting())

    def attempt():
        with app.app_context():
            call(service)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return peak[0]


def test_concurrent_password_hashes_are_bounded(app, monkeypatch):
    """At most LOGIN_HASH_CONCURRENCY argon2 runs at once per process, however many logins arrive."""
    peak = peak_hashes_at_once(app, monkeypatch, lambda service: service._verify("$argon2id$...", "pw"))
    assert 1 <= peak <= app.config["LOGIN_HASH_CONCURRENCY"]


@pytest.mark.parametrize("call", ["hash_password", "password_matches"])
def test_password_changes_share_the_hash_bound(app, monkeypatch, call):
    """Changing a password (user/modify_password checks the old one and hashes the new one;
    create_user and the operator's set-password hash too) takes the same bounded slots as a
    login: an authenticated caller cannot run unbounded 19 MiB argon2 hashes at once."""
    user = type("U", (), {"password_hash": "$argon2id$..."})()
    calls = {"hash_password": lambda service: service.hash_password("pw"),
             "password_matches": lambda service: service.password_matches(user, "pw")}
    peak = peak_hashes_at_once(app, monkeypatch, calls[call])
    assert 1 <= peak <= app.config["LOGIN_HASH_CONCURRENCY"]


# ---------------------------------------------------------------- finding 8: revocation
def _bearer(app, token):
    return Api(app.test_client(), token)


def test_revoking_a_token_ends_every_jwt_minted_from_it(app, make_user):
    from app.auth.service import create_api_token
    owner = make_user("acme", admin=False)
    colleague = make_user("acme", admin=False)
    admin_elsewhere = make_user("other-org", admin=True)
    with app.app_context():
        bxt = create_api_token(owner.username, "ci")
    jwt1 = _bearer(app, bxt).post("/user/refresh_token")[1]["data"]
    jwt2 = _bearer(app, jwt1).post("/user/refresh_token")[1]["data"]
    for token in (bxt, jwt1, jwt2):
        assert _bearer(app, token).get("cluster/describe_all")[0] == 200

    status, body = owner.get("token/list")
    assert status == 200 and [t["name"] for t in body["data"]] == ["ci"] and bxt not in str(body)
    token_id = body["data"][0]["id"]
    assert colleague.get("token/list")[1]["data"] == []
    assert colleague.post("token/revoke", {"token_id": token_id})[0] == 404  # not theirs
    assert admin_elsewhere.post("token/revoke", {"token_id": token_id})[0] == 404  # not their org
    assert _bearer(app, jwt2).get("cluster/describe_all")[0] == 200

    status, body = owner.post("token/revoke", {"token_id": token_id})
    assert status == 200 and body["data"]["revoked"] is True
    for token in (bxt, jwt1, jwt2):
        status, body = _bearer(app, token).get("cluster/describe_all")
        assert status == 401, token
        assert _bearer(app, token).post("/user/refresh_token")[0] == 401
    assert owner.get("cluster/describe_all")[0] == 200  # the password login's JWT is not derived from it
    assert owner.post("token/revoke", {"token_id": token_id})[0] == 200  # twice is fine
    assert owner.post("token/revoke", {})[0] == 400


def test_manage_revoke_token_and_end_all_sessions(app, make_user):
    from app.auth.cli import revoke_token_cmd
    from app.auth.service import create_api_token
    user = make_user("acme")
    with app.app_context():
        first, second = create_api_token(user.username, "a"), create_api_token(user.username, "b")
    derived = _bearer(app, second).post("/user/refresh_token")[1]["data"]
    runner = CliRunner()
    with app.app_context():
        result = runner.invoke(revoke_token_cmd, ["--token", first])
    assert result.exit_code == 0 and "revoked token" in result.output, result.output
    assert _bearer(app, first).get("cluster/describe_all")[0] == 401
    assert _bearer(app, derived).get("cluster/describe_all")[0] == 200
    with app.app_context():
        result = runner.invoke(revoke_token_cmd, ["--username", user.username, "--all"])
    assert result.exit_code == 0 and "revoked 1 tokens" in result.output, result.output
    for token in (second, derived, user.token):  # the password session too (session_epoch)
        status, body = _bearer(app, token).get("cluster/describe_all")
        assert status == 401
    assert body["data"]["reason"] == "session ended"
    with app.app_context():
        assert runner.invoke(revoke_token_cmd, ["--id", "999999"]).exit_code != 0


@pytest.mark.parametrize("sub", ["abc", "1e3", "", "\u0661", "-1", 1.5, None, True, "9" * 40])
def test_a_non_numeric_jwt_sub_is_401_not_500(app, api, sub):
    claims = jwt.decode(api.token, options={"verify_signature": False})
    claims["sub"] = sub
    token = jwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256")
    status, body = _bearer(app, token).get("cluster/describe_all")
    assert status == 401 and body["msg"] == "unauthorized"
    assert _bearer(app, token).post("/user/refresh_token")[0] == 401


def test_throttling_falls_back_to_the_database_when_redis_is_down(app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_USER", 2)
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    monkeypatch.setitem(app.extensions, "bridgx_login_redis", None)
    username, password = _user(app)
    client = app.test_client()
    for _ in range(2):
        assert _login(client, username, "nope", "192.0.2.9").status_code == 401
    assert _login(client, username, password, "192.0.2.9").status_code == 429
