"""Shipping: one label per order in S3, confirmation once, label failure starts compensation."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from conftest import scan_all
from factories import advance, make_factory, place_order, step

from pipeline.adapters.carrier import S3Carrier, tracking_number
from pipeline.adapters.event_store import EventStore
from pipeline.domain import events as ev
from pipeline.domain.errors import CarrierUnavailable, StepNotApplicable, ValidationFailed
from pipeline.domain.order import Status
from pipeline.handlers import shipping

RESERVED = [
    (ev.PaymentAuthorized, {"payment_id": "p", "amount": Decimal("20.00")}),
    (ev.PaymentCaptured, {"payment_id": "p", "amount": Decimal("20.00")}),
    (ev.InventoryReserved, {"reservation_id": "order-1"}),
]


class Outage:
    """A carrier that is down for the first ``calls`` calls."""

    def __init__(self, calls: int) -> None:
        self.left = calls

    def __call__(self) -> bool:
        self.left -= 1
        return self.left < 0


@pytest.fixture
def deps(aws, stack):
    deps = shipping.ShippingDeps(
        store=EventStore(aws.client("dynamodb"), stack.ref("EventsTable")),
        carrier=S3Carrier(aws.client("s3"), stack.ref("LabelsBucket")),
        factory=make_factory("shp"),
    )
    place_order(deps.store)
    advance(deps.store, "order-1", RESERVED)
    shipping.wiring.configure(deps)
    yield deps
    shipping.wiring.configure(None)


def labels(aws, stack) -> list[str]:
    listing = aws.client("s3").list_objects_v2(Bucket=stack.ref("LabelsBucket"))
    return sorted(o["Key"] for o in listing.get("Contents", []))


def call(action, lambda_context, **extra):
    return shipping.lambda_handler(step(action, **extra), lambda_context)


def test_label_is_a_real_s3_artifact_and_the_order_is_confirmed(deps, aws, stack, lambda_context):
    call("create_label", lambda_context)
    call("confirm", lambda_context)
    order = deps.store.load_order("order-1")
    assert order.status == Status.CONFIRMED
    assert order.tracking_number == tracking_number("order-1")
    body = aws.client("s3").get_object(Bucket=stack.ref("LabelsBucket"), Key="labels/order-1.json")
    document = json.loads(body["Body"].read())
    assert document["lines"] == [{"sku": "SKU-1", "quantity": 2}]
    assert document["tracking_number"] == order.tracking_number


def test_duplicate_delivery_creates_one_label_and_one_event(deps, aws, stack, lambda_context):
    for _ in range(3):
        call("create_label", lambda_context)
    for _ in range(3):
        call("confirm", lambda_context)
    types = [e.type for e in deps.store.load("order-1")]
    assert types.count("LabelCreated") == 1
    assert types.count("OrderConfirmed") == 1
    assert labels(aws, stack) == ["labels/order-1.json"]
    versions = aws.client("s3").list_object_versions(Bucket=stack.ref("LabelsBucket"))
    assert len(versions.get("Versions", [])) == 1  # never rewritten


def test_carrier_outage_is_transient_and_the_retry_succeeds(deps, lambda_context):
    deps.carrier.available = Outage(calls=2)
    for _ in range(2):
        with pytest.raises(CarrierUnavailable):
            call("create_label", lambda_context)
    call("create_label", lambda_context)
    assert deps.store.load_order("order-1").status == Status.LABEL_CREATED


def test_label_failure_is_recorded_once_and_moves_the_order_to_compensation(deps, lambda_context):
    error = {"Error": "CarrierUnavailable", "Cause": json.dumps({"errorMessage": "down"})}
    for _ in range(3):
        call("record_label_failure", lambda_context, error=error)
    events = deps.store.load("order-1")
    assert [e.type for e in events].count("LabelFailed") == 1
    assert events[-1].reason == "CarrierUnavailable: down"
    assert deps.store.load_order("order-1").status == Status.COMPENSATING


def test_cancelled_label_is_voided_idempotently(deps, aws, stack, lambda_context):
    call("create_label", lambda_context)
    results = [call("cancel_label", lambda_context) for _ in range(3)]
    assert all(r["voided"] for r in results)
    assert labels(aws, stack) == ["labels/order-1.json", "labels/order-1.void.json"]


def test_confirm_before_label_is_not_applicable(deps, lambda_context):
    with pytest.raises(StepNotApplicable):
        call("confirm", lambda_context)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (None, None),
        ({"action": "create_label", "correlation_id": "c"}, "order_id"),
        ({"action": "create_label", "order_id": "", "correlation_id": "c"}, "order_id"),
        ({"action": "ship_it", "order_id": "order-1", "correlation_id": "c"}, "action"),
    ],
)
def test_bad_step_input_names_the_field_and_writes_nothing(
    deps, aws, stack, template, lambda_context, event, field
):
    before = scan_all(aws, stack, template), labels(aws, stack)
    with pytest.raises(ValidationFailed) as raised:
        shipping.lambda_handler(event, lambda_context)
    assert raised.value.field == field
    assert (scan_all(aws, stack, template), labels(aws, stack)) == before


def test_an_outage_window_runs_on_the_given_clock_from_the_first_request():
    from pipeline.handlers.shipping import carrier_availability

    clock = [100.0]
    available = carrier_availability({"FAKE_CARRIER_OUTAGE_S": "30"}, now=lambda: clock[0])
    assert available is not None and not available()  # the window opens at the first call
    clock[0] = 129.0
    assert not available()
    clock[0] = 130.0
    assert available()
    assert carrier_availability({}) is None
