"""EventBridge target delivery: the template's patterns, retry policy and DLQ attributes, on
the default (one rule starts the orchestrated saga) and on the choreography (four rules)."""

from __future__ import annotations

import json
from typing import NamedTuple

import pytest

from pipeline.domain import bus
from pipeline.local.event_delivery import Delivery, DeliveryFailed, routes
from pipeline.template import Template
from pipeline.variants import VARIANTS

PREFIX = "arn:aws:states:us-east-1:123456789012:stateMachine:orders-"
PUBLISHED = ("OrderPlaced", "InventoryReserved", "OrderConfirmed", "LabelCreated")


class Routing(NamedTuple):
    """A variant's rules (rule -> the machine it starts), what the ``PUBLISHED`` events start,
    and an event whose delivery is exhausted: (its type, its rule, machine and DLQ)."""

    rules: dict[str, str]
    started: list[tuple[str, str]]
    exhausted: tuple[str, str, str, str]


ROUTING = {
    "choreography": Routing(
        {
            "PaymentRule": "PaymentStateMachine",
            "InventoryRule": "InventoryStateMachine",
            "ShippingRule": "ShippingStateMachine",
            "NotificationRule": "NotificationStateMachine",
        },
        [  # OrderConfirmed fans out to two rules; LabelCreated to none
            ("InventoryStateMachine", "OrderConfirmed"),
            ("NotificationStateMachine", "OrderConfirmed"),
            ("PaymentStateMachine", "OrderPlaced"),
            ("ShippingStateMachine", "InventoryReserved"),
        ],
        ("PaymentCaptured", "InventoryRule", "InventoryStateMachine", "InventoryTargetDLQ"),
    ),
    "default": Routing(
        {"OrderSagaRule": "OrderSagaStateMachine"},
        [("OrderSagaStateMachine", "OrderPlaced")],  # the saga runs the rest itself
        ("OrderPlaced", "OrderSagaRule", "OrderSagaStateMachine", "OrderSagaTargetDLQ"),
    ),
}


@pytest.fixture(scope="module", params=list(ROUTING))
def coordination(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def template(coordination) -> Template:
    """The variant's template (conftest's ``stack`` provisions it)."""
    return Template.load(parameters=VARIANTS[coordination])


@pytest.fixture(scope="module")
def routing(coordination) -> Routing:
    return ROUTING[coordination]


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


def test_routes_mirror_the_template(setup, routing):
    delivery, *_ = setup
    by_rule = {r.rule_id: r for r in delivery.routes}
    assert {rule: r.machine_arn for rule, r in by_rule.items()} == {
        rule: PREFIX + machine for rule, machine in routing.rules.items()
    }
    assert {(r.max_attempts, r.max_age_s) for r in by_rule.values()} == {(8, 3600)}


def test_events_reach_only_the_rules_whose_patterns_match(setup, routing):
    delivery, started, _, aws, stack = setup
    for detail_type in PUBLISHED:
        publish(aws, stack, detail_type)
    assert delivery.pump() == len(routing.started)
    assert sorted(started) == routing.started


def test_throttled_starts_are_retried_then_delivered(setup):
    delivery, started, behaviour, aws, stack = setup
    behaviour["fail"] = 3
    publish(aws, stack, "OrderPlaced")
    delivery.pump()
    assert (len(started), delivery.retries, delivery.dead_lettered) == (1, 3, 0)


def test_exhausted_delivery_lands_in_the_target_dlq_with_eventbridge_attributes(setup, routing):
    delivery, started, behaviour, aws, stack = setup
    detail_type, rule, machine, dlq = routing.exhausted
    behaviour["fail"] = -1  # never succeeds
    publish(aws, stack, detail_type)
    delivery.pump()
    assert (started, delivery.retries, delivery.dead_lettered) == ([], 8, 1)
    (message,) = aws.client("sqs").receive_message(
        QueueUrl=stack.ref(dlq), MessageAttributeNames=["All"]
    )["Messages"]
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "THROTTLING"
    assert attributes["TARGET_ARN"] == PREFIX + machine
    assert attributes["RETRY_ATTEMPTS"] == "8"
    assert attributes["RULE_ARN"].endswith(f"/{rule}")
    assert json.loads(message["Body"])["detail-type"] == detail_type
