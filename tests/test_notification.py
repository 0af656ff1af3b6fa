"""Notification: one message per order and kind, even across redeliveries and crashes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from conftest import scan_all
from factories import advance, make_factory, place_order, step

from pipeline.adapters.event_store import EventStore
from pipeline.adapters.notifier import SnsNotifier
from pipeline.domain import events as ev
from pipeline.domain.errors import StepNotApplicable, StoreUnavailable, ValidationFailed
from pipeline.handlers import notification

CONFIRMED = [
    (ev.PaymentAuthorized, {"payment_id": "p", "amount": Decimal("20.00")}),
    (ev.PaymentCaptured, {"payment_id": "p", "amount": Decimal("20.00")}),
    (ev.InventoryReserved, {"reservation_id": "order-1"}),
    (ev.LabelCreated, {"tracking_number": "T", "label_uri": "s3://l/order-1.json"}),
    (ev.OrderConfirmed, {}),
]


@pytest.fixture
def tap(aws, stack):
    """An SQS queue subscribed to the customer topic: counts what customers received."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="customer-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    aws.client("sns").subscribe(
        TopicArn=stack.ref("CustomerNotificationsTopic"), Protocol="sqs", Endpoint=arn["QueueArn"]
    )

    def received() -> list[dict]:
        out = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for m in batch:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out

    return received


@pytest.fixture
def deps(aws, stack):
    dynamodb = aws.client("dynamodb")
    deps = notification.NotificationDeps(
        store=EventStore(dynamodb, stack.ref("EventsTable")),
        notifier=SnsNotifier(aws.client("sns"), stack.ref("CustomerNotificationsTopic")),
        persistence=DynamoDBPersistenceLayer(
            table_name=stack.ref("IdempotencyTable"), boto3_client=dynamodb
        ),
        factory=make_factory("ntf"),
    )
    place_order(deps.store)
    advance(deps.store, "order-1", CONFIRMED)
    notification.wiring.configure(deps)
    yield deps
    notification.wiring.configure(None)


def call(lambda_context, kind="OrderConfirmed", **extra):
    return notification.lambda_handler(step("notify", kind=kind, **extra), lambda_context)


def test_duplicate_delivery_sends_one_message_and_records_one_event(deps, tap, lambda_context):
    for _ in range(3):
        call(lambda_context)
    messages = tap()
    assert len(messages) == 1
    body = json.loads(messages[0]["Message"])
    assert body == {
        "order_id": "order-1",
        "kind": "OrderConfirmed",
        "status": "CONFIRMED",
        "total": "20.00",
    }
    assert messages[0]["MessageAttributes"]["customer_id"]["Value"] == "cust-1"
    assert [e.type for e in deps.store.load("order-1")].count("CustomerNotified") == 1


class FailingOnce:
    """An event store whose next append fails, as if the Lambda died after sending."""

    def __init__(self, store: EventStore) -> None:
        self.store, self.failed = store, False

    def load_order(self, order_id):
        return self.store.load_order(order_id)

    def append(self, order, events, also=()):
        if not self.failed:
            self.failed = True
            raise StoreUnavailable("event store throttled")
        return self.store.append(order, events, also)


def test_crash_after_sending_does_not_send_twice(deps, tap, lambda_context):
    real = deps.store
    deps.store = FailingOnce(real)
    with pytest.raises(StoreUnavailable):
        call(lambda_context)
    result = call(lambda_context)
    assert len(tap()) == 1
    notified = [e for e in real.load("order-1") if e.type == "CustomerNotified"]
    assert len(notified) == 1
    assert notified[0].message_id == result["message_id"]


def test_no_personal_data_leaves_in_the_message(deps, tap, lambda_context):
    call(lambda_context)
    text = json.dumps(tap())
    for forbidden in ("email", "address", "phone", "card"):
        assert forbidden not in text


def test_kind_must_match_the_order_state(deps, lambda_context):
    with pytest.raises(StepNotApplicable):
        call(lambda_context, kind="OrderCancelled")


def test_unknown_kind_is_rejected_and_nothing_is_written(
    deps, aws, stack, template, lambda_context
):
    before = scan_all(aws, stack, template)
    with pytest.raises(ValidationFailed) as raised:
        call(lambda_context, kind="OrderExploded")
    assert raised.value.field == "kind"
    assert scan_all(aws, stack, template) == before
