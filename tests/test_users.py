"""Users and organisations as ComandX's account page and navbar call them (BRIDGX-EXTENDED §1):
exact requests, the keys and JSON types the console reads, roles, disabling, the password policy."""
import re

import pytest

from tests.conftest import Api, new_password, new_secret

PLAIN_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def _login(client, username, password):
    resp = client.post("/user/login", json={"username": username, "password": password})
    return resp.status_code, resp.get_json()


@pytest.fixture
def admin(make_user):
    return make_user("acme", "boss", admin=True)


@pytest.fixture
def common(make_user):
    return make_user("acme", "worker", admin=False)


def _create(api, username, user_type="COMMON", password=None):
    password = password or new_password()
    status, body = api.post("user/create_user", {"username": username, "password": password, "user_type": user_type})
    return status, body, password


# ----------------------------------------------------------------------------- contract shapes
def test_user_info_is_what_the_router_guard_reads(admin):
    """ComandX's guard drops the token unless user/info answers data with these keys."""
    status, body = admin.client.get("/api/v1/user/info", headers={"Authorization": f" Bearer {admin.token}"}), None
    status, body = status.status_code, status.get_json()
    assert status == 200 and body["code"] == 200
    data = body["data"]
    assert data["username"] == "boss" and data["user_type"] == "ADMIN"
    assert isinstance(data["user_id"], int) and isinstance(data["org_id"], int)
    assert PLAIN_TS.match(data["create_at"])


def test_user_list_keys_and_types(admin, common):
    status, body = admin.get("user/list", page_number=1, page_size=10)
    assert status == 200
    rows = body["data"]["user_list"]
    assert [r["user_name"] for r in rows] == ["worker", "boss"]  # newest first
    for row in rows:
        assert set(row) >= {"user_id", "user_name", "create_at", "create_by", "user_status", "user_type"}
        assert isinstance(row["user_id"], str) and row["user_id"].isdigit()
        assert row["user_status"] == "enable" and row["user_type"] in ("ADMIN", "COMMON")
        assert PLAIN_TS.match(row["create_at"])
    assert body["data"]["pager"] == {"page_number": 1, "page_size": 10, "total": 2}
    # a COMMON user may read the list too
    assert common.get("user/list", page_number=1, page_size=10)[1]["data"]["pager"]["total"] == 2


def test_create_user_then_log_in(admin, anon):
    status, body, password = _create(admin, "newbie", "COMMON")
    assert (status, body) == (200, {"code": 200, "msg": "success", "data": None})
    status, login = _login(anon.client, "newbie", password)
    assert status == 200
    info = Api(anon.client, login["data"]).get("user/info")[1]["data"]
    assert info["user_type"] == "COMMON" and info["org_id"] == admin.get("user/info")[1]["data"]["org_id"]
    row = next(r for r in admin.get("user/list")[1]["data"]["user_list"] if r["user_name"] == "newbie")
    assert row["create_by"] == "boss" and row["user_type"] == "COMMON"


def test_create_admin_user(admin):
    assert _create(admin, "second", "ADMIN")[0] == 200
    row = next(r for r in admin.get("user/list")[1]["data"]["user_list"] if r["user_name"] == "second")
    assert row["user_type"] == "ADMIN"


def test_create_user_taken_name_is_409(admin, make_user):
    make_user("other-org", "taken")
    status, body, _ = _create(admin, "taken")
    assert status == 409 and "username" in body["data"]


@pytest.mark.parametrize("password", ["a", "short1A", "alllowercaseletters", "ALLUPPER123", "12345678901"])
def test_create_user_weak_password_is_400(admin, password):
    status, body, _ = _create(admin, "weakling", password=password)
    assert status == 400 and body["msg"] == "param_invalid" and "password" in body["data"]
    assert "weakling" not in [r["user_name"] for r in admin.get("user/list")[1]["data"]["user_list"]]


def test_create_user_bad_user_type_is_400(admin):
    status, body, _ = _create(admin, "x1", user_type="ROOT")
    assert status == 400 and "user_type" in body["data"]


