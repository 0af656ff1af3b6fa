"""Stream -> Lambda mappings: checkpoints on item failures, bisection, on-failure destination."""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest
from factories import make_factory, place_order

from pipeline.adapters.event_store import EventStore
from pipeline.asl import TaskFailed
from pipeline.local.endpoint import LocalEndpoint
from pipeline.local.provision import provision
from pipeline.local.stream_mapping import MappingConfig, StreamMapping

pytestmark = pytest.mark.system  # a local endpoint (moto server)


class Clients:
    """boto3 clients bound to the loopback endpoint (moto's in-process mock lacks Streams)."""

    def __init__(self, url: str) -> None:
        self.session = boto3.Session(
            region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        self.url = url

    def client(self, name: str):
        return self.session.client(name, endpoint_url=self.url)


@pytest.fixture(scope="module")
def endpoint():
    with LocalEndpoint() as running:
        yield running


@pytest.fixture
def seeded(endpoint, template, request):
    aws = Clients(endpoint.url)
    stack = provision(
        template,
        aws.session,
        stack_name=request.node.name[:20].replace("_", "-"),
        endpoint_url=endpoint.url,
    )
    store = EventStore(aws.client("dynamodb"), stack.ref("EventsTable"))
    factory = make_factory()
    for n in range(6):
        place_order(store, order_id=f"o-{n}", factory=factory)
    return aws, stack


def mapping(seeded, invoke, **config):
    aws, stack = seeded
    return StreamMapping(
        MappingConfig("Fn", **config),
        invoke,
        aws.client("dynamodbstreams"),
        stack.resources["EventsTable"].attributes["StreamArn"],
        aws.client("sqs"),
        stack.ref("StreamProcessorDLQ"),
    )


def order_of(record):
    return record["dynamodb"]["Keys"]["order_id"]["S"]


def test_config_comes_from_the_template(template):
    config = MappingConfig.from_template(template, "StreamProcessorFunction")
    assert (config.batch_size, config.max_retries, config.bisect, config.report_item_failures) == (
        100,
        5,
        True,
        True,
    )
    assert config.on_failure == {"Fn::GetAtt": ["StreamProcessorDLQ", "Arn"]}


def test_item_failure_checkpoints_and_retries_from_the_failed_record(seeded):
    seen: list[str] = []
    failed_once: set[str] = set()

    def invoke(event):
        failures = []
        for record in event["Records"]:
            order = order_of(record)
            if order == "o-3" and order not in failed_once:
                failed_once.add(order)
                failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
                break
            seen.append(order)
        return {"batchItemFailures": failures}

    m = mapping(seeded, invoke, batch_size=10, max_retries=3, report_item_failures=True)
    assert m.poll() == 6
    assert sorted(seen) == [f"o-{n}" for n in range(6)]
    assert Counter(seen)["o-0"] == 1  # records before the checkpoint are not redelivered
    assert m.invocations == 2


def test_a_poison_record_is_bisected_out_and_sent_to_the_destination(seeded):
    aws, stack = seeded
    delivered: list[str] = []

    def invoke(event):
        if any(order_of(r) == "o-2" for r in event["Records"]):
            raise TaskFailed("ValueError", "poison")
        delivered.extend(order_of(r) for r in event["Records"])

    m = mapping(seeded, invoke, batch_size=10, max_retries=5, bisect=True)  # the template's
    m.poll()
    assert sorted(delivered) == ["o-0", "o-1", "o-3", "o-4", "o-5"]
    (message,) = aws.client("sqs").receive_message(
        QueueUrl=stack.ref("StreamProcessorDLQ"), MaxNumberOfMessages=10
    )["Messages"]
    body = json.loads(message["Body"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["DDBStreamBatchInfo"]["batchSize"] == 1
    assert m.failed_batches == 1


def test_new_records_are_read_on_the_next_poll_only_once(seeded):
    aws, stack = seeded
    delivered: list[str] = []
    m = mapping(seeded, lambda e: delivered.extend(order_of(r) for r in e["Records"]))
    m.poll()
    place_order(EventStore(aws.client("dynamodb"), stack.ref("EventsTable")), order_id="o-new")
    assert m.poll() == 1
    assert Counter(delivered) == Counter([f"o-{n}" for n in range(6)] + ["o-new"])


def test_a_poll_cut_short_reads_the_same_records_again(seeded):
    """Ctrl-C mid-batch: the shard position has not moved, so nothing read is skipped."""
    seen: list[str] = []

    def interrupted_once(event):
        ids = [order_of(r) for r in event["Records"]]
        seen.extend(ids)
        if len(seen) == len(ids):  # the first invocation
            raise KeyboardInterrupt
        return {}

    stream = mapping(seeded, interrupted_once, batch_size=2)
    with pytest.raises(KeyboardInterrupt):
        stream.poll()
    assert stream.poll() == 6
    assert Counter(seen)["o-0"] == 2 and set(seen) == {f"o-{n}" for n in range(6)}
