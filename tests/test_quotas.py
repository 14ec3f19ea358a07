"""Security issue 11, finding 5: per-organisation cost limits, the same for the API and the CLI."""
from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select


def _set_quota(app, *args):
    from app.auth.cli import set_quota_cmd
    with app.app_context():
        result = CliRunner().invoke(set_quota_cmd, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _expand(api, cluster, count, name="grow"):
    return api.post("cluster/expand", {"task_name": name, "cluster_name": cluster, "count": count})


def test_five_times_50000_machines_is_refused(app, make_user, sim, cloud_cluster):
    """Any user (here not an admin) had 5 x 50,000 machines accepted in five calls."""
    from tests.conftest import account_body
    admin = make_user("acme", admin=True)
    worker = make_user("acme", admin=False)
    worker_token = worker.token
    clusters = []
    for i in range(5):  # five clusters, each in the emulator
        from tests.conftest import CATALOG, SIM_KEYS, SIM_SECRET, cluster_body
        provider = "AlibabaCloud"
        if i == 0:
            assert admin.post("cloud_account/create", account_body(provider, key=SIM_KEYS[provider], secret=SIM_SECRET,
                                                                   endpoint=sim.url))[0] == 200
        region, zone, itype, image = CATALOG[provider]
        vpc = sim.add_vpc(provider, region, "vpc", "10.1.0.0/16")
        network = {"vpc": vpc, "subnet_id": sim.add_subnet(provider, region, vpc, zone, "s", "10.1.0.0/18"),
                   "security_group": sim.add_security_group(provider, region, vpc, "sg")}
        body = cluster_body(SIM_KEYS[provider], name=f"big{i}", region_id=region, zone_id=zone,
                            instance_type=itype, image=image, network_config=network)
        assert admin.post("cluster/create", body)[0] == 200
        clusters.append(f"big{i}")
    assert worker.token == worker_token
    for name in clusters:
        status, body = _expand(worker, name, 50_000)
        assert status == 403 and body["msg"] == "quota_exceeded", body
        assert body["data"]["limit"] == "max_instances_per_task"
        assert body["data"]["value"] == app.config["QUOTA_INSTANCES_PER_TASK"] < 50_000
        assert "max_instances_per_task" in body["data"]["reason"]
    assert worker.get("task/num")[1]["data"]["task_num"] == 0
    assert sim.instances() == []


def test_live_machines_and_tasks_in_flight_per_organisation(app, make_user, sim, cloud_cluster, api):
    cloud_cluster("AlibabaCloud", "web")
    cloud_cluster("AlibabaCloud", "db")
    org = "acme"
    out = _set_quota(app, "--org", org, "--live-instances", "5", "--instances-per-task", "4")
    assert "max_live_instances=5" in out and "max_instances_per_task=4" in out

    status, body = _expand(api, "web", 5)
    assert status == 403 and body["data"]["limit"] == "max_instances_per_task" and body["data"]["value"] == 4
    assert _expand(api, "web", 3)[0] == 200
    assert len(sim.instances()) == 3
    status, body = _expand(api, "db", 3)
    assert status == 403 and body["msg"] == "quota_exceeded"
    assert (body["data"]["limit"], body["data"]["value"], body["data"]["usage"], body["data"]["requested"]) == \
        ("max_live_instances", 5, 3, 3)
    assert len(sim.instances()) == 3 and api.get("task/num")[1]["data"]["task_num"] == 1
    assert _expand(api, "db", 2)[0] == 200
    assert len(sim.instances()) == 5

    # another organisation is not counted against this one, and has the defaults
    other = make_user("globex")
    from app.tasks import quota
    with app.app_context():
        from app.auth.models import Organization
        from app.extensions import db
        gid = db.session.scalar(select(Organization.id).where(Organization.name == "globex"))
        assert quota.limits(gid)["max_live_instances"] == app.config["QUOTA_LIVE_INSTANCES"]
    assert other.get("task/num")[1]["data"]["task_num"] == 0

    # shrinking is never blocked by a quota; back to the default, the limit is the deployment's
    assert api.post("cluster/shrink", {"task_name": "t", "cluster_name": "web", "count": 1})[0] == 200
    out = _set_quota(app, "--org", org, "--live-instances", "default", "--instances-per-task", "0")
    assert f"max_live_instances={app.config['QUOTA_LIVE_INSTANCES']}" in out and "max_instances_per_task=unlimited" in out


def test_tasks_in_flight_counts_unfinished_tasks(app, api, sim, cloud_cluster):
    from app.extensions import db
    from app.tasks.models import Task
    cloud_cluster("AlibabaCloud", "web")
    cloud_cluster("AlibabaCloud", "db")
    _set_quota(app, "--org", "acme", "--tasks-in-flight", "1")
    task_id = _expand(api, "web", 1)[1]["data"]
    with app.app_context():  # pretend it is still running
        db.session.get(Task, task_id).lock_cluster_id = db.session.get(Task, task_id).cluster_id
        db.session.commit()
    status, body = _expand(api, "db", 1)
    assert status == 403 and body["data"]["limit"] == "max_tasks_in_flight" and body["data"]["usage"] == 1


def test_manage_expand_enforces_the_same_quota(app, api, sim, cloud_cluster):
    from app.tasks.cli import expand_cmd
    cloud_cluster("AlibabaCloud", "web")
    _set_quota(app, "--org", "acme", "--live-instances", "2")
    with app.app_context():
        result = CliRunner().invoke(expand_cmd, ["--cluster", "web", "--count", "3", "--username", api.username,
                                                 "--no-wait"])
    assert result.exit_code != 0 and "quota_exceeded" in result.output and "max_live_instances" in result.output
    assert sim.instances() == []


def test_set_quota_rejects_bad_values(app):
    from app.auth.cli import set_quota_cmd
    with app.app_context():
        assert CliRunner().invoke(set_quota_cmd, ["--org", "nope", "--live-instances", "3"]).exit_code != 0
        assert CliRunner().invoke(set_quota_cmd, ["--org", "x", "--live-instances", "-3"]).exit_code != 0
        assert CliRunner().invoke(set_quota_cmd, ["--org", "x", "--live-instances", "many"]).exit_code != 0


def test_two_concurrent_expands_cannot_both_pass_the_limit(app, make_user, monkeypatch):
    """Both requests read the usage before either writes its task: the organisation lock makes the
    second wait for the first, so it sees the first task and is refused."""
    import threading

    from flask import g

    from app.auth.service import Principal
    from app.tasks import quota, service
    from tests.conftest import account_body, cluster_body
    api = make_user("acme")
    api.post("cloud_account/create", account_body(key="LTAIrace"))
    for name in ("one", "two"):
        assert api.post("cluster/create", cluster_body("LTAIrace", name=name))[0] == 200
    _set_quota(app, "--org", "acme", "--live-instances", "1")
    monkeypatch.setattr(service, "_enqueue", lambda task_id: None)  # no engine: only the accounting
    both_read = threading.Barrier(2, timeout=3)
    real_usage = quota.usage

    def usage_then_wait(org_id):
        used = real_usage(org_id)
        try:
            both_read.wait()  # without a lock both get here with usage 0
        except threading.BrokenBarrierError:
            pass  # the other request is waiting for our lock
        return used

    monkeypatch.setattr(quota, "usage", usage_then_wait)
    with app.app_context():
        from app.auth.models import User
        from app.extensions import db
        user = db.session.query(User).filter_by(username=api.username).one()
        who = Principal(user.id, user.org_id, user.username, user.is_admin)
    results = {}

    def expand(cluster):
        with app.app_context():
            g.principal = who
            try:
                results[cluster] = service.expand({"cluster_name": cluster, "task_name": "t", "count": 1})
            except Exception as exc:  # noqa: BLE001 - the outcome is the assertion
                results[cluster] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=expand, args=(name,)) for name in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    outcomes = sorted(type(r).__name__ for r in results.values())
    assert outcomes == ["QuotaExceeded", "int"], results
