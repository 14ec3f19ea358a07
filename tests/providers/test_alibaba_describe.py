"""AlibabaCloud's DescribeInstances goes through the SDK's generic `call_api`: the same request the
typed method sends, the same machines back, and no SDK response model built per machine."""
from __future__ import annotations

import json
import uuid

import pytest


def test_describe_matches_the_typed_sdk_method_and_builds_no_model(alibaba_env, tags, monkeypatch):
    from alibabacloud_ecs20140526 import models as ecs

    from app.providers.alibaba import _instance
    p = alibaba_env.provider(page_size=5, max_describe_ids=5)
    made = []
    for _ in range(3):
        made += p.create_instances(alibaba_env.spec(), 4, f"ct-{uuid.uuid4().hex}", tags).instance_ids
    wanted = made + [alibaba_env.fake_ids["instance"]]

    def typed(**query):  # what the driver did before: the typed method, its model, back to a dict
        found, token = [], None
        while True:
            body = p._ecs.describe_instances(ecs.DescribeInstancesRequest(
                region_id=p.region_id, max_results=5, next_token=token, **query)).body.to_map()
            found += [_instance(raw) for raw in body["Instances"]["Instance"]]
            token = body.get("NextToken")
            if not token:
                return found
    expected_ids = sorted((i for start in range(0, len(wanted), 5)
                           for i in typed(instance_ids=json.dumps(wanted[start:start + 5]))),
                          key=lambda i: i.instance_id)
    expected_tags = sorted(typed(tag=[ecs.DescribeInstancesRequestTag(key=k, value=v) for k, v in tags.items()]),
                           key=lambda i: i.instance_id)
    assert len(expected_ids) == len(expected_tags) == 12

    def no_model(*_args, **_kwargs):
        raise AssertionError("the SDK's DescribeInstances response model was built")
    monkeypatch.setattr(ecs.DescribeInstancesResponseBody, "from_map", no_model)
    assert sorted(p.describe_instances(wanted), key=lambda i: i.instance_id) == expected_ids
    assert sorted(p.describe_instances_by_tags(tags), key=lambda i: i.instance_id) == expected_tags
    assert all(i.ip_inner and i.tags == tags and i.created_at for i in expected_ids)


def test_describe_errors_are_translated_as_before(alibaba_env):
    from app.providers.base import AuthFailed
    p = alibaba_env.provider(alibaba_env.credentials(secret_key="not-the-secret"))
    with pytest.raises(AuthFailed):
        p.describe_instances([alibaba_env.fake_ids["instance"]])
