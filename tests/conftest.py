"""Fixtures: one app per session (schema built by the Alembic migrations), tables emptied after
each test, API clients holding tokens, and a watch on every response for leaked secrets."""
from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from pathlib import Path

import pytest
from flask.testing import FlaskClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import TestConfig  # noqa: E402

# Every secret a test hands to the API; no response may ever contain one.
SECRETS: set[str] = set()


def new_secret(prefix: str = "Sk") -> str:
    value = f"{prefix}{secrets.token_hex(12)}"
    SECRETS.add(value)
    return value


def new_password() -> str:
    value = f"Pw{secrets.token_hex(6)}#A1"
    SECRETS.add(value)
    return value


class WatchedClient(FlaskClient):
    """The test client, failing any response that contains a secret a test created."""

    def open(self, *args, **kwargs):
        resp = super().open(*args, **kwargs)
        body = resp.get_data(as_text=True)
        leaked = [s for s in SECRETS if s in body]
        assert not leaked, f"response leaked a secret: {resp.request.path}"
        return resp


class _LogRecorder(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a broken record is not ours to judge here
            pass


@pytest.fixture(autouse=True)
def _no_secret_in_logs():
    """Every log line written during a test (any logger, any level) is free of test secrets."""
    recorder = _LogRecorder()
    root = logging.getLogger()
    root.addHandler(recorder)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield
    root.removeHandler(recorder)
    root.setLevel(old_level)
    text = "\n".join(recorder.lines)
    leaked = [line for line in recorder.lines if any(s in line for s in SECRETS)]
    assert not leaked, f"a secret was written to the log: {leaked[0][:300]}"


# ---------------------------------------------------------------- no process left behind
def children(pid: int | None = None) -> set[int]:
    """Live (non-zombie) child processes of `pid` (this process by default), from /proc."""
    pid = pid or os.getpid()
    found = set()
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.update(int(p) for p in path.read_text().split())
        except OSError:
            pass
    return {p for p in found if _state(p) not in ("Z", None)}


def descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def reap() -> None:
    """Collect exited children (orphans adopted by this process included)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _become_subreaper() -> None:
    """Orphans of processes a test started are re-parented to pytest (not init), so they are seen."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


@pytest.fixture(scope="session", autouse=True)
def _no_process_left_behind():
    """Fail the session if any test left a child process running (a worker, a beat, a server)."""
    if not Path("/proc/self/task").exists():  # not Linux: nothing to check with
        yield
        return
    _become_subreaper()
    before = children()
    yield
    import signal
    import time
    deadline = time.monotonic() + 10
    while True:
        reap()
        left = children() - before
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if left:
        left |= {d for p in left for d in descendants(p)}
        names = {p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\\0", b" ").decode(errors="replace")[:120]
                 for p in left if Path(f"/proc/{p}/cmdline").exists()}
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        reap()
        pytest.fail(f"tests left {len(left)} child process(es) behind: {names}", pytrace=False)


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    from app import create_app
    from app.core import schema
    from app.extensions import db

    home = tmp_path_factory.mktemp("bridgx-home")
    application = create_app(TestConfig(home))
    application.test_client_class = WatchedClient
    with application.app_context():
        if application.config["SQLALCHEMY_DATABASE_URI"].startswith("mysql"):
            _drop_everything(db)
        schema.upgrade(application)
    yield application


def _drop_everything(db):
    from sqlalchemy import MetaData, text
    meta = MetaData()
    meta.reflect(bind=db.engine)
    with db.engine.begin() as conn:
        conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        for table in meta.sorted_tables:
            conn.execute(text(f"DROP TABLE `{table.name}`"))
        conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))


@pytest.fixture(autouse=True)
def _clean_tables(app):
    yield
    from app.extensions import db
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


