"""Stream processor: every stored event projected once and published, failures reported."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from factories import advance, make_factory, place_order
from stream_records import stream_records

from pipeline.adapters.event_store import EventStore
from pipeline.adapters.order_views import OrderViews
from pipeline.domain import events as ev
from pipeline.domain.bus import SOURCE
from pipeline.handlers import stream_processor

STEPS = [
    (ev.PaymentAuthorized, {"payment_id": "p", "amount": Decimal("20.00")}),
    (ev.PaymentCaptured, {"payment_id": "p", "amount": Decimal("20.00")}),
    (ev.InventoryReserved, {"reservation_id": "order-1"}),
]


@pytest.fixture
def bus_tap(aws, stack):
    """A rule on the order bus forwarding every pipeline event to an SQS queue."""
    events, sqs = aws.client("events"), aws.client("sqs")
    url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bus = stack.ref("OrderEventBus")
    events.put_rule(Name="tap", EventBusName=bus, EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule="tap", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])

    def received() -> list[dict]:
        out = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            out += [json.loads(m["Body"]) for m in batch]
            for m in batch:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out

    return received


@pytest.fixture
def setup(aws, stack):
    dynamodb = aws.client("dynamodb")
    store = EventStore(dynamodb, stack.ref("EventsTable"))
    views = OrderViews(dynamodb, stack.ref("OrdersTable"), shards=4)
    deps = stream_processor.StreamDeps(aws.client("events"), stack.ref("OrderEventBus"), views)
    stream_processor.wiring.configure(deps)
    factory = make_factory()
    placed = place_order(store, factory=factory)
    # The API writes the row with the event; here the projection creates it from OrderPlaced.
    advance(store, "order-1", STEPS, factory=factory)
    yield store, views, deps, placed
    stream_processor.wiring.configure(None)


def run(records, lambda_context):
    return stream_processor.lambda_handler({"Records": records}, lambda_context)


def test_every_event_is_projected_and_published(aws, stack, setup, bus_tap, lambda_context):
    store, views, _, _ = setup
    records = stream_records(aws.client("dynamodb"), stack.ref("EventsTable"))
    assert run(records, lambda_context) == {"batchItemFailures": []}
    row = views.get("order-1")
    assert (row["status"], row["version"], row["status_version"]) == ("INVENTORY_RESERVED", 4, 4)
    published = bus_tap()
    assert [m["detail-type"] for m in published] == [
        "OrderPlaced",
        "PaymentAuthorized",
        "PaymentCaptured",
        "InventoryReserved",
    ]
    assert published[0]["source"] == SOURCE
    assert ev.parse_event(published[0]["detail"]) == store.load("order-1")[0]


def test_duplicate_and_stale_records_change_nothing(aws, stack, setup, lambda_context):
    _, views, _, _ = setup
    records = stream_records(aws.client("dynamodb"), stack.ref("EventsTable"))
    run(records[:1], lambda_context)  # the row exists, as the API writes it with OrderPlaced
    run(records[:0:-1], lambda_context)  # newest first: older events must not move status back
    first = views.get("order-1")
    for _ in range(3):
        run(records, lambda_context)
    assert views.get("order-1") == first
    assert first["status"] == "INVENTORY_RESERVED"


class RejectingBus:
    """An EventBridge client that rejects one event type, as PutEvents does per entry."""

    def __init__(self, real, reject: str) -> None:
        self.real, self.reject = real, reject

    def put_events(self, Entries):
        if Entries[0]["DetailType"] == self.reject:
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}
        return self.real.put_events(Entries=Entries)


def test_a_rejected_publish_is_a_batch_item_failure_never_ignored(
    aws, stack, setup, lambda_context
):
    _, _, deps, _ = setup
    deps.events = RejectingBus(deps.events, "PaymentCaptured")
    records = stream_records(aws.client("dynamodb"), stack.ref("EventsTable"))
    response = run(records, lambda_context)
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert failed == [records[2]["dynamodb"]["SequenceNumber"]]


def test_an_event_before_its_row_is_retried_not_dropped(aws, stack, setup, lambda_context):
    _, views, _, _ = setup
    records = stream_records(aws.client("dynamodb"), stack.ref("EventsTable"))
    with pytest.raises(BatchProcessingError):  # a wholly failed batch is retried by Lambda
        run(records[1:2], lambda_context)
    response = run([records[2], records[0]], lambda_context)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        records[2]["dynamodb"]["SequenceNumber"]
    ]
    run(records, lambda_context)
    assert views.get("order-1")["status"] == "INVENTORY_RESERVED"


def test_non_insert_records_are_skipped(aws, stack, setup, bus_tap, lambda_context):
    _, views, _, _ = setup
    records = stream_records(aws.client("dynamodb"), stack.ref("EventsTable"))
    modified = {**records[0], "eventName": "MODIFY"}
    assert run([modified], lambda_context) == {"batchItemFailures": []}
    assert views.get("order-1") is None
    assert bus_tap() == []


def test_a_corrupt_record_is_reported_and_projects_nothing(
    aws, stack, setup, bus_tap, lambda_context
):
    _, views, _, _ = setup
    records = stream_records(aws.client("dynamodb"), stack.ref("EventsTable"))
    broken = json.loads(json.dumps(records[1]))
    broken["dynamodb"]["NewImage"]["payload"] = {"S": "{not json"}
    response = run([records[0], broken], lambda_context)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        broken["dynamodb"]["SequenceNumber"]
    ]
    assert views.get("order-1")["version"] == 1
    assert [m["detail-type"] for m in bus_tap()] == ["OrderPlaced"]
