"""Security issue 11, finding 10: files, /metrics, headers, Swagger UI, the embedded server,
Flower, the encryption key's check and rotation."""
from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import account_body, cluster_body

ROOT = Path(__file__).resolve().parent.parent


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# ---------------------------------------------------------------- files
def test_embedded_home_and_files_are_owner_only(tmp_path, monkeypatch):
    from sqlalchemy import create_engine, text

    from config import EmbeddedConfig
    home = tmp_path / "home"
    monkeypatch.setenv("BRIDGX_HOME", str(home))
    for name in ("DATABASE_URL", "BROKER_URL", "SECRET_KEY", "ENCRYPTION_KEY"):
        monkeypatch.delenv(f"BRIDGX_{name}", raising=False)
    old = os.umask(0o022)  # a usual umask: world-readable unless we say otherwise
    try:
        cfg = EmbeddedConfig()
        engine = create_engine(cfg.SQLALCHEMY_DATABASE_URI)
        with engine.begin() as conn:  # WAL mode: -wal and -shm files appear beside the database
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            assert (home / "bridgx.sqlite-wal").exists()
            files = ["bridgx.sqlite", "bridgx.sqlite-wal", "bridgx.sqlite-shm", "broker.sqlite", "secret_key",
                     "encryption_key"]
            modes = {name: oct(_mode(home / name)) for name in files}
        engine.dispose()
    finally:
        os.umask(old)
    assert oct(_mode(home)) == "0o700"
    assert modes == {name: "0o600" for name in files}
    os.chmod(home / "broker.sqlite", 0o644)  # an older install is tightened on the next start
    os.chmod(home, 0o755)
    EmbeddedConfig()
    assert (_mode(home), _mode(home / "broker.sqlite")) == (0o700, 0o600)


# ---------------------------------------------------------------- /metrics
def test_metrics_need_the_token_when_one_is_set(app, anon, monkeypatch):
    token = secrets.token_urlsafe(24)
    monkeypatch.setitem(app.config, "METRICS_TOKEN", token)
    assert anon.client.get("/metrics").status_code == 401
    assert anon.client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    resp = anon.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and b"bridgx_tasks" in resp.data
    monkeypatch.setitem(app.config, "METRICS_TOKEN", None)
    monkeypatch.setitem(app.config, "METRICS_PUBLIC", False)
    assert anon.client.get("/metrics").status_code == 403


