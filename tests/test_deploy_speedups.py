"""The deployment's speedups give what the slow path gives: the SAM translation, memoised per
template and region, and the local target's clients, made once per service."""

from __future__ import annotations

import copy
import json

import boto3
import pytest

from pipeline.deploy import sam
from pipeline.local.deploy import local_target
from pipeline.template import Template
from pipeline.variants import VARIANTS

URI, REGION = "s3://bucket/handlers.zip", "us-east-1"


@pytest.fixture
def fresh_cache():
    sam._TRANSLATED.clear()
    yield
    sam._TRANSLATED.clear()


def _uncached(template: Template, code_uri: str = URI, region: str = REGION) -> dict:
    saved = sam._cache_key
    sam._cache_key = lambda body, region: None
    try:
        return sam.translate(template, code_uri, region)
    finally:
        sam._cache_key = saved


def test_a_cached_translation_is_the_fresh_one_in_the_same_order(fresh_cache, template):
    fresh = _uncached(template)
    first, again = sam.translate(template, URI, REGION), sam.translate(template, URI, REGION)
    assert len(sam._TRANSLATED) == 1  # the second was the cached one
    assert json.dumps(first) == json.dumps(again) == json.dumps(fresh)  # key order too


def test_callers_do_not_share_a_cached_translation(fresh_cache, template):
    first = sam.translate(template, URI, REGION)
    pristine = copy.deepcopy(first)
    first["Resources"].clear()  # what a caller may do to its own copy
    second = sam.translate(template, URI, REGION)
    assert second == pristine
    second["Resources"]["DataKey"]["Properties"]["Description"] = "changed"
    assert sam.translate(template, URI, REGION) == pristine


@pytest.mark.parametrize(
    ("variant", "machine_id"),
    [("default", "OrderSagaStateMachine"), ("choreography", "PaymentStateMachine")],
)
def test_what_the_translation_reads_is_part_of_the_key(fresh_cache, variant, machine_id):
    template = Template.load(parameters=VARIANTS[variant])
    assert sam.translate(template, "s3://other/code.zip", REGION) == _uncached(
        template, "s3://other/code.zip"
    )
    assert sam.translate(template, URI, "eu-west-1") == _uncached(template, region="eu-west-1")
    machine = template.state_machine_definition(machine_id)
    changed = template.with_definitions({machine_id: {**machine, "Comment": "v2"}})
    assert sam.translate(changed, URI, REGION) == _uncached(changed)
    assert sam.translate(changed, URI, REGION) != sam.translate(template, URI, REGION)
    # a parameter's value too (the variant's), even one only a Ref reads
    throttled = template.with_parameters({"ApiThrottleRate": "400"})
    assert sam.translate(throttled, URI, REGION) == _uncached(throttled)
    assert sam.translate(throttled, URI, REGION) != sam.translate(template, URI, REGION)


def test_an_api_deployed_every_time_is_not_cached(fresh_cache, template):
    body = copy.deepcopy(dict(template.body))
    api = next(r for r in body["Resources"].values() if r["Type"] == "AWS::Serverless::Api")
    api["Properties"]["AlwaysDeploy"] = True  # its deployment id changes every second
    sam.translate(Template(body, template.path), URI, REGION)
    assert not sam._TRANSLATED


def test_the_local_target_makes_one_client_per_service():
    session = boto3.Session(
        region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )
    target = local_target("http://127.0.0.1:4566", session=session)
    s3 = target.client("s3")
    assert target.client("s3") is s3 and target.client("sqs") is not s3
    assert s3.meta.endpoint_url == "http://127.0.0.1:4566" and s3.meta.region_name == "us-east-1"
    assert local_target("http://127.0.0.1:4566", session=session).client("s3") is not s3
