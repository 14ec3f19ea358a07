import pytest

from tests.conftest import account_body, cluster_body, new_secret


def test_create_and_list_never_returns_the_secret(api):
    body = account_body(key="LTAIkey1")
    status, resp = api.post("cloud_account/create", body)
    assert status == 200 and resp["data"]["account_key"] == "LTAIkey1"
    assert "account_secret" not in resp["data"]
    status, resp = api.get("cloud_account/list")
    assert status == 200
    assert [a["account_key"] for a in resp["data"]["cloud_account_list"]] == ["LTAIkey1"]
    assert resp["data"]["pager"] == {"page_number": 1, "page_size": 10, "total": 1}
    assert set(resp["data"]["cloud_account_list"][0]) >= {"id", "account_name", "account_key", "provider", "create_at", "create_by"}


def test_same_key_twice_is_409(api):
    body = account_body(key="LTAIdup")
    assert api.post("cloud_account/create", body)[0] == 200
    status, resp = api.post("cloud_account/create", account_body(key="LTAIdup"))
    assert status == 409 and resp["msg"] == "conflict"


def test_same_key_in_another_org_is_fine(make_user):
    a, b = make_user("org-a"), make_user("org-b")
    assert a.post("cloud_account/create", account_body(key="LTAIshared"))[0] == 200
    assert b.post("cloud_account/create", account_body(key="LTAIshared"))[0] == 200


def test_list_filters(api):
    api.post("cloud_account/create", account_body(key="A1", account_name="one"))
    api.post("cloud_account/create", account_body("TencentCloud", key="T1", account_name="two"))
    _, resp = api.get("cloud_account/list", provider="TencentCloud")
    assert [a["account_key"] for a in resp["data"]["cloud_account_list"]] == ["T1"]
    _, resp = api.get("cloud_account/list", account_name="one")
    assert [a["account_key"] for a in resp["data"]["cloud_account_list"]] == ["A1"]
    _, resp = api.get("cloud_account/list", account="T1")
    assert resp["data"]["pager"]["total"] == 1
    assert api.get("cloud_account/list", provider="Nope")[0] == 400


def test_huawei_needs_project_id(api):
    body = account_body("HuaweiCloud")
    body.pop("project_id")
    status, resp = api.post("cloud_account/create", body)
    assert status == 400 and "project_id" in resp["data"]


def test_edit_renames_and_rotates_secret(api, app, account):
    from app.accounts.models import CloudAccount
    from app.extensions import db
    from tests.conftest import new_secret
    secret = new_secret()
    status, resp = api.post("cloud_account/edit", {"account_id": account["id"], "account_name": "renamed",
                                                   "account_secret": secret})
    assert status == 200 and resp["data"]["account_name"] == "renamed"
    with app.app_context():
        assert db.session.get(CloudAccount, account["id"]).credentials().secret_key == secret


def test_delete_refused_while_a_cluster_uses_it(api, account):
    assert api.post("cluster/create", cluster_body(account["account_key"]))[0] == 200
    status, resp = api.delete(f"cloud_account/delete/{account['id']}")
    assert status == 409 and "web" in resp["data"]["ids"]
    _, clusters = api.get("cluster/describe_all")
    api.delete(f"cluster/delete/{clusters['data']['cluster_list'][0]['cluster_id']}")
    assert api.delete(f"cloud_account/delete/{account['id']}")[0] == 200
    assert api.get("cloud_account/list")[1]["data"]["pager"]["total"] == 0
    # the key can be registered again after deletion
    assert api.post("cloud_account/create", account_body(key=account["account_key"]))[0] == 200


def test_delete_bad_ids_is_400_and_unknown_is_404(api):
    assert api.delete("cloud_account/delete/abc")[0] == 400
    assert api.delete("cloud_account/delete/999999")[0] == 404


def test_non_admin_cannot_manage_accounts(make_user):
    user = make_user(admin=False)
    status, resp = user.post("cloud_account/create", account_body())
    assert status == 403 and resp["msg"] == "forbidden"


def test_secret_encrypted_at_rest(app, api):
    from tests.conftest import new_secret
    secret = new_secret()
    assert api.post("cloud_account/create", account_body(secret=secret))[0] == 200
    from app.accounts.models import CloudAccount
    from app.extensions import db
    with app.app_context():
        row = db.session.query(CloudAccount).one()
        assert secret not in row.secret_encrypted and row.credentials().secret_key == secret


@pytest.fixture
def verifying(app):
    app.config["VERIFY_ACCOUNTS"] = True
    yield
    app.config["VERIFY_ACCOUNTS"] = False


@pytest.mark.parametrize("provider", ["AlibabaCloud", "TencentCloud", "AWSCloud", "HuaweiCloud", "BaiduCloud"])
def test_keys_are_verified_with_the_cloud(api, sim, verifying, provider):
    from tests.conftest import SIM_KEYS, SIM_SECRET
    key = SIM_KEYS[provider]
    status, body = api.post("cloud_account/create", account_body(provider, key=key, secret=new_secret(),
                                                                 endpoint=sim.url))
    assert status == 400 and body["msg"] == "param_invalid"
    assert "account_secret" in body["data"] and "rejected" in body["data"]["account_secret"]
    assert api.get("cloud_account/list")[1]["data"]["pager"]["total"] == 0
    status, body = api.post("cloud_account/create", account_body(provider, key="AKUNKNOWN0000001", endpoint=sim.url))
    assert status == 400 and "account_secret" in body["data"]
    status, body = api.post("cloud_account/create", account_body(provider, key=key, secret=SIM_SECRET,
                                                                 endpoint=sim.url))
    assert status == 200, body
    assert any(r.access_key == key and r.outcome == "ok" for r in sim.requests)


def test_unreachable_endpoint_is_a_clear_502(api, verifying):
    """A cloud that cannot be reached says nothing about the key: 502 naming the endpoint (issue 13)."""
    status, body = api.post("cloud_account/create", account_body(endpoint="http://127.0.0.1:9"))
    assert status == 502 and "endpoint" in body["data"] and "account_key" not in body["data"]
