"""Inventory: all-or-nothing reservations, idempotent reserve/release, failures named by SKU."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from conftest import scan_all
from factories import advance, make_factory, place_order, put_stock, step

from pipeline.adapters.alerts import Alerts
from pipeline.adapters.event_store import EventStore
from pipeline.adapters.inventory import InventoryStore
from pipeline.domain import events as ev
from pipeline.domain.errors import OutOfStock, StepNotApplicable, UnknownSku, ValidationFailed
from pipeline.domain.order import Status
from pipeline.handlers import inventory

PAID = [
    (ev.PaymentAuthorized, {"payment_id": "p", "amount": Decimal("20.00")}),
    (ev.PaymentCaptured, {"payment_id": "p", "amount": Decimal("20.00")}),
]


@pytest.fixture
def deps(aws, stack):
    dynamodb = aws.client("dynamodb")
    deps = inventory.InventoryDeps(
        store=EventStore(dynamodb, stack.ref("EventsTable")),
        inventory=InventoryStore(dynamodb, stack.ref("InventoryTable")),
        alerts=Alerts(aws.client("sns"), stack.ref("AlertsTopic")),
        factory=make_factory("inv"),
    )
    for sku, stock in [("SKU-1", 10), ("SKU-2", 3), ("SKU-3", 5)]:
        put_stock(dynamodb, stack.ref("InventoryTable"), sku, stock)
    inventory.wiring.configure(deps)
    yield deps
    inventory.wiring.configure(None)


def paid_order(deps, lines=(("SKU-1", 2, "10.00"),), order_id="order-1"):
    place_order(deps.store, order_id=order_id, lines=lines)
    return advance(deps.store, order_id, PAID)


def stock(deps, sku):
    item = deps.inventory.get_stock(sku)
    return int(item["available"]), int(item["reserved"])


def call(action, lambda_context, **extra):
    return inventory.lambda_handler(step(action, **extra), lambda_context)


def test_reservation_decrements_every_line_of_the_order(deps, lambda_context):
    paid_order(deps, lines=(("SKU-1", 2, "10.00"), ("SKU-2", 3, "1.00"), ("SKU-1", 1, "10.00")))
    call("reserve", lambda_context)
    assert stock(deps, "SKU-1") == (7, 3)  # the two SKU-1 lines merged into one update
    assert stock(deps, "SKU-2") == (0, 3)
    assert deps.store.load_order("order-1").status == Status.INVENTORY_RESERVED


def test_one_short_line_reserves_nothing_and_names_the_sku(
    deps, aws, stack, template, lambda_context
):
    paid_order(deps, lines=(("SKU-1", 2, "10.00"), ("SKU-2", 4, "1.00"), ("SKU-3", 1, "2.00")))
    before = scan_all(aws, stack, template)
    with pytest.raises(OutOfStock) as raised:
        call("reserve", lambda_context)
    assert raised.value.sku == "SKU-2"
    assert (raised.value.requested, raised.value.available) == (4, 3)
    assert scan_all(aws, stack, template) == before  # no half-reserved order


def test_unknown_sku_is_named_and_nothing_is_written(deps, aws, stack, template, lambda_context):
    paid_order(deps, lines=(("SKU-1", 1, "10.00"), ("NOPE-9", 1, "1.00")))
    before = scan_all(aws, stack, template)
    with pytest.raises(UnknownSku) as raised:
        call("reserve", lambda_context)
    assert raised.value.sku == "NOPE-9"
    assert scan_all(aws, stack, template) == before


def test_duplicate_delivery_reserves_once(deps, lambda_context):
    paid_order(deps)
    results = [call("reserve", lambda_context) for _ in range(3)]
    assert stock(deps, "SKU-1") == (8, 2)
    events = [e.type for e in deps.store.load("order-1")]
    assert events.count("InventoryReserved") == 1
    assert [r.get("duplicate", False) for r in results] == [False, True, True]


def test_reservation_survives_a_crash_before_the_event_is_appended(deps, lambda_context):
    paid_order(deps)
    deps.inventory.reserve("order-1", [("SKU-1", 2)])  # the side effect happened, no event yet
    call("reserve", lambda_context)
    assert stock(deps, "SKU-1") == (8, 2)
    assert deps.store.load_order("order-1").status == Status.INVENTORY_RESERVED


def test_reservation_failure_is_recorded_with_the_short_sku(deps, lambda_context):
    paid_order(deps, lines=(("SKU-2", 9, "1.00"),))
    with pytest.raises(OutOfStock) as raised:
        call("reserve", lambda_context)
    cause = json.dumps({"errorMessage": str(raised.value), "errorType": "OutOfStock"})
    for _ in range(3):
        call(
            "record_reservation_failure",
            lambda_context,
            error={"Error": "OutOfStock", "Cause": cause},
        )
    events = deps.store.load("order-1")
    failed = [e for e in events if e.type == "InventoryReservationFailed"]
    assert len(failed) == 1
    assert failed[0].sku == "SKU-2"
    assert deps.store.load_order("order-1").status == Status.COMPENSATING


def test_release_restores_stock_exactly_once(deps, lambda_context):
    paid_order(deps)
    call("reserve", lambda_context)
    advance(deps.store, "order-1", [(ev.LabelFailed, {"reason": "carrier down"})])
    for _ in range(3):
        call("release", lambda_context)
    assert stock(deps, "SKU-1") == (10, 0)
    assert [e.type for e in deps.store.load("order-1")].count("InventoryReleased") == 1
    assert deps.inventory.reservation("order-1").status == "RELEASED"


def shipped(deps, sku):
    return int(deps.inventory.get_stock(sku).get("shipped", 0))


def test_a_confirmed_order_ships_its_stock_exactly_once(deps, lambda_context):
    paid_order(deps, lines=(("SKU-1", 2, "10.00"), ("SKU-2", 1, "1.00")))
    call("reserve", lambda_context)
    label = {"tracking_number": "T1", "label_uri": "s3://l/1"}
    advance(deps.store, "order-1", [(ev.LabelCreated, label), (ev.OrderConfirmed, {})])
    deps.inventory.ship("order-1")  # the side effect once before the step (a crash, say)
    results = [call("ship", lambda_context) for _ in range(3)]
    assert stock(deps, "SKU-1") == (8, 0) and shipped(deps, "SKU-1") == 2
    assert stock(deps, "SKU-2") == (2, 0) and shipped(deps, "SKU-2") == 1
    assert [e.type for e in deps.store.load("order-1")].count("InventoryShipped") == 1
    assert [r.get("duplicate", False) for r in results] == [False, True, True]
    order = deps.store.load_order("order-1")
    assert order.status == Status.CONFIRMED and not order.holds_stock


def test_stock_not_confirmed_does_not_ship_and_released_stock_never_ships(deps, lambda_context):
    paid_order(deps)
    call("reserve", lambda_context)
    with pytest.raises(StepNotApplicable):
        call("ship", lambda_context)  # reserved, not confirmed yet
    advance(deps.store, "order-1", [(ev.LabelFailed, {"reason": "carrier down"})])
    call("release", lambda_context)
    with pytest.raises(StepNotApplicable):
        deps.inventory.ship("order-1")
    assert stock(deps, "SKU-1") == (10, 0) and shipped(deps, "SKU-1") == 0


def test_release_of_an_order_without_stock_is_not_applicable(deps, lambda_context):
    paid_order(deps)
    advance(deps.store, "order-1", [(ev.InventoryReservationFailed, {"reason": "x"})])
    with pytest.raises(StepNotApplicable):
        call("release", lambda_context)
    assert deps.inventory.release("order-1") is None


def test_failed_release_alerts_once_and_is_recorded(deps, aws, stack, lambda_context):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="alerts-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    aws.client("sns").subscribe(TopicArn=stack.ref("AlertsTopic"), Protocol="sqs", Endpoint=arn)
    paid_order(deps)
    call("reserve", lambda_context)
    advance(deps.store, "order-1", [(ev.LabelFailed, {"reason": "carrier down"})])
    for _ in range(3):
        call("record_compensation_failure", lambda_context, error={"Error": "States.Timeout"})
    assert deps.store.load_order("order-1").status == Status.COMPENSATION_FAILED
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1
    body = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert body == {"order_id": "order-1", "step": "release", "reason": "States.Timeout: "}


def test_reserve_before_payment_is_not_applicable(deps, lambda_context):
    place_order(deps.store)
    with pytest.raises(StepNotApplicable):
        call("reserve", lambda_context)
    assert stock(deps, "SKU-1") == (10, 0)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (["reserve"], None),
        ({"action": "reserve", "correlation_id": "c"}, "order_id"),
        ({"action": "reserve", "order_id": ["x"], "correlation_id": "c"}, "order_id"),
        ({"action": "reserve", "order_id": "order-1"}, "correlation_id"),
        ({"action": "restock", "order_id": "order-1", "correlation_id": "c"}, "action"),
    ],
)
def test_bad_step_input_names_the_field_and_writes_nothing(
    deps, aws, stack, template, lambda_context, event, field
):
    paid_order(deps)
    before = scan_all(aws, stack, template)
    with pytest.raises(ValidationFailed) as raised:
        inventory.lambda_handler(event, lambda_context)
    assert raised.value.field == field
    assert scan_all(aws, stack, template) == before


def test_a_late_redelivery_after_the_order_moved_on_is_a_no_op(deps, lambda_context):
    paid_order(deps, lines=(("SKU-2", 9, "1.00"),))
    advance(
        deps.store,
        "order-1",
        [
            (ev.InventoryReservationFailed, {"reason": "out", "sku": "SKU-2"}),
            (ev.PaymentRefunded, {"refund_id": "r", "amount": Decimal("20.00")}),
            (ev.OrderCancelled, {"reason": "out of stock"}),
        ],
    )
    before = [e.type for e in deps.store.load("order-1")]
    result = call("reserve", lambda_context)  # PaymentCaptured delivered again, late
    assert result["duplicate"] and "CANCELLED" in result["skipped"]
    assert [e.type for e in deps.store.load("order-1")] == before
    assert stock(deps, "SKU-2") == (3, 0)
