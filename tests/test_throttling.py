"""Injected DynamoDB throttling: the endpoint answers as DynamoDB does, adapters turn it into
transient errors the state machines retry, and the API asks clients to retry (503)."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from factories import make_factory, place_order

from pipeline.adapters.event_store import EventStore
from pipeline.adapters.inventory import InventoryStore
from pipeline.domain.errors import InventoryUnavailable, StoreUnavailable
from pipeline.handlers.http import error_response
from pipeline.local.endpoint import LocalEndpoint
from pipeline.local.provision import provision

pytestmark = pytest.mark.system  # a local endpoint (moto server)


@pytest.fixture(scope="module")
def local(template):
    with LocalEndpoint() as endpoint:
        session = boto3.Session(
            region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        stack = provision(template, session, endpoint_url=endpoint.url)
        once = Config(retries={"max_attempts": 1, "mode": "standard"})
        yield endpoint, stack, session.client("dynamodb", endpoint_url=endpoint.url, config=once)


def test_a_throttled_call_is_a_provisioned_throughput_error(local):
    endpoint, stack, dynamodb = local
    endpoint.throttle_dynamodb(1.0)
    try:
        with pytest.raises(ClientError) as raised:
            dynamodb.get_item(
                TableName=stack.ref("EventsTable"),
                Key={"order_id": {"S": "o"}, "sequence": {"N": "1"}},
            )
        assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        dynamodb.describe_table(TableName=stack.ref("EventsTable"))  # control plane untouched
    finally:
        endpoint.throttle_dynamodb(0.0)
    assert endpoint.throttled >= 1


def test_adapters_turn_throttling_into_retryable_domain_errors(local):
    endpoint, stack, dynamodb = local
    store = EventStore(dynamodb, stack.ref("EventsTable"))
    place_order(store, order_id="throttled-1", factory=make_factory())
    endpoint.throttle_dynamodb(1.0)
    try:
        with pytest.raises(StoreUnavailable):
            store.load("throttled-1")
        with pytest.raises(InventoryUnavailable):
            InventoryStore(dynamodb, stack.ref("InventoryTable")).reserve("o", [("SKU-1", 1)])
        assert StoreUnavailable("x").transient and InventoryUnavailable("x").transient
    finally:
        endpoint.throttle_dynamodb(0.0)


def test_transient_errors_are_503_with_retry_after():
    response = error_response(StoreUnavailable("event store unavailable: Throttling"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
