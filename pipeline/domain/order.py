"""The order aggregate: its lifecycle as a transition table, rebuilt by folding its events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pipeline.domain import events as ev
from pipeline.domain.errors import InvalidTransition


class Status(StrEnum):
    PLACED = "PLACED"
    PAYMENT_AUTHORIZED = "PAYMENT_AUTHORIZED"
    PAYMENT_CAPTURED = "PAYMENT_CAPTURED"
    INVENTORY_RESERVED = "INVENTORY_RESERVED"
    LABEL_CREATED = "LABEL_CREATED"
    CONFIRMED = "CONFIRMED"
    COMPENSATING = "COMPENSATING"
    CANCELLED = "CANCELLED"
    COMPENSATION_FAILED = "COMPENSATION_FAILED"


TERMINAL = frozenset({Status.CONFIRMED, Status.CANCELLED, Status.COMPENSATION_FAILED})

# How far along the lifecycle a status is: a step meant for an earlier status arrives late.
RANK = {
    Status.PLACED: 0,
    Status.PAYMENT_AUTHORIZED: 1,
    Status.PAYMENT_CAPTURED: 2,
    Status.INVENTORY_RESERVED: 3,
    Status.LABEL_CREATED: 4,
    Status.CONFIRMED: 5,
    Status.COMPENSATING: 5,
    Status.CANCELLED: 6,
    Status.COMPENSATION_FAILED: 6,
}

S = Status
# Events recorded after a terminal status that leave it as it is.
STATUS_KEEPING = frozenset({"CustomerNotified", "InventoryShipped"})
# (status before, event type) -> status after. Anything absent is an invalid transition.
TRANSITIONS: dict[tuple[Status | None, str], Status] = {
    (None, "OrderPlaced"): S.PLACED,
    (S.PLACED, "PaymentAuthorized"): S.PAYMENT_AUTHORIZED,
    (S.PAYMENT_AUTHORIZED, "PaymentCaptured"): S.PAYMENT_CAPTURED,
    (S.PLACED, "PaymentDeclined"): S.COMPENSATING,
    (S.PAYMENT_AUTHORIZED, "PaymentDeclined"): S.COMPENSATING,
    (S.PLACED, "PaymentFailed"): S.COMPENSATING,
    (S.PAYMENT_AUTHORIZED, "PaymentFailed"): S.COMPENSATING,
    (S.PAYMENT_CAPTURED, "InventoryReserved"): S.INVENTORY_RESERVED,
    (S.PAYMENT_CAPTURED, "InventoryReservationFailed"): S.COMPENSATING,
    (S.INVENTORY_RESERVED, "LabelCreated"): S.LABEL_CREATED,
    (S.INVENTORY_RESERVED, "LabelFailed"): S.COMPENSATING,
    (S.LABEL_CREATED, "LabelFailed"): S.COMPENSATING,
    (S.LABEL_CREATED, "OrderConfirmed"): S.CONFIRMED,
    (S.COMPENSATING, "InventoryReleased"): S.COMPENSATING,
    (S.COMPENSATING, "PaymentRefunded"): S.COMPENSATING,
    (S.COMPENSATING, "OrderCancelled"): S.CANCELLED,
    (S.PLACED, "OrderCancelled"): S.CANCELLED,
    (S.COMPENSATING, "CompensationFailed"): S.COMPENSATION_FAILED,
    (S.CONFIRMED, "CustomerNotified"): S.CONFIRMED,
    (S.CONFIRMED, "InventoryShipped"): S.CONFIRMED,
    (S.CANCELLED, "CustomerNotified"): S.CANCELLED,
}

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Order:
    """An order as its events left it. Never mutated: ``apply`` returns a new one."""

    order_id: str
    customer_id: str = ""
    status: Status | None = None
    version: int = 0
    lines: tuple[ev.OrderLine, ...] = ()
    currency: str = "USD"
    total: Decimal = ZERO
    placed_at: datetime | None = None
    updated_at: datetime | None = None
    correlation_id: str | None = None
    payment_id: str | None = None
    authorized: Decimal = ZERO
    captured: Decimal = ZERO
    refunded: Decimal = ZERO
    reservation_id: str | None = None
    released: bool = False
    shipped: bool = False
    tracking_number: str | None = None
    label_uri: str | None = None
    failure_reason: str | None = None
    notified: frozenset[str] = field(default_factory=frozenset)
    last_hash: str | None = None
    applied: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def holds_stock(self) -> bool:
        return self.reservation_id is not None and not self.released and not self.shipped

    @property
    def refundable(self) -> Decimal:
        return self.captured - self.refunded

    @property
    def owes_nothing(self) -> bool:
        """True when no money is held and no stock is reserved: cancellation may complete."""
        return self.refundable == ZERO and not self.holds_stock

    def has(self, event_type: str) -> bool:
        """Whether an event of this type was applied (idempotency checks use this)."""
        return event_type in self.applied

    def apply(self, event: ev.Event) -> Order:
        """The order after ``event``; raises ``InvalidTransition`` if the lifecycle forbids it."""
        if event.order_id != self.order_id:
            raise InvalidTransition(f"event for {event.order_id} applied to {self.order_id}")
        if event.sequence != self.version + 1:
            raise InvalidTransition(
                f"order {self.order_id}: sequence {event.sequence} after version {self.version}"
            )
        after = TRANSITIONS.get((self.status, event.type))
        if after is None:
            raise InvalidTransition(
                f"order {self.order_id}: {event.type} is not allowed in status {self.status}"
            )
        changes = _changes(self, event)
        if event.type == "OrderCancelled" and not replace(self, **changes).owes_nothing:
            raise InvalidTransition(
                f"order {self.order_id}: cannot cancel while money or stock is still held"
            )
        return replace(
            self,
            status=after,
            version=event.sequence,
            updated_at=event.occurred_at,
            last_hash=event.hash,
            applied=self.applied | {event.type},
            **changes,
        )


def _changes(order: Order, event: ev.Event) -> dict[str, Any]:
    """What an event changes on the order, besides status and version: money here, the rest
    in :func:`_fulfilment_changes`."""
    match event:
        case ev.OrderPlaced():
            return {
                "customer_id": event.customer_id,
                "lines": event.lines,
                "currency": event.currency,
                "total": event.total,
                "placed_at": event.occurred_at,
                "correlation_id": event.correlation_id,
            }
        case ev.PaymentAuthorized():
            return {"payment_id": event.payment_id, "authorized": event.amount}
        case ev.PaymentCaptured():
            return {"captured": order.captured + event.amount}
        case ev.PaymentRefunded():
            if event.amount > order.refundable:
                raise InvalidTransition(
                    f"order {order.order_id}: refund {event.amount} exceeds {order.refundable}"
                )
            return {"refunded": order.refunded + event.amount}
        case ev.PaymentDeclined() | ev.PaymentFailed() | ev.InventoryReservationFailed():
            return {"failure_reason": event.reason, "authorized": ZERO}
        case _:
            return _fulfilment_changes(order, event)


def _fulfilment_changes(order: Order, event: ev.Event) -> dict[str, Any]:
    """What a stock, label or notification event changes on the order."""
    match event:
        case ev.InventoryReserved():
            return {"reservation_id": event.reservation_id}
        case ev.InventoryReleased():
            return {"released": True}
        case ev.InventoryShipped():
            return {"shipped": True}
        case ev.LabelCreated():
            return {"tracking_number": event.tracking_number, "label_uri": event.label_uri}
        case ev.LabelFailed() | ev.CompensationFailed():
            return {"failure_reason": event.reason}
        case ev.CustomerNotified():
            return {"notified": order.notified | {event.kind}}
        case _:
            return {}


def fold(
    events: Iterable[ev.Event],
    order_id: str | None = None,
    *,
    as_of: datetime | None = None,
    upto: int | None = None,
) -> Order:
    """Rebuild an order from its events, as it stood at ``as_of`` or sequence ``upto``.

    Events arrive at least once (stream retries, lake copies): an exact copy of an event
    already folded is skipped; a different event at a taken sequence is refused."""
    order: Order | None = Order(order_id) if order_id else None
    previous: ev.Event | None = None
    for event in sorted(events, key=lambda e: e.sequence):
        if as_of is not None and event.occurred_at > as_of:
            break
        if upto is not None and event.sequence > upto:
            break
        if previous is not None and event.sequence == previous.sequence:
            if event != previous:
                raise InvalidTransition(
                    f"order {event.order_id}: two different events at sequence {event.sequence}"
                )
            continue
        order = (order or Order(event.order_id)).apply(event)
        previous = event
    if order is None:
        raise ValueError("fold needs an order_id or at least one event")
    return order


# The events that turn an order back: its saga compensates (the compensation rate's numerator).
COMPENSATION_STARTING_EVENTS = frozenset(
    kind
    for (before, kind), after in TRANSITIONS.items()
    if after == Status.COMPENSATING and before != Status.COMPENSATING
)
# The events that end an order: they move it from an open status to a terminal one.
ENDING_EVENTS = frozenset(
    kind
    for (before, kind), after in TRANSITIONS.items()
    if after in TERMINAL and before not in TERMINAL
)


def status_after(event_type: str) -> Status | None:
    """The status an event type always leads to, or None for events that keep the status."""
    afters = {after for (before, kind), after in TRANSITIONS.items() if kind == event_type}
    if len(afters) == 1 and event_type not in STATUS_KEEPING:
        return afters.pop()
    return None