# ----------------------------------------------------------------------------- roles
def test_common_user_cannot_create_users_or_change_roles(admin, common):
    status, body, _ = _create(common, "sneaky", "ADMIN")
    assert status == 403 and body["msg"] == "forbidden"
    status, body, _ = _create(common, "sneaky2", "COMMON")
    assert status == 403
    me = int(common.get("user/info")[1]["data"]["user_id"])
    assert common.post("user/modify_user_type", {"user_ids": [me], "user_type": "ADMIN"})[0] == 403
    assert common.post("user/enable_user", {"usernames": ["boss"], "action": "disable"})[0] == 403
    assert common.post("org/edit", {"org_id": common.get("user/info")[1]["data"]["org_id"], "org_name": "x"})[0] == 403
    # nothing changed
    names = {r["user_name"]: r for r in admin.get("user/list")[1]["data"]["user_list"]}
    assert set(names) == {"boss", "worker"}
    assert names["worker"]["user_type"] == "COMMON" and names["boss"]["user_status"] == "enable"


def test_admin_changes_roles_with_numbers_from_the_list(admin, common):
    """ComandX converts the list's string ids to numbers for modify_user_type."""
    row = next(r for r in admin.get("user/list")[1]["data"]["user_list"] if r["user_name"] == "worker")
    status, body = admin.post("user/modify_user_type", {"user_ids": [int(row["user_id"])], "user_type": "ADMIN"})
    assert (status, body["data"]) == (200, None)
    assert common.get("user/info")[1]["data"]["user_type"] == "ADMIN"
    # the promotion is real: the former COMMON user may now create users
    assert _create(common, "made-by-worker")[0] == 200
    assert admin.post("user/modify_user_type", {"user_ids": [int(row["user_id"])], "user_type": "COMMON"})[0] == 200
    assert _create(common, "refused")[0] == 403


def test_admin_cannot_demote_or_disable_itself(admin):
    me = admin.get("user/info")[1]["data"]["user_id"]
    status, body = admin.post("user/modify_user_type", {"user_ids": [me], "user_type": "COMMON"})
    assert status == 400 and "user_ids" in body["data"]
    status, body = admin.post("user/enable_user", {"usernames": ["boss"], "action": "disable"})
    assert status == 400 and "usernames" in body["data"]
    assert admin.get("user/info")[1]["data"]["user_type"] == "ADMIN"


# ----------------------------------------------------------------------------- disabling
def test_disabled_user_cannot_log_in_and_its_tokens_stop_at_once(app, admin, anon):
    from app.auth.service import create_api_token
    _, _, password = _create(admin, "leaver")
    status, login = _login(anon.client, "leaver", password)
    jwt_user = Api(anon.client, login["data"])
    with app.app_context():
        script = Api(anon.client, create_api_token("leaver"))
    assert jwt_user.get("cluster/describe_all")[0] == 200 and script.get("cluster/describe_all")[0] == 200

    status, body = admin.post("user/enable_user", {"usernames": ["leaver"], "action": "disable"})
    assert (status, body["data"]) == (200, None)
    for who in (jwt_user, script):
        status, body = who.get("cluster/describe_all")
        assert status == 401 and body["data"]["reason"] == "account disabled"
    assert jwt_user.post("/user/refresh_token")[0] == 401
    status, body = _login(anon.client, "leaver", password)
    assert status == 403 and body["data"]["reason"] == "this account has been disabled"
    assert _login(anon.client, "leaver", "wrong-Password1")[0] == 401  # no hint without the password
    row = next(r for r in admin.get("user/list")[1]["data"]["user_list"] if r["user_name"] == "leaver")
    assert row["user_status"] == "disable"

    assert admin.post("user/enable_user", {"usernames": ["leaver"], "action": "enable"})[0] == 200
    assert jwt_user.get("cluster/describe_all")[0] == 401  # sessions ended by the disable stay ended
    assert script.get("cluster/describe_all")[0] == 200  # an API token is revoked on its own (token/revoke)
    assert _login(anon.client, "leaver", password)[0] == 200


def test_enable_user_unknown_or_other_org_user_is_404_and_changes_nothing(admin, common, make_user):
    make_user("other-org", "stranger")
    status, body = admin.post("user/enable_user", {"usernames": ["worker", "stranger"], "action": "disable"})
    assert status == 404 and "stranger" in body["data"]["usernames"]
    assert common.get("user/info")[0] == 200  # the batch was refused as a whole


