"""Custom clusters of existing machines (issue 12, item 3), with ComandX's exact requests, and the
SSH login check against a real SSH server on 127.0.0.1 (no traffic leaves 127.0.0.0/8)."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from tests.conftest import new_password
from tests.ssh_server import SilentListener, SSHServer, closed_port

TIMEOUT = 3.0  # seconds per SSH phase in these tests (the default is 5); a loaded machine still logs in


@pytest.fixture
def short_ssh_timeout(app):
    old = app.config["SSH_CHECK_TIMEOUT"]
    app.config["SSH_CHECK_TIMEOUT"] = TIMEOUT
    yield
    app.config["SSH_CHECK_TIMEOUT"] = old


def machines(n=2, password=None):
    return [{"instance_ip": f"10.1.0.{i + 1}", "login_name": "root", "login_password": password or new_password()}
            for i in range(n)]


# ---------------------------------------------------------------- create, detail, list
def test_private_cluster_as_comandx_creates_it(api, app):
    body = {"name": "idc-1", "desc": "机房一", "instance_list": machines(3)}
    status, resp = api.post("cluster/create_custom_private", body)
    assert (status, resp) == (200, {"code": 200, "msg": "success", "data": "idc-1"})

    # the custom detail page: cluster_id='' and cluster_name=<name>
    status, resp = api.get("cluster/custom/detail", cluster_id="", cluster_name="idc-1")
    assert status == 200, resp
    d = resp["data"]
    assert d["name"] == "idc-1" and d["desc"] == d["decs"] == "机房一"
    assert d["provider"] == "PrivateCloud" and d["account_key"] == ""
    assert all(isinstance(d[k], str) for k in ("name", "decs", "provider", "account_key"))

    status, resp = api.get("instance/list_custom", cluster_name="idc-1", page_number=1, page_size=50)
    assert status == 200, resp
    rows = resp["data"]["instance_list"]
    assert [r["instance_ip"] for r in rows] == ["10.1.0.1", "10.1.0.2", "10.1.0.3"]  # oldest first
    assert all(r["login_name"] == "root" and r["login_password"] == "******" for r in rows)
    assert resp["data"]["pager"] == {"page_number": 1, "page_size": 50, "total": 3}


def test_login_passwords_are_encrypted_at_rest(api, app):
    password = new_password()
    api.post("cluster/create_custom_private", {"name": "idc", "instance_list": machines(1, password)})
    from app.core.crypto import decrypt
    from app.custom.models import CustomMachine
    from app.extensions import db
    with app.app_context():
        [row] = db.session.scalars(select(CustomMachine)).all()
        assert password not in row.login_password_encrypted
        assert decrypt(row.login_password_encrypted) == password


def test_public_cluster_names_its_account(api, account):
    body = {"name": "ali-old", "desc": "", "provider": "AlibabaCloud", "account_key": account["account_key"],
            "instance_list": machines(2)}
    status, resp = api.post("cluster/create_custom_public", body)
    assert status == 200 and resp["data"] == "ali-old", resp
    status, resp = api.get("cluster/custom/detail", cluster_id="", cluster_name="ali-old")
    assert resp["data"]["provider"] == "AlibabaCloud" and resp["data"]["account_key"] == account["account_key"]
    # by id too (BridgX's other key), as a string like every BridgX cluster id
    cid = resp["data"]["cluster_id"]
    assert api.get("cluster/custom/detail", cluster_id=cid, cluster_name="")[1]["data"]["name"] == "ali-old"
    # an account key that is not the organisation's, or not of that provider → 400, nothing written
    for key in ("LTAInotmine", account["account_key"]):
        bad = dict(body, name="x2", account_key=key, provider="TencentCloud" if key != "LTAInotmine" else "AlibabaCloud")
        status, resp = api.post("cluster/create_custom_public", bad)
        assert status == 400 and "account_key" in resp["data"]
    assert api.get("cluster/custom/detail", cluster_name="x2")[0] == 404


def test_public_cluster_without_account(api):
    status, resp = api.post("cluster/create_custom_public", {"name": "tc", "desc": "d", "provider": "TencentCloud",
                                                             "account_key": "", "instance_list": machines(1)})
    assert status == 200, resp


@pytest.mark.parametrize("change, field", [
    ({"name": ""}, "name"),
    ({"instance_list": []}, "instance_list"),
    ({"instance_list": [{"instance_ip": "not-an-ip", "login_name": "root", "login_password": "x"}]},
     "instance_list.0.instance_ip"),
    ({"instance_list": [{"instance_ip": "10.0.0.1:70000", "login_name": "root", "login_password": "x"}]},
     "instance_list.0.instance_ip"),
    ({"instance_list": [{"instance_ip": "10.0.0.1", "login_password": "x"}]}, "instance_list.0.login_name"),
    ({"instance_list": [{"instance_ip": "10.0.0.1", "login_name": "root", "login_password": "x"},
                        {"instance_ip": " 10.0.0.1 ", "login_name": "a", "login_password": "y"}]},
     "instance_list.1.instance_ip"),
    ({"instance_list": [{"instance_ip": "10.0.0.1", "login_name": "root", "login_password": "x", "port": 22}]},
     "instance_list.0.port"),
    ({"colour": "red"}, "colour"),
])
def test_bad_private_bodies_are_400_naming_the_field(api, app, change, field):
    body = dict({"name": "idc", "desc": "", "instance_list": machines(1)}, **change)
    status, resp = api.post("cluster/create_custom_private", body)
    assert status == 400 and field in resp["data"], resp
    from app.clusters.models import Cluster
    from app.extensions import db
    with app.app_context():
        assert db.session.scalar(select(Cluster)) is None  # nothing half-written


def test_duplicate_name_is_409(api):
    body = {"name": "idc", "desc": "", "instance_list": machines(1)}
    assert api.post("cluster/create_custom_private", body)[0] == 200
    status, resp = api.post("cluster/create_custom_private", body)
    assert status == 409 and "name" in resp["data"]


def test_detail_and_list_need_a_name(api):
    assert api.get("cluster/custom/detail", cluster_id="", cluster_name="")[0] == 400
    assert api.get("cluster/custom/detail", cluster_id="abc")[0] == 400
    assert api.get("cluster/custom/detail", cluster_name="nope")[0] == 404
    status, resp = api.get("instance/list_custom", cluster_name="", page_number=1, page_size=50)
    assert status == 400 and "cluster_name" in resp["data"]
    assert api.get("instance/list_custom", cluster_name="nope")[0] == 400


def test_custom_clusters_are_another_orgs_secret(make_user):
    alice, mallory = make_user("org-a"), make_user("org-b")
    alice.post("cluster/create_custom_private", {"name": "idc", "desc": "", "instance_list": machines(1)})
    status, resp = alice.get("cluster/custom/detail", cluster_name="idc")
    cid = resp["data"]["cluster_id"]
    assert mallory.get("cluster/custom/detail", cluster_name="idc")[0] == 404
    assert mallory.get("cluster/custom/detail", cluster_id=cid)[0] == 404
    assert mallory.get("instance/list_custom", cluster_name="idc")[0] == 400
    # and the other org may use the same name
    assert mallory.post("cluster/create_custom_private", {"name": "idc", "instance_list": machines(1)})[0] == 200


def test_custom_cluster_is_not_scaled_and_can_be_deleted(api):
    api.post("cluster/create_custom_private", {"name": "idc", "desc": "", "instance_list": machines(1)})
    status, resp = api.post("cluster/expand", {"task_name": "t", "cluster_name": "idc", "count": 1})
    assert status == 400 and "cluster_name" in resp["data"]
    status, resp = api.post("cluster/shrink", {"task_name": "t", "cluster_name": "idc", "count": 1})
    assert status == 400 and "cluster_name" in resp["data"]
    cid = api.get("cluster/custom/detail", cluster_name="idc")[1]["data"]["cluster_id"]
    # the custom lists delete through cluster/delete/<ids> with the string id
    assert api.delete(f"cluster/delete/{cid}")[0] == 200
    assert api.get("cluster/custom/detail", cluster_name="idc")[0] == 404


# ---------------------------------------------------------------- instance/check over SSH
def _check(api, rows):
    start = time.monotonic()
    status, resp = api.post("cluster/instance/check", {"instance_list": rows})
    return status, resp, time.monotonic() - start


def test_check_logs_in_over_ssh(api, short_ssh_timeout):
    password = new_password()
    with SSHServer("deploy", password) as srv:
        status, resp, _ = _check(api, [{"instance_ip": f"127.0.0.1:{srv.port}", "login_name": "deploy",
                                        "login_password": password}])
        assert status == 200 and resp["data"]["is_all_pass"] is True, resp
        deadline = time.monotonic() + 10  # the server thread counts the session a moment later
        while srv.logins < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.logins == 1  # a session was really opened
    data = resp["data"]
    assert data["is_all_pass"] is True
    assert data["instance_list"] == [{"instance_ip": f"127.0.0.1:{srv.port}", "is_pass": True, "reason": "ok"}]
    assert data["machine_list"] == [{"ip": f"127.0.0.1:{srv.port}", "is_pass": True, "reason": "ok"}]


def test_check_reports_each_machine(api, short_ssh_timeout):
    """Success, wrong password, closed port and a listener that never sends a banner, in one call:
    one clear result per machine, in the order given, within the bounded timeout."""
    password = new_password()
    with SSHServer("root", password) as srv, SilentListener() as silent:
        rows = [
            {"instance_ip": f"127.0.0.1:{srv.port}", "login_name": "root", "login_password": password},
            {"instance_ip": f"127.0.0.1:{srv.port}", "login_name": "root", "login_password": new_password()},
            {"instance_ip": f"127.0.0.1:{closed_port()}", "login_name": "root", "login_password": password},
            {"instance_ip": f"127.0.0.1:{silent.port}", "login_name": "root", "login_password": password},
        ]
        # the same address twice is fine for a check (not for a cluster)
        status, resp, elapsed = _check(api, rows)
    assert status == 200, resp
    data = resp["data"]
    assert data["is_all_pass"] is False
    got = [(r["instance_ip"], r["is_pass"]) for r in data["instance_list"]]
    assert got == [(r["instance_ip"], ok) for r, ok in zip(rows, (True, False, False, False))]
    reasons = [r["reason"] for r in data["instance_list"]]
    assert reasons[0] == "ok"
    assert "password" in reasons[1]
    assert "refused" in reasons[2]
    assert f"no SSH banner within {TIMEOUT:g} s" in reasons[3]
    assert [m["is_pass"] for m in data["machine_list"]] == [True, False, False, False]
    # the machines are checked in parallel: the silent one costs about one timeout, not four
    assert elapsed < 6 * TIMEOUT + 5, elapsed


def test_check_of_a_silent_listener_is_bounded(api, short_ssh_timeout):
    with SilentListener() as silent:
        status, resp, elapsed = _check(api, [{"instance_ip": f"127.0.0.1:{silent.port}", "login_name": "root",
                                              "login_password": "x"}])
    assert status == 200 and resp["data"]["is_all_pass"] is False
    assert elapsed < 3 * TIMEOUT + 5, elapsed


def test_check_of_an_empty_list_passes(api):
    status, resp = api.post("cluster/instance/check", {"instance_list": []})
    assert status == 200
    assert resp["data"] == {"is_all_pass": True, "instance_list": [], "machine_list": []}


def test_check_rejects_host_names_and_oversized_lists(api):
    status, resp = api.post("cluster/instance/check", {"instance_list": [
        {"instance_ip": "example.com", "login_name": "root", "login_password": "x"}]})
    assert status == 400 and "instance_list.0.instance_ip" in resp["data"]
    many = [{"instance_ip": f"127.0.0.{i % 250 + 1}", "login_name": "r", "login_password": "x"} for i in range(201)]
    status, resp = api.post("cluster/instance/check", {"instance_list": many})
    assert status == 400 and "instance_list" in resp["data"]


def test_cluster_list_counts_a_custom_clusters_machines(api):
    """ComandX's cluster list shows a custom cluster's machine count (they live in their own table)."""
    assert api.post("cluster/create_custom_public", {"name": "idc-2", "desc": "", "provider": "TencentCloud",
                                                     "account_key": "", "instance_list": machines(4)})[0] == 200
    status, resp = api.get("cluster/describe_all", cluster_name="", provider="", account="", page_number=1,
                           page_size=10)
    assert status == 200, resp
    [row] = [c for c in resp["data"]["cluster_list"] if c["cluster_name"] == "idc-2"]
    assert row["instance_count"] == 4 and row["cluster_type"] == "custom"
