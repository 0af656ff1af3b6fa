"""EventBridge target delivery: the template's patterns, retry policy and DLQ attributes."""

from __future__ import annotations

import json

import pytest

from pipeline.domain import bus
from pipeline.local.event_delivery import Delivery, DeliveryFailed, routes

PREFIX = "arn:aws:states:us-east-1:123456789012:stateMachine:orders-"


@pytest.fixture
def setup(aws, stack, template):
    started: list[tuple[str, str]] = []
    behaviour = {"fail": 0}

    def start(route, event):
        if behaviour["fail"] != 0:
            behaviour["fail"] -= 1
            raise DeliveryFailed("THROTTLING", "StartExecution throttled")
        started.append((route.machine_id, event["detail-type"]))

    delivery = Delivery(
        aws.client("events"),
        aws.client("sqs"),
        stack.ref("OrderEventBus"),
        routes(template, stack, lambda machine_id: PREFIX + machine_id),
        start,
    )
    delivery.connect()
    return delivery, started, behaviour, aws, stack


def publish(aws, stack, detail_type: str) -> None:
    aws.client("events").put_events(
        Entries=[
            {
                "Source": bus.SOURCE,
                "DetailType": detail_type,
                "EventBusName": stack.ref("OrderEventBus"),
                "Detail": json.dumps({"order_id": "o-1", "event_id": f"e-{detail_type}"}),
            }
        ]
    )


def test_routes_mirror_the_template(setup):
    delivery, *_ = setup
    by_rule = {r.rule_id: r for r in delivery.routes}
    assert set(by_rule) == {"PaymentRule", "InventoryRule", "ShippingRule", "NotificationRule"}
    assert (by_rule["PaymentRule"].max_attempts, by_rule["PaymentRule"].max_age_s) == (8, 3600)
    assert by_rule["ShippingRule"].machine_arn == PREFIX + "ShippingStateMachine"


def test_events_reach_only_the_rules_whose_patterns_match(setup):
    delivery, started, _, aws, stack = setup
    for detail_type in ("OrderPlaced", "InventoryReserved", "OrderConfirmed", "LabelCreated"):
        publish(aws, stack, detail_type)
    assert delivery.pump() == 4  # OrderConfirmed fans out to two rules; LabelCreated to none
    assert sorted(started) == [
        ("InventoryStateMachine", "OrderConfirmed"),
        ("NotificationStateMachine", "OrderConfirmed"),
        ("PaymentStateMachine", "OrderPlaced"),
        ("ShippingStateMachine", "InventoryReserved"),
    ]


def test_throttled_starts_are_retried_then_delivered(setup):
    delivery, started, behaviour, aws, stack = setup
    behaviour["fail"] = 3
    publish(aws, stack, "OrderPlaced")
    delivery.pump()
    assert (len(started), delivery.retries, delivery.dead_lettered) == (1, 3, 0)


def test_exhausted_delivery_lands_in_the_target_dlq_with_eventbridge_attributes(setup):
    delivery, started, behaviour, aws, stack = setup
    behaviour["fail"] = -1  # never succeeds
    publish(aws, stack, "PaymentCaptured")
    delivery.pump()
    assert (started, delivery.retries, delivery.dead_lettered) == ([], 8, 1)
    (message,) = aws.client("sqs").receive_message(
        QueueUrl=stack.ref("InventoryTargetDLQ"), MessageAttributeNames=["All"]
    )["Messages"]
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "THROTTLING"
    assert attributes["TARGET_ARN"] == PREFIX + "InventoryStateMachine"
    assert attributes["RETRY_ATTEMPTS"] == "8"
    assert attributes["RULE_ARN"].endswith("/InventoryRule")
    assert json.loads(message["Body"])["detail-type"] == "PaymentCaptured"