def test_enable_user_bad_action_is_400(admin, common):
    status, body = admin.post("user/enable_user", {"usernames": ["worker"], "action": "delete"})
    assert status == 400 and "action" in body["data"]


# ----------------------------------------------------------------------------- passwords
def test_modify_password_as_the_navbar_sends_it(app, make_user, anon):
    from app.auth.service import create_user, issue_token
    old = new_password()
    with app.app_context():
        me = Api(anon.client, issue_token(create_user("acme", "pat", old)), "pat")
    new = new_password()
    status, body = me.post("user/modify_password", {"username": "pat", "old_password": old, "new_password": new})
    assert (status, body["data"]) == (200, None)
    assert _login(anon.client, "pat", old)[0] == 401
    assert _login(anon.client, "pat", new)[0] == 200


def test_modify_password_refusals(app, anon):
    from app.auth.service import create_user, issue_token
    old = new_password()
    with app.app_context():
        create_user("acme", "victim", new_password())
        me = Api(anon.client, issue_token(create_user("acme", "pat", old)), "pat")
    status, body = me.post("user/modify_password", {"old_password": "Wrong-pass1", "new_password": new_password()})
    assert status == 400 and "old_password" in body["data"]
    status, body = me.post("user/modify_password", {"old_password": old, "new_password": "a"})
    assert status == 400 and "password" in body["data"]
    status, body = me.post("user/modify_password", {"username": "victim", "old_password": old,
                                                    "new_password": new_password()})
    assert status == 400 and "username" in body["data"]
    assert _login(anon.client, "pat", old)[0] == 200  # unchanged


def test_create_user_service_enforces_the_policy(app):
    """The path manage.py create-user takes: a one-character password is refused."""
    from app.auth.service import create_user
    from app.core.errors import ParamInvalid
    with app.app_context(), pytest.raises(ParamInvalid) as err:
        create_user("acme", "tiny", "a")
    assert "password" in err.value.detail


# ----------------------------------------------------------------------------- organisations
def test_org_routes_as_the_account_page_calls_them(admin, common):
    org_id = admin.get("user/info")[1]["data"]["org_id"]
    status, body = common.get(f"org/id/{org_id}")
    assert status == 200
    data = body["data"]
    assert data["id"] == org_id and data["org_name"] == "acme"
    assert PLAIN_TS.match(data["create_at"]) and PLAIN_TS.match(data["update_at"])
    status, body = admin.post("org/edit", {"org_id": org_id, "org_name": "Acme Ltd"})
    assert (status, body["data"]) == (200, None)
    assert common.get(f"org/id/{org_id}")[1]["data"]["org_name"] == "Acme Ltd"


def test_org_of_another_organisation_is_404(admin, make_user):
    other = make_user("other-org", "them")
    theirs = other.get("user/info")[1]["data"]["org_id"]
    assert admin.get(f"org/id/{theirs}")[0] == 404
    assert admin.post("org/edit", {"org_id": theirs, "org_name": "pwned"})[0] == 404
    assert other.get(f"org/id/{theirs}")[1]["data"]["org_name"] == "other-org"
    assert admin.get("org/id/abc")[0] == 400


def test_org_edit_taken_name_is_409(admin, make_user):
    make_user("other-org", "them")
    org_id = admin.get("user/info")[1]["data"]["org_id"]
    status, body = admin.post("org/edit", {"org_id": org_id, "org_name": "other-org"})
    assert status == 409 and "org_name" in body["data"]


def test_user_list_never_shows_another_org(admin, make_user):
    make_user("other-org", "them")
    names = [r["user_name"] for r in admin.get("user/list")[1]["data"]["user_list"]]
    assert names == ["boss"]
    status, body = admin.post("user/modify_user_type", {"user_ids": [int(make_user("other-org", "them2")
                                                                         .get("user/info")[1]["data"]["user_id"])],
                                                        "user_type": "ADMIN"})
    assert status == 404


