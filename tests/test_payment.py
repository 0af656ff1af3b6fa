"""Payment handler against moto: charges once under duplicates, refunds never exceed captures."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest
from conftest import scan_all
from factories import CAUSE, advance, make_factory, place_order, step

from pipeline.adapters.alerts import Alerts
from pipeline.adapters.event_store import EventStore
from pipeline.adapters.payment_gateway import FakeGatewayRates, FakePaymentGateway
from pipeline.domain import events as ev
from pipeline.domain.errors import (
    ConcurrencyConflict,
    GatewayUnavailable,
    PaymentDeclined,
    RefundExceedsCapture,
    StepNotApplicable,
    ValidationFailed,
)
from pipeline.domain.order import Status
from pipeline.handlers import payment


@pytest.fixture
def deps(aws, stack):
    store = EventStore(aws.client("dynamodb"), stack.ref("EventsTable"))
    deps = payment.PaymentDeps(
        store=store,
        gateway=FakePaymentGateway(rng=random.Random(7)),
        alerts=Alerts(aws.client("sns"), stack.ref("AlertsTopic")),
        factory=make_factory("pay"),
    )
    payment.wiring.configure(deps)
    yield deps
    payment.wiring.configure(None)


def call(action: str, lambda_context, **extra):
    return payment.lambda_handler(step(action, **extra), lambda_context)


def alert_queue(aws, stack) -> str:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="alerts-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    aws.client("sns").subscribe(
        TopicArn=stack.ref("AlertsTopic"), Protocol="sqs", Endpoint=arn["QueueArn"]
    )
    return url


def drain(aws, url: str) -> list[dict]:
    sqs, messages = aws.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        messages += batch
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def test_authorize_then_capture_charges_the_order_total(deps, lambda_context):
    place_order(deps.store, lines=(("SKU-1", 2, "10.00"), ("SKU-2", 1, "5.50")))
    call("authorize", lambda_context)
    result = call("capture", lambda_context)
    order = deps.store.load_order("order-1")
    assert order.status == Status.PAYMENT_CAPTURED
    assert order.captured == Decimal("25.50")
    assert result["amount"] == "25.50"
    assert deps.gateway.net_captured() == Decimal("25.50")


def test_duplicate_delivery_charges_once(deps, lambda_context):
    place_order(deps.store)
    for _ in range(3):
        call("authorize", lambda_context)
    for _ in range(3):
        call("capture", lambda_context)
    events = deps.store.load("order-1")
    assert [e.type for e in events] == ["OrderPlaced", "PaymentAuthorized", "PaymentCaptured"]
    assert [op for op, _ in deps.gateway.calls] == ["authorize", "capture"]
    assert deps.gateway.net_captured() == Decimal("20.00")


def test_lost_gateway_response_is_retried_without_a_second_charge(deps, lambda_context):
    place_order(deps.store)
    call("authorize", lambda_context)
    deps.gateway.rates = FakeGatewayRates(lost_response=1.0)
    with pytest.raises(GatewayUnavailable):
        call("capture", lambda_context)
    deps.gateway.rates = FakeGatewayRates()
    call("capture", lambda_context)
    assert [op for op, _ in deps.gateway.calls] == ["authorize", "capture"]
    assert deps.store.load_order("order-1").captured == Decimal("20.00")


def test_decline_raises_the_asl_error_and_record_decline_cancels(deps, lambda_context):
    place_order(deps.store)
    deps.gateway.rates = FakeGatewayRates(decline=1.0)
    with pytest.raises(PaymentDeclined):
        call("authorize", lambda_context)
    error = {"Error": "PaymentDeclined", "Cause": json.dumps({"errorMessage": "card_declined"})}
    for _ in range(3):
        call("record_decline", lambda_context, error=error)
    order = deps.store.load_order("order-1")
    assert order.status == Status.CANCELLED
    assert [e.type for e in deps.store.load("order-1")][1:] == ["PaymentDeclined", "OrderCancelled"]
    assert deps.gateway.net_captured() == 0


def test_payment_failure_after_capture_lost_reverses_the_money(deps, lambda_context):
    place_order(deps.store)
    call("authorize", lambda_context)
    deps.gateway.rates = FakeGatewayRates(lost_response=1.0)
    with pytest.raises(GatewayUnavailable):
        call("capture", lambda_context)
    deps.gateway.rates = FakeGatewayRates()
    assert deps.gateway.net_captured() == Decimal("20.00")  # captured, but never recorded
    for _ in range(3):
        call("record_payment_failure", lambda_context, error={"Error": "States.Timeout"})
    assert deps.store.load_order("order-1").status == Status.CANCELLED
    assert deps.gateway.net_captured() == 0


def test_refund_after_reservation_failure_returns_everything_once(deps, lambda_context):
    place_order(deps.store)
    call("authorize", lambda_context)
    call("capture", lambda_context)
    advance(
        deps.store, "order-1", [(ev.InventoryReservationFailed, {"reason": "out", "sku": "SKU-1"})]
    )
    for _ in range(3):
        call("refund", lambda_context)
    order = deps.store.load_order("order-1")
    assert order.status == Status.CANCELLED
    assert order.refunded == order.captured == Decimal("20.00")
    assert deps.gateway.net_captured() == 0
    assert [op for op, _ in deps.gateway.calls].count("refund") == 1


def test_refund_waits_for_stock_release_before_cancelling(deps, lambda_context):
    place_order(deps.store)
    call("authorize", lambda_context)
    call("capture", lambda_context)
    advance(
        deps.store,
        "order-1",
        [(ev.InventoryReserved, {"reservation_id": "order-1"}), (ev.LabelFailed, {"reason": "x"})],
    )
    call("refund", lambda_context)
    order = deps.store.load_order("order-1")
    assert order.status == Status.COMPENSATING  # stock still held: not cancelled yet
    assert order.refunded == Decimal("20.00")


def test_gateway_never_refunds_more_than_captured():
    gateway = FakePaymentGateway()
    auth = gateway.authorize("k1", Decimal("10.00"), "USD")
    gateway.capture("k2", auth.payment_id, Decimal("10.00"))
    gateway.refund("k3", auth.payment_id, Decimal("6.00"))
    with pytest.raises(RefundExceedsCapture):
        gateway.refund("k4", auth.payment_id, Decimal("4.01"))
    assert gateway.net_captured() == Decimal("4.00")


def test_compensation_failure_alerts_operations_and_is_recorded_once(
    deps, aws, stack, lambda_context
):
    url = alert_queue(aws, stack)
    place_order(deps.store)
    call("authorize", lambda_context)
    call("capture", lambda_context)
    advance(deps.store, "order-1", [(ev.InventoryReservationFailed, {"reason": "out"})])
    error = {"Error": "GatewayUnavailable", "Cause": "503"}
    for _ in range(3):
        call("record_compensation_failure", lambda_context, error=error)
    assert deps.store.load_order("order-1").status == Status.COMPENSATION_FAILED
    messages = drain(aws, url)
    assert len(messages) == 1
    assert "order-1" in json.loads(messages[0]["Body"])["Message"]


def test_capture_before_authorize_is_not_applicable(deps, lambda_context):
    place_order(deps.store)
    with pytest.raises(StepNotApplicable):
        call("capture", lambda_context)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ("not a dict", None),
        ({"action": "authorize", "correlation_id": "c"}, "order_id"),
        ({"action": "authorize", "order_id": 5, "correlation_id": "c"}, "order_id"),
        ({"action": "authorize", "order_id": "o/../x", "correlation_id": "c"}, "order_id"),
        ({"action": "steal", "order_id": "order-1", "correlation_id": "c"}, "action"),
        ({"action": "authorize", "order_id": "order-1", "correlation_id": "c", "x": 1}, "x"),
    ],
)
def test_bad_step_input_is_rejected_naming_the_field_and_writes_nothing(
    deps, aws, stack, template, lambda_context, event, field
):
    place_order(deps.store)
    before = scan_all(aws, stack, template)
    with pytest.raises(ValidationFailed) as raised:
        payment.lambda_handler(event, lambda_context)
    assert raised.value.field == field
    assert scan_all(aws, stack, template) == before
    assert deps.gateway.calls == []


def test_unknown_order_is_not_applicable(deps, lambda_context):
    with pytest.raises(StepNotApplicable):
        call("authorize", lambda_context, order_id="order-missing")


def test_event_factory_cause_is_recorded(deps, lambda_context):
    place_order(deps.store)
    call("authorize", lambda_context)
    authorized = deps.store.load("order-1")[1]
    assert authorized.correlation_id == "corr-1"
    assert authorized.causation_id == "evt-000001"
    assert CAUSE.correlation_id == "corr-1"


def test_a_failure_recorded_late_never_voids_an_order_captured_meanwhile(deps, lambda_context):
    """Found by the simulator under duplicate deliveries and throttling: one payment
    execution gives up (its Catch records the failure) while a duplicate execution of the
    same event captures. The failure step loaded the order before the capture; it must not
    reverse the money of an order that goes on to be confirmed."""
    place_order(deps.store)
    call("authorize", lambda_context)
    load = deps.store.load_order
    raced: list[str] = []

    def load_then_capture(order_id: str):
        order = load(order_id)
        if not raced:  # the duplicate execution captures right after this load
            raced.append(order_id)
            call("capture", lambda_context)
        return order

    deps.store.load_order = load_then_capture
    with pytest.raises(ConcurrencyConflict):
        call("record_payment_failure", lambda_context, error={"Error": "States.Timeout"})
    deps.store.load_order = load
    call("record_payment_failure", lambda_context, error={"Error": "States.Timeout"})  # retry
    order = deps.store.load_order("order-1")
    assert order.status == Status.PAYMENT_CAPTURED
    assert deps.gateway.net_captured() == order.captured == Decimal("20.00")
    assert [op for op, _ in deps.gateway.calls] == ["authorize", "capture"]
