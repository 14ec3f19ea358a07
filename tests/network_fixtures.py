"""The cloud emulator for the network and catalogue tests: one server per session, its state
reset before each test, and one cloud account per provider pointing at it.

Import explicitly: `from tests.network_fixtures import CLOUDS, api, cloudsim, sim, sim_accounts  # noqa: F401`.
"""
from __future__ import annotations

import pytest

from tests.conftest import Api, account_body, new_secret

# provider -> (region, zone) the emulator's catalogue sells
CLOUDS = {"AlibabaCloud": ("cn-qingdao", "cn-qingdao-b"), "TencentCloud": ("ap-guangzhou", "ap-guangzhou-3"),
          "AWSCloud": ("us-east-1", "us-east-1a")}
KEYS = {provider: f"AKNET{provider.upper()}" for provider in CLOUDS}
SECRET = new_secret("SimSk")  # registered with the leak watch: no response may contain it


@pytest.fixture
def api(app):
    """conftest's `api` (an admin of organisation "acme"), holding an API token instead of a login
    token: no password is hashed, which saves about a quarter second per test."""
    import secrets

    from app.auth.models import User
    from app.auth.service import create_api_token, ensure_org
    from app.core.db import transaction
    from app.extensions import db

    username = f"user{secrets.token_hex(3)}"
    with app.app_context():
        with transaction():
            db.session.add(User(org_id=ensure_org("acme").id, username=username, password_hash="!", is_admin=True))
        token = create_api_token(username)
    return Api(app.test_client(), token, username)


@pytest.fixture(scope="session")
def cloudsim():
    from cloudsim import CloudSim
    sim = CloudSim(credentials={key: SECRET for key in KEYS.values()}, seed=7)
    server = sim.serve(host="127.0.0.1", port=0)
    yield sim, server
    server.stop()


@pytest.fixture
def sim(cloudsim):
    """The emulator, emptied and without faults."""
    emulator, _ = cloudsim
    emulator.configure(error_rate=0.0, throttle_rate=0.0, lost_reply_rate=0.0, latency=0,
                       credentials={key: SECRET for key in KEYS.values()})
    emulator.reset()
    return emulator


@pytest.fixture
def sim_accounts(api, sim, cloudsim):
    """provider -> account key of an account of the `api` user's organisation on the emulator."""
    _, server = cloudsim
    for provider, key in KEYS.items():
        status, body = api.post("cloud_account/create", account_body(provider, key=key, secret=SECRET,
                                                                     endpoint=server.url))
        assert status == 200, body
    return dict(KEYS)


def cloud_calls(sim) -> int:
    return len(sim.requests)