def test_production_refuses_anonymous_metrics_by_default(monkeypatch):
    from cryptography.fernet import Fernet

    from config import EmbeddedConfig, ProductionConfig
    monkeypatch.setenv("BRIDGX_DATABASE_URL", "mysql+pymysql://root@127.0.0.1/x")
    monkeypatch.setenv("BRIDGX_BROKER_URL", "redis://127.0.0.1:6379/9")
    monkeypatch.setenv("BRIDGX_ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("BRIDGX_SECRET_KEY", "s" * 40)
    monkeypatch.delenv("BRIDGX_METRICS_PUBLIC", raising=False)
    assert ProductionConfig().METRICS_PUBLIC is False
    monkeypatch.setenv("BRIDGX_METRICS_PUBLIC", "1")
    assert ProductionConfig().METRICS_PUBLIC is True


# ---------------------------------------------------------------- headers, Swagger UI
def test_security_headers_and_no_server_version(app, api, monkeypatch):
    resp = api.client.get("/api/v1/cluster/describe_all", headers={"Authorization": f"Bearer {api.token}"})
    h = resp.headers
    assert resp.status_code == 200
    assert h["X-Content-Type-Options"] == "nosniff" and h["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert h["Referrer-Policy"] == "no-referrer" and h["Cache-Control"] == "no-store"
    assert h["Server"] == "BridgX" and "Strict-Transport-Security" not in h
    login = api.client.post("/user/login", json={"username": "x", "password": "y"})
    assert login.headers["Cache-Control"] == "no-store"
    monkeypatch.setitem(app.config, "HSTS_SECONDS", 31536000)
    assert api.client.get("/healthz").headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_swagger_ui_is_served_from_the_pinned_package(anon):
    page = anon.client.get("/api/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "/api/swagger-ui/swagger-ui-bundle.js" in html
    assert "cdn." not in html and "https://" not in html  # works offline, nothing floating
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        resp = anon.client.get(f"/api/swagger-ui/{asset}")
        assert resp.status_code == 200 and len(resp.data) > 10_000
        resp.close()
    assert anon.client.get("/api/swagger-ui/../../config/__init__.py").status_code == 404


# ---------------------------------------------------------------- the embedded server
def test_embedded_server_holds_no_thread_per_slow_connection(app):
    from app.core.serving import EmbeddedServer
    server = EmbeddedServer(app, "127.0.0.1", 0, threads=2, read_timeout=2, connection_limit=50)
    runner = threading.Thread(target=server.serve_forever, daemon=True)
    runner.start()
    slow = []
    try:
        before = threading.active_count()
        for _ in range(30):  # slow clients: half a request line each, never finished
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        time.sleep(0.3)
        assert threading.active_count() - before <= 2  # the bounded pool, not one thread per client
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:  # others are served
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        head = reply.split(b"\r\n\r\n")[0].decode()
        assert head.startswith("HTTP/1.1 200") and "Server: BridgX" in head and "waitress" not in head.lower()

        def closed(sock):
            sock.settimeout(0.05)
            try:
                return sock.recv(1) == b""
            except socket.timeout:
                return False
            except OSError:
                return True
        _wait(lambda: all(closed(s) for s in slow), 30, "the idle connections to be closed")
    finally:
        for sock in slow:
            sock.close()
        server.shutdown()
        runner.join(timeout=10)
    assert not runner.is_alive()


def test_flower_in_the_procfile_needs_auth_and_binds_to_localhost():
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("flower:"))
    command = line.split(":", 1)[1].strip().replace("celery -A workers.app flower", "printf '%s\\n'", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    no_auth = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True)
    assert no_auth.returncode != 0 and "FLOWER_BASIC_AUTH" in no_auth.stderr
    args = subprocess.run(["sh", "-c", command], env=dict(env, FLOWER_BASIC_AUTH="ops:pw"), capture_output=True,
                          text=True, check=True).stdout.split()
    assert "--address=127.0.0.1" in args and "--basic-auth=ops:pw" in args


# ---------------------------------------------------------------- the encryption key
def _secrets_exist(api):
    acc = api.post("cloud_account/create", account_body())[1]["data"]
    assert api.post("cluster/create", cluster_body(acc["account_key"]))[0] == 200


def test_a_replaced_key_refuses_to_start(app, api, monkeypatch, tmp_path):
    from cryptography.fernet import Fernet

    from app import _check_encryption_key
    from config import ConfigError
    _secrets_exist(api)
    _check_encryption_key(app)  # the right key: starts
    monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", Fernet.generate_key().decode())
    fresh = tmp_path / "encryption_key"
    fresh.write_text("x")
    monkeypatch.setitem(app.config, "ENCRYPTION_KEY_FILE_CREATED", str(fresh))
    with pytest.raises(ConfigError) as err:
        _check_encryption_key(app)
    message = str(err.value)
    assert "does not decrypt the 1 stored cloud account secrets" in message and "\n" not in message
    assert not fresh.exists()  # the key generated by this start is not left behind


def test_a_lost_key_file_stops_manage_py_with_one_line(tmp_path):
    """The real embedded flow: the key file is deleted; the next start says so and regenerates nothing."""
    from cryptography.fernet import Fernet
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGX_")}
    env.update(BRIDGX_HOME=str(home), BRIDGX_CONFIG="embedded")

    def manage(*args):
        return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    assert manage("migrate").returncode == 0
    key = (home / "encryption_key").read_text().strip()
    with sqlite3.connect(home / "bridgx.sqlite") as conn:
        conn.execute("INSERT INTO organizations (id, name, created_at) VALUES (1, 'o', '2026-01-01')")
        conn.execute("INSERT INTO cloud_accounts (org_id, account_name, provider, account_key, secret_encrypted, "
                     "create_by, created_at, deleted_id) VALUES (1, 'a', 'AlibabaCloud', 'k', ?, 'x', '2026-01-01', 0)",
                     (Fernet(key).encrypt(b"secret").decode(),))
    (home / "encryption_key").unlink()
    result = manage("migrate")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "does not decrypt the 1 stored cloud account secrets" in errors[0], result.stderr
    assert not (home / "encryption_key").exists()  # (the right key starts: test_a_replaced_key_refuses_to_start)


def test_rotate_keys_reencrypts_every_secret(app, api, monkeypatch):
    from cryptography.fernet import Fernet

    from app.auth.cli import rotate_keys_cmd
    from app.accounts.models import CloudAccount
    from app.clusters.models import Cluster
    from app.core.crypto import decrypt
    from app.core.keys import check_key
    from app.extensions import db
    _secrets_exist(api)
    old, new = app.config["ENCRYPTION_KEYS"], Fernet.generate_key().decode()
    with app.app_context():
        before = {row.id: row.secret_encrypted for row in db.session.query(CloudAccount)}
        plain = {row.id: decrypt(row.secret_encrypted) for row in db.session.query(CloudAccount)}
    monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", f"{new},{old}")
    with app.app_context():
        result = CliRunner().invoke(rotate_keys_cmd, [])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 1 cloud account secrets, 1 cluster passwords" in result.output
    monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", new)  # the old key is gone: everything still reads
    with app.app_context():
        check_key()
        rows = db.session.query(CloudAccount).all()
        assert {r.id: decrypt(r.secret_encrypted) for r in rows} == plain
        assert all(before[r.id] != r.secret_encrypted for r in rows)
        assert all(decrypt(c.password_encrypted) for c in db.session.query(Cluster))
    monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", Fernet.generate_key().decode())  # a wrong key: refused
    with app.app_context():
        result = CliRunner().invoke(rotate_keys_cmd, [])
    assert result.exit_code != 0 and "does not decrypt" in result.output