class Api:
    """A logged-in client: `api.post(path, body)` / `api.get(path, **query)` → (status, envelope)."""

    def __init__(self, client, token=None, username=None):
        self.client, self.token, self.username = client, token, username

    def _headers(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def post(self, path, body=None, raw=None):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        resp = self.client.post(_url(path), data=data, headers=self._headers(), content_type="application/json")
        return resp.status_code, resp.get_json()

    def get(self, path, **query):
        resp = self.client.get(_url(path), query_string=query, headers=self._headers())
        return resp.status_code, resp.get_json()

    def delete(self, path):
        resp = self.client.delete(_url(path), headers=self._headers())
        return resp.status_code, resp.get_json()


def _url(path: str) -> str:
    return path if path.startswith("/") else "/api/v1/" + path


@pytest.fixture
def make_user(app):
    """make_user(org, username, admin=True) → a logged-in Api for a new user."""
    def _make(org="acme", username=None, admin=True):
        from app.auth.service import create_user, issue_token
        username = username or f"user{secrets.token_hex(3)}"
        with app.app_context():
            # a token straight from the service: test_auth covers /user/login, and a password
            # check per test would spend most of the suite in argon2
            token = issue_token(create_user(org, username, new_password(), admin=admin))
        return Api(app.test_client(), token, username)
    return _make


@pytest.fixture
def api(make_user):
    return make_user()


@pytest.fixture
def anon(app):
    return Api(app.test_client())


def account_body(provider="AlibabaCloud", key=None, secret=None, **extra) -> dict:
    body = {"account_name": "main", "provider": provider, "account_key": key or f"LTAI{secrets.token_hex(6)}",
            "account_secret": secret or new_secret()}
    if provider == "HuaweiCloud":
        body["project_id"] = "0" * 32
    body.update(extra)
    return body


def manual_cluster_example(account_key: str, password: str) -> str:
    """The manual's cluster/create request example, exactly as written (trailing commas too)."""
    return """{
    "name":"测试集群",
    "provider":"AlibabaCloud",
    "account_key":"%s",
    "charge_type":"PostPaid",
    "region_id":"cn-qingdao",
    "zone_id":"cn-qingdao-b",
    "instance_type":"ecs.n1.tiny",
    "image":"centos_7_6_x64_20G_alibase_20211030.vhd",
    "password":"%s",
    "desc":"测试用的集群",
    "network_config":{
        "vpc":"vpc-m5***6tgd",
        "subnet_id":"vsw-m5***4y3xs6ivwc",
        "security_group":"sg-m5***2cu2f5x8"
    },
    "disks":{
        "system_disk":{
            "category":"cloud_efficiency",
            "size":50,
        },
        "data_disk":[
            {
                "category":"cloud_efficiency",
                "size":50,
            }
        ]
    }
}""" % (account_key, password)


def cluster_body(account_key: str, name="web", **overrides) -> dict:
    body = {
        "name": name, "provider": "AlibabaCloud", "account_key": account_key, "region_id": "cn-qingdao",
        "zone_id": "cn-qingdao-b", "instance_type": "ecs.g6.large",
        "image": "centos_7_6_x64_20G_alibase_20211030.vhd", "password": new_password(),
        "network_config": {"vpc": "vpc-1", "subnet_id": "vsw-1", "security_group": "sg-1"},
        "charge_config": {"charge_type": "PostPaid"},
        "disks": {"system_disk": {"category": "cloud_efficiency", "size": 40}, "data_disk": []},
    }
    body.update(overrides)
    return body


@pytest.fixture
def account(api):
    """An AlibabaCloud account of the `api` user's organisation."""
    status, body = api.post("cloud_account/create", account_body())
    assert status == 200, body
    return body["data"]


# ---------------------------------------------------------------- the local cloud emulator
SIM_SECRET = new_secret("SimSecret")
# one key pair per provider: an access key is unique within an organisation
SIM_KEYS = {p: f"AK{p[:5].upper()}SIMTEST01" for p in ("AlibabaCloud", "TencentCloud", "AWSCloud", "HuaweiCloud",
                                                        "BaiduCloud")}

# provider → (region, zone, instance type, image) from the emulator's catalogue
CATALOG = {
    "AlibabaCloud": ("cn-qingdao", "cn-qingdao-b", "ecs.g6.large", "centos_7_6_x64_20G_alibase_20211030.vhd"),
    "TencentCloud": ("ap-guangzhou", "ap-guangzhou-3", "S5.MEDIUM4", "img-9qabwvbn"),
    "AWSCloud": ("us-east-1", "us-east-1a", "t3.micro", "ami-0c02fb55956c7d316"),
    "HuaweiCloud": ("cn-north-4", "cn-north-4a", "s6.large.2", "67f433d8-ed0e-4321-a8a2-a71838539e09"),
    "BaiduCloud": ("bj", "cn-bj-a", "bcc.g4.c2m8", "m-jDhcEVZs"),
}


@pytest.fixture(scope="session")
def cloud_server():
    from cloudsim import CloudSim
    sim = CloudSim(credentials={key: SIM_SECRET for key in SIM_KEYS.values()}, seed=1)
    server = sim.serve()
    yield sim, server
    server.stop()


@pytest.fixture
def sim(cloud_server):
    """The emulator, emptied and with every knob back at its default."""
    sim, server = cloud_server
    sim.configure(boot_seconds=0.0, latency=0.0, rates={}, capacity={}, error_rate=0.0, throttle_rate=0.0,
                  quota={}, lost_reply_rate=0.0)
    sim.reset()
    sim.url = server.url
    return sim


@pytest.fixture
def cloud_cluster(api, sim):
    """cloud_cluster(provider, name, bandwidth=0) → a cluster whose account and network live in the emulator."""
    accounts = {}

    def _make(provider="AlibabaCloud", name="web", bandwidth=0):
        region, zone, itype, image = CATALOG[provider]
        if provider not in accounts:
            status, body = api.post("cloud_account/create", account_body(provider, key=SIM_KEYS[provider], secret=SIM_SECRET,
                                                                         endpoint=sim.url))
            assert status == 200, body
            accounts[provider] = body["data"]
        vpc = sim.add_vpc(provider, region, "vpc-test", "10.1.0.0/16")
        subnet = sim.add_subnet(provider, region, vpc, zone, "subnet-test", "10.1.0.0/18")
        group = sim.add_security_group(provider, region, vpc, "sg-test")
        network = {"vpc": vpc, "subnet_id": subnet, "security_group": group}
        if bandwidth:
            network.update(internet_charge_type="PayByTraffic", internet_max_bandwidth_out=bandwidth)
        body = cluster_body(SIM_KEYS[provider], name=name, provider=provider, region_id=region, zone_id=zone,
                            instance_type=itype, image=image, network_config=network)
        status, resp = api.post("cluster/create", body)
        assert status == 200, resp
        return name
    return _make
