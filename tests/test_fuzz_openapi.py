"""Schemathesis over /api/v1/openapi.json, in process: every documented operation, fed data that
fits its schema and data that does not, never answers a 5xx, and answers what the document says
(content type; response schema, the envelope on errors too). Deterministic (derandomized, no
example database) and bounded in examples; every cloud call goes to the local emulator."""
from __future__ import annotations

import dataclasses

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.conftest import SIM_KEYS, SIM_SECRET, account_body, cluster_body

EXAMPLES = 20  # per operation and mode: about 15 s in all
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


@pytest.fixture
def local_clouds_only(sim, monkeypatch):
    """Whatever endpoint an account names (or none: the real cloud), calls go to the emulator."""
    from app.providers import registry
    real = registry.get_provider

    def local(provider_name, credentials, region_id=None):
        return real(provider_name, dataclasses.replace(credentials, endpoint=sim.url), region_id)

    monkeypatch.setattr(registry, "get_provider", local)


@pytest.fixture
def no_workers(monkeypatch):
    """Accepted scaling tasks stay queued: this is about the HTTP layer, and an eager 50,000-machine
    expand would only cost time."""
    from app.tasks import service
    monkeypatch.setattr(service, "_enqueue", lambda task_id: None)


@pytest.fixture
def no_ssh(monkeypatch):
    """cluster/instance/check would log in to whatever addresses are generated: no traffic leaves
    the machine, so the login itself is replaced (tests/test_custom_clusters.py covers it for real)."""
    from app.custom import ssh
    monkeypatch.setattr(ssh, "check_login", lambda target, timeout: (False, "not checked while fuzzing"))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_every_operation_answers_without_a_server_error(app, api, sim, local_clouds_only, no_workers, no_ssh, mode):
    key = SIM_KEYS["AlibabaCloud"]  # objects for the routes to find: an account, a cluster
    assert api.post("cloud_account/create", account_body(key=key, secret=SIM_SECRET, endpoint=sim.url))[0] == 200
    assert api.post("cluster/create", cluster_body(key, name="web"))[0] == 200
    headers = {"Authorization": f"Bearer {api.token}"}
    failures = []
    for result in schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app).get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.validate_response(case.call(headers=headers), checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # nothing to get wrong: no parameters, no body (negative mode)
            continue
        except Exception as exc:  # noqa: BLE001 - collected: every operation is tried
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
