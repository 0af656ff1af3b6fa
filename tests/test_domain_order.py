"""The order aggregate: lifecycle transitions, guards, folding at a point in time, hash chain."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from factories import CAUSE, T0, make_factory

from pipeline.domain import events as ev
from pipeline.domain.errors import InvalidTransition
from pipeline.domain.order import TERMINAL, TRANSITIONS, Order, Status, fold

LINES = (ev.OrderLine(sku="SKU-1", quantity=2, unit_price=Decimal("10.00")),)


def build(*specs: tuple[type[ev.Event], dict]) -> list[ev.Event]:
    """Events of a new order, sealed into a hash chain as the store would."""
    factory, order, out = make_factory(), Order("o-1", customer_id="c-1"), []
    placed = (ev.OrderPlaced, {"lines": LINES, "currency": "USD", "total": Decimal("20.00")})
    for spec in (placed, *specs):
        (event,) = factory.next(order, [spec], CAUSE)
        event = event.sealed(order.last_hash)
        order = order.apply(event)
        out.append(event)
    return out


HAPPY = [
    (ev.PaymentAuthorized, {"payment_id": "p", "amount": Decimal("20.00")}),
    (ev.PaymentCaptured, {"payment_id": "p", "amount": Decimal("20.00")}),
    (ev.InventoryReserved, {"reservation_id": "o-1"}),
    (ev.LabelCreated, {"tracking_number": "T1", "label_uri": "s3://b/l"}),
    (ev.OrderConfirmed, {}),
    (ev.CustomerNotified, {"kind": "OrderConfirmed", "message_id": "m"}),
]


def test_happy_path_ends_confirmed_and_notified():
    order = fold(build(*HAPPY))
    assert order.status == Status.CONFIRMED
    assert order.is_terminal
    assert order.notified == {"OrderConfirmed"}
    assert order.captured == Decimal("20.00")
    assert order.version == 7


def test_reservation_failure_compensates_with_refund_then_cancels():
    events = build(
        *HAPPY[:2],
        (ev.InventoryReservationFailed, {"reason": "out of stock", "sku": "SKU-1"}),
        (ev.PaymentRefunded, {"refund_id": "r", "amount": Decimal("20.00")}),
        (ev.OrderCancelled, {"reason": "out of stock"}),
    )
    order = fold(events)
    assert order.status == Status.CANCELLED
    assert order.owes_nothing


def test_label_failure_releases_stock_and_refunds_before_cancelling():
    events = build(
        *HAPPY[:3],
        (ev.LabelFailed, {"reason": "carrier down"}),
        (ev.InventoryReleased, {"reservation_id": "o-1"}),
        (ev.PaymentRefunded, {"refund_id": "r", "amount": Decimal("20.00")}),
        (ev.OrderCancelled, {"reason": "carrier down"}),
    )
    assert fold(events).status == Status.CANCELLED


def test_cancel_while_money_is_held_is_refused():
    with pytest.raises(InvalidTransition, match="money or stock"):
        build(
            *HAPPY[:2],
            (ev.InventoryReservationFailed, {"reason": "x"}),
            (ev.OrderCancelled, {"reason": "x"}),
        )


def test_cancel_while_stock_is_held_is_refused():
    with pytest.raises(InvalidTransition, match="money or stock"):
        build(
            *HAPPY[:3],
            (ev.LabelFailed, {"reason": "x"}),
            (ev.PaymentRefunded, {"refund_id": "r", "amount": Decimal("20.00")}),
            (ev.OrderCancelled, {"reason": "x"}),
        )


def test_refund_more_than_captured_is_refused():
    with pytest.raises(InvalidTransition, match="exceeds"):
        build(
            *HAPPY[:2],
            (ev.InventoryReservationFailed, {"reason": "x"}),
            (ev.PaymentRefunded, {"refund_id": "r", "amount": Decimal("20.01")}),
        )


def test_decline_cancels_without_money_moving():
    events = build(
        (ev.PaymentDeclined, {"reason": "card_declined"}),
        (ev.OrderCancelled, {"reason": "declined"}),
    )
    order = fold(events)
    assert order.status == Status.CANCELLED
    assert order.captured == 0


@pytest.mark.parametrize(
    "spec",
    [
        (ev.PaymentCaptured, {"payment_id": "p", "amount": Decimal("20.00")}),
        (ev.InventoryReserved, {"reservation_id": "o-1"}),
        (ev.OrderConfirmed, {}),
        (ev.CustomerNotified, {"kind": "OrderConfirmed", "message_id": "m"}),
    ],
)
def test_steps_out_of_order_are_invalid_transitions(spec):
    with pytest.raises(InvalidTransition):
        build(spec)


def test_no_event_leaves_a_terminal_state():
    """After a terminal status only the notification and the shipment are recorded, and
    neither changes the status."""
    for (before, event_type), after in TRANSITIONS.items():
        if before in TERMINAL:
            assert event_type in {"CustomerNotified", "InventoryShipped"}
            assert after == before


def test_fold_reproduces_the_state_at_every_sequence_and_time():
    events = build(*HAPPY)
    states, order = [], Order("o-1")
    for event in events:
        order = order.apply(event)
        states.append(order)
    for n, expected in enumerate(states, start=1):
        assert fold(events, upto=n) == expected
        assert fold(events, as_of=events[n - 1].occurred_at) == expected
    assert fold(events, "o-1", as_of=T0 - timedelta(days=1)).status is None


def test_events_round_trip_through_json_exactly():
    for event in build(*HAPPY):
        again = ev.parse_event(event.to_json())
        assert again == event
        assert type(again) is type(event)


def test_hash_chain_detects_altered_removed_and_reordered_events():
    events = build(*HAPPY)
    assert ev.verify_chain(events) == []
    altered = events.copy()
    altered[2] = altered[2].model_copy(update={"amount": Decimal("1.00")})
    assert any("content" in p for p in ev.verify_chain(altered))
    removed = events[:3] + events[4:]
    assert ev.verify_chain(removed)
    reordered = [events[0], events[2], events[1], *events[3:]]
    assert ev.verify_chain(reordered)


def test_money_is_never_a_float():
    with pytest.raises(ValueError):
        ev.PaymentCaptured(
            event_id="e",
            order_id="o",
            sequence=1,
            customer_id="c",
            occurred_at=T0,
            correlation_id="c",
            payment_id="p",
            amount=Decimal("1.001"),
        )
    assert '"amount":"20.00"' in build(*HAPPY[:1])[1].to_json()


def test_naive_timestamps_are_rejected():
    with pytest.raises(ValueError):
        ev.OrderConfirmed(
            event_id="e",
            order_id="o",
            sequence=1,
            customer_id="c",
            occurred_at=T0.replace(tzinfo=None),
            correlation_id="c",
        )
