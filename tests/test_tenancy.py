from tests.conftest import account_body, cluster_body


def test_two_orgs_cannot_see_or_touch_each_other(make_user):
    a, b = make_user("org-a"), make_user("org-b")
    acc = a.post("cloud_account/create", account_body(key="LTAIa"))[1]["data"]
    assert a.post("cluster/create", cluster_body("LTAIa", name="secret-cluster"))[0] == 200
    cid = a.get("cluster/name/secret-cluster")[1]["data"]["id"]

    # list: nothing of the other org
    assert b.get("cloud_account/list")[1]["data"]["pager"]["total"] == 0
    assert b.get("cluster/describe_all")[1]["data"]["pager"]["total"] == 0
    assert b.get("cluster/describe_all", account="LTAIa")[1]["data"]["cluster_list"] == []
    # read: 404, not 403
    assert b.get(f"cluster/id/{cid}")[0] == 404
    assert b.get("cluster/name/secret-cluster")[0] == 404
    # use: another org's key is not an account of mine
    status, resp = b.post("cluster/create", cluster_body("LTAIa", name="x"))
    assert status == 400 and "account_key" in resp["data"]
    # edit and delete: 404, and nothing changed
    assert b.post("cluster/edit", {"cluster_id": cid, "desc": "pwned"})[0] == 404
    assert b.post("cluster/edit", {"name": "secret-cluster", "desc": "pwned"})[0] == 404
    assert b.post("cloud_account/edit", {"account_id": acc["id"], "account_name": "pwned"})[0] == 404
    assert b.delete(f"cluster/delete/{cid}")[0] == 404
    assert b.delete(f"cloud_account/delete/{acc['id']}")[0] == 404
    assert a.get(f"cluster/id/{cid}")[1]["data"]["desc"] == ""
    assert a.get("cloud_account/list")[1]["data"]["cloud_account_list"][0]["account_name"] == "main"
    # the same cluster name is free in another org
    b.post("cloud_account/create", account_body(key="LTAIb"))
    assert b.post("cluster/create", cluster_body("LTAIb", name="secret-cluster"))[0] == 200