# ----------------------------------------------------------------------------- manage.py
def test_operator_commands(app, anon):
    from click.testing import CliRunner

    from app.auth.service import create_user
    from app.users.cli import disable_user_cmd, enable_user_cmd, set_password_cmd, set_role_cmd
    with app.app_context():
        create_user("acme", "ops", new_password())
        runner = CliRunner()
        weak = runner.invoke(set_password_cmd, ["--username", "ops", "--password", "a"])
        assert weak.exit_code != 0 and "password" in weak.output
        password = new_password()
        assert runner.invoke(set_password_cmd, ["--username", "ops", "--password", password]).exit_code == 0
        assert runner.invoke(set_role_cmd, ["--username", "ops", "--role", "ADMIN"]).exit_code == 0
        assert runner.invoke(disable_user_cmd, ["--username", "ops"]).exit_code == 0
        assert runner.invoke(disable_user_cmd, ["--username", "nobody"]).exit_code != 0
    assert _login(anon.client, "ops", password)[0] == 403
    with app.app_context():
        assert CliRunner().invoke(enable_user_cmd, ["--username", "ops"]).exit_code == 0
    status, login = _login(anon.client, "ops", password)
    assert status == 200 and Api(anon.client, login["data"]).get("user/info")[1]["data"]["user_type"] == "ADMIN"


# ----------------------------------------------------------------------------- the role matrix
# Changing users, cloud accounts or the organisation needs ADMIN; a COMMON user only changes its
# own password. Cluster templates and scaling stay open to every user of the organisation (BridgX).
SELF_SERVICE = {("POST", "/api/v1/user/modify_password")}


def test_every_user_account_and_org_change_needs_admin(app, admin, common):
    acc = admin.post("cloud_account/create", {"account_name": "main", "provider": "AlibabaCloud",
                                              "account_key": "LTAIroles", "account_secret": new_secret()})[1]
    org_id = admin.get("user/info")[1]["data"]["org_id"]
    worker_id = int(common.get("user/info")[1]["data"]["user_id"])
    bodies = {
        "/api/v1/user/create_user": {"username": "x-new", "password": new_password(), "user_type": "COMMON"},
        "/api/v1/user/enable_user": {"usernames": ["boss"], "action": "disable"},
        "/api/v1/user/modify_user_type": {"user_ids": [worker_id], "user_type": "ADMIN"},
        "/api/v1/org/edit": {"org_id": org_id, "org_name": "taken over"},
        "/api/v1/cloud_account/create": {"account_name": "x", "provider": "AlibabaCloud", "account_key": "LTAIx",
                                         "account_secret": new_secret()},
        "/api/v1/cloud_account/edit": {"account_id": acc["data"]["id"], "account_name": "pwned"},
    }
    checked = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/v1/user/", "/api/v1/org/", "/api/v1/cloud_account/")):
            continue
        for method in sorted(rule.methods & {"POST", "DELETE", "PUT", "PATCH"}):
            if (method, rule.rule) in SELF_SERVICE:
                continue
            path = rule.rule.replace("<ids>", str(acc["data"]["id"]))
            resp = common.client.open(path, method=method, json=bodies.get(rule.rule),
                                      headers={"Authorization": f"Bearer {common.token}"})
            assert resp.status_code == 403, (method, path, resp.get_json())
            checked.append(path)
    assert len(checked) >= 7, checked
    # and nothing changed
    assert admin.get("user/info")[1]["data"]["user_status"] == "enable"
    assert common.get("user/info")[1]["data"]["user_type"] == "COMMON"
    assert admin.get(f"org/id/{org_id}")[1]["data"]["org_name"] == "acme"
    accounts = admin.get("cloud_account/list")[1]["data"]["cloud_account_list"]
    assert [(a["account_name"], a["account_key"]) for a in accounts] == [("main", "LTAIroles")]
    assert [r["user_name"] for r in admin.get("user/list")[1]["data"]["user_list"]] == ["worker", "boss"]


def test_a_demoted_admin_loses_its_rights_at_once(admin, make_user):
    second = make_user("acme", "second", admin=True)
    second_id = second.get("user/info")[1]["data"]["user_id"]
    assert admin.post("user/modify_user_type", {"user_ids": [second_id], "user_type": "COMMON"})[0] == 200
    assert _create(second, "late")[0] == 403  # the same token, no new login


def test_first_run_admin_password_meets_the_policy():
    """`manage.py run` creates `admin` with a random password: it must pass the policy it enforces."""
    import manage
    from app.auth.passwords import problem
    assert all(problem(manage._new_password()) is None for _ in range(200))
