"""Orders at each state of the saga, folded from events, and the dependencies' answers to
the saga's rules: for the tests of the rules and of the simulator's replay of them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from factories import CAUSE, make_factory

from pipeline.domain import events as ev
from pipeline.domain import saga
from pipeline.domain.order import Order

LINES = (ev.OrderLine(sku="SKU-1", quantity=2, unit_price=Decimal("10.00")),)
FIELDS: dict[str, dict[str, Any]] = {
    "OrderPlaced": {"lines": LINES, "currency": "USD", "total": Decimal("20.00")},
    "PaymentAuthorized": {"payment_id": "p", "amount": Decimal("20.00")},
    "PaymentCaptured": {"payment_id": "p", "amount": Decimal("20.00")},
    "PaymentDeclined": {"reason": "declined"},
    "PaymentFailed": {"reason": "failed"},
    "PaymentRefunded": {"refund_id": "p:refund", "amount": Decimal("20.00")},
    "InventoryReserved": {"reservation_id": "o-1"},
    "InventoryReservationFailed": {"reason": "out of stock: SKU-1", "sku": "SKU-1"},
    "InventoryReleased": {"reservation_id": "o-1"},
    "InventoryShipped": {"reservation_id": "o-1"},
    "LabelCreated": {"tracking_number": "T1", "label_uri": "s3://b/l"},
    "LabelFailed": {"reason": "no label"},
    "OrderConfirmed": {},
    "OrderCancelled": {"reason": "cancelled"},
    "CustomerNotified": {"kind": "OrderConfirmed", "message_id": "m"},
    "CompensationFailed": {"step": "refund", "reason": "gateway down"},
}
PAID = ("PaymentAuthorized", "PaymentCaptured")
# How an order reaches each state, as the state machines would drive it.
PATHS: dict[str, tuple[str, ...]] = {
    "placed": (),
    "authorized": ("PaymentAuthorized",),
    "captured": PAID,
    "reserved": (*PAID, "InventoryReserved"),
    "labelled": (*PAID, "InventoryReserved", "LabelCreated"),
    "confirmed": (*PAID, "InventoryReserved", "LabelCreated", "OrderConfirmed"),
    "shipped": (*PAID, "InventoryReserved", "LabelCreated", "OrderConfirmed", "InventoryShipped"),
    "notified": (*PAID, "InventoryReserved", "LabelCreated", "OrderConfirmed", "CustomerNotified"),
    "declined": ("PaymentDeclined",),
    "declined-cancelled": ("PaymentDeclined", "OrderCancelled"),
    "authorized-failed": ("PaymentAuthorized", "PaymentFailed", "OrderCancelled"),
    "reservation-failed": (*PAID, "InventoryReservationFailed"),
    "refunded-cancelled": (
        *PAID,
        "InventoryReservationFailed",
        "PaymentRefunded",
        "OrderCancelled",
    ),
    "label-failed": (*PAID, "InventoryReserved", "LabelFailed"),
    "released": (*PAID, "InventoryReserved", "LabelFailed", "InventoryReleased"),
    "compensation-failed": (*PAID, "InventoryReservationFailed", "CompensationFailed"),
}


def order_at(path: str) -> Order:
    """An order folded from the events of ``PATHS[path]``, as the store would hold them."""
    factory, order = make_factory(), Order("o-1", customer_id="c-1")
    for kind in ("OrderPlaced", *PATHS[path]):
        (event,) = factory.next(order, [(ev.EVENT_CLASSES[kind], FIELDS[kind])], CAUSE)
        order = order.apply(event.sealed(order.last_hash))
    return order


class Known(saga.NoFacts):
    """The dependencies' answers, counting the questions asked."""

    def __init__(self, held: bool = False, voided: bool = False) -> None:
        self.held, self.voided, self.asked = held, voided, 0

    def reservation_held(self) -> bool:
        self.asked += 1
        return self.held

    def label_voided(self) -> bool:
        self.asked += 1
        return self.voided
