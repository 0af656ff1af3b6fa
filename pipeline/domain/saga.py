"""The saga's step rules, decided once: what each step handler's action does to an order.

A rule reads the order's state and decides a :class:`Step`: the events to append, the
dependency call to make (before the append, or after it), that its work is already recorded,
that the order has moved past it, or it raises the error the task fails with
(``StepNotApplicable``, ``ValidationFailed``). The step handlers (``pipeline.handlers``)
carry a step out against the real event store and services; the simulator
(``pipeline.sim.orders``) replays the same decisions on its cheap order. The store still
refuses an event the lifecycle forbids (``InvalidTransition``): rules do not restate the
transition table.

A rule that must know what only a dependency knows (does the inventory hold a reservation the
order never recorded, did the carrier void the label) asks through :class:`Facts`, and only
when it gets that far, so a handler makes the query exactly when it used to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from pipeline.domain.errors import StepNotApplicable, ValidationFailed
from pipeline.domain.order import RANK, TERMINAL, Status

S = Status


class Call(StrEnum):
    """A dependency call a step makes, ``<dependency>.<operation>``; each is idempotent per
    order (gateway keys, the reservation record, label objects, the notification record)."""

    AUTHORIZE = "gateway.authorize"
    CAPTURE = "gateway.capture"
    VOID = "gateway.void"
    REFUND = "gateway.refund"
    RESERVE = "inventory.reserve"
    RELEASE = "inventory.release"
    SHIP = "inventory.ship"
    CREATE_LABEL = "carrier.create_label"
    CANCEL_LABEL = "carrier.cancel_label"
    NOTIFY = "notifier.send"
    ALERT = "alerts.publish"


class SagaState(Protocol):
    """What the rules read of an order: :class:`pipeline.domain.order.Order` provides it,
    and so does the simulator's ``SimOrder``."""

    @property
    def order_id(self) -> str: ...

    @property
    def status(self) -> Status | None: ...

    @property
    def notified(self) -> AbstractSet[str]: ...

    @property
    def holds_stock(self) -> bool: ...

    @property
    def refundable(self) -> Decimal | int: ...

    def has(self, event_type: str) -> bool: ...


class Facts(Protocol):
    """What a rule may ask a dependency about the order."""

    def reservation_held(self) -> bool:
        """Whether the inventory holds a live (reserved) reservation for the order."""
        ...

    def label_voided(self) -> bool:
        """Whether the carrier voided the order's label."""
        ...


class NoFacts:
    """Facts for a handler whose rules ask nothing; subclass it to answer what they ask."""

    def reservation_held(self) -> bool:
        raise LookupError("this step cannot ask the inventory about reservations")

    def label_voided(self) -> bool:
        raise LookupError("this step cannot ask the carrier about labels")


NO_FACTS = NoFacts()


@dataclass(frozen=True, slots=True)
class Step:
    """What an action does: make ``call`` (before appending ``events``, or after them when
    ``call_after``), then append ``events``. ``duplicate``: its work is already recorded;
    ``skipped``: why it does nothing new (the order moved past it, ...). A step that does
    nothing new may still make a call that finishes work cut short (a void, a release)."""

    events: tuple[str, ...] = ()
    call: Call | None = None
    call_after: bool = False
    duplicate: bool = False
    skipped: str | None = None

    @property
    def goes_ahead(self) -> bool:
        """True unless the step is a no-op on the order (done already, or moved past)."""
        return not self.duplicate and self.skipped is None


DUPLICATE = Step(duplicate=True)
# The kinds of notice a customer gets, and the status the order must be in to get each.
NOTICES: Mapping[str, Status] = {"OrderConfirmed": S.CONFIRMED, "OrderCancelled": S.CANCELLED}


def applies(order: SagaState, *allowed: Status) -> bool:
    """Whether a step meant for ``allowed`` statuses applies now.

    False when the order has moved past them: under at-least-once delivery a late or repeated
    event is a no-op, not a failed execution. ``StepNotApplicable`` when the order has not
    reached them yet, which the outbox (publish only what is stored) should make impossible.
    """
    if order.status in allowed:
        return True
    if order.status is not None and RANK[order.status] > max(RANK[s] for s in allowed):
        return False
    names = ", ".join(str(s) for s in allowed)
    raise StepNotApplicable(f"order {order.order_id} is {order.status}, expected {names}")


_MOVED_ON = {status: Step(duplicate=True, skipped=f"order is already {status}") for status in S}


def moved_on(order: SagaState) -> Step:
    """The step of a delivery that arrived after the order moved past it."""
    if order.status is None:
        return Step(duplicate=True, skipped="order is already None")
    return _MOVED_ON[order.status]


def _when(order: SagaState, allowed: tuple[Status, ...], then: Step) -> Step:
    """``then`` if the step applies now, else a no-op (see :func:`applies`)."""
    return then if applies(order, *allowed) else moved_on(order)


def notice_status(kind: str | None) -> Status:
    """The status an order must be in for a notice of ``kind``; ValidationFailed for a kind
    the pipeline does not send."""
    if kind is None or kind not in NOTICES:
        raise ValidationFailed(f"kind must be one of {sorted(NOTICES)}", field="kind")
    return NOTICES[kind]


# -- payment ----------------------------------------------------------------------------------


# The steps that go ahead, built once (a Step is immutable; the simulator decides millions).
AUTHORIZE = Step(("PaymentAuthorized",), Call.AUTHORIZE)
CAPTURE = Step(("PaymentCaptured",), Call.CAPTURE)
DECLINE = Step(("PaymentDeclined", "OrderCancelled"))
FAIL_PAYMENT = Step(("PaymentFailed", "OrderCancelled"), call_after=True)
FAIL_PAYMENT_AND_VOID = Step(("PaymentFailed", "OrderCancelled"), Call.VOID, call_after=True)
VOID = Step(call=Call.VOID, duplicate=True)
RECORD_COMPENSATION_FAILURE = Step(("CompensationFailed",), Call.ALERT)
RESERVE = Step(("InventoryReserved",), Call.RESERVE)
RECORD_RESERVED = Step(("InventoryReserved",))
RECORD_RESERVATION_FAILURE = Step(("InventoryReservationFailed",))
RELEASE = Step(("InventoryReleased",), Call.RELEASE)
SHIP = Step(("InventoryShipped",), Call.SHIP)
CREATE_LABEL = Step(("LabelCreated",), Call.CREATE_LABEL)
CONFIRM = Step(("OrderConfirmed",))
LABEL_VOIDED = Step(duplicate=True, skipped="label voided")
CANCEL_LABEL = Step(call=Call.CANCEL_LABEL)
CONFIRMED_LABEL_KEPT = Step(skipped="order is confirmed")
RECORD_LABEL_FAILURE = Step(("LabelFailed",), Call.CANCEL_LABEL, call_after=True)
FINISH_LABEL_VOID = Step(call=Call.CANCEL_LABEL, duplicate=True)
NOTIFY = Step(("CustomerNotified",), Call.NOTIFY)
REFUND = Step(("PaymentRefunded",), Call.REFUND)
REFUND_AND_CANCEL = Step(("PaymentRefunded", "OrderCancelled"), Call.REFUND)
CANCEL = Step(("OrderCancelled",))
NOTHING = Step()
# (money owed back, stock still held) -> the refund step: cancel once no stock is held.
_REFUNDS = {
    (True, True): REFUND,
    (True, False): REFUND_AND_CANCEL,
    (False, True): NOTHING,
    (False, False): CANCEL,
}


def authorize(order: SagaState, kind: str | None, facts: Facts) -> Step:
    if order.has("PaymentAuthorized"):
        return DUPLICATE
    return _when(order, (S.PLACED,), AUTHORIZE)


def capture(order: SagaState, kind: str | None, facts: Facts) -> Step:
    if order.has("PaymentCaptured"):
        return DUPLICATE
    return _when(order, (S.PAYMENT_AUTHORIZED,), CAPTURE)


def record_decline(order: SagaState, kind: str | None, facts: Facts) -> Step:
    """The gateway declined: cancel the order (nothing was charged)."""
    if order.has("PaymentDeclined") or order.status in TERMINAL:
        return DUPLICATE
    return DECLINE


def record_payment_failure(order: SagaState, kind: str | None, facts: Facts) -> Step:
    """Authorize or capture failed for good: cancel, then void what the gateway authorized.
    The cancellation's append comes first (see ``pipeline.handlers.payment``); a void cut
    short is finished by the next delivery."""
    authorized = order.has("PaymentAuthorized")
    if order.has("PaymentFailed"):
        return VOID if authorized else DUPLICATE
    if order.status in TERMINAL:
        return DUPLICATE
    cancel = FAIL_PAYMENT_AND_VOID if authorized else FAIL_PAYMENT
    return _when(order, (S.PLACED, S.PAYMENT_AUTHORIZED), cancel)


def refund(order: SagaState, kind: str | None, facts: Facts) -> Step:
    """Compensation: return the captured money and, once no stock is held, cancel."""
    if order.has("PaymentRefunded") or order.status == S.CANCELLED:
        return DUPLICATE
    return _when(order, (S.COMPENSATING,), _REFUNDS[order.refundable > 0, order.holds_stock])


def record_compensation_failure(order: SagaState, kind: str | None, facts: Facts) -> Step:
    """A compensation (refund, release) failed for good: alert operations, then record it
    (alerting first, so a crash re-alerts rather than never alerts)."""
    if order.has("CompensationFailed"):
        return DUPLICATE
    return _when(order, (S.COMPENSATING,), RECORD_COMPENSATION_FAILURE)


# -- inventory --------------------------------------------------------------------------------


def reserve(order: SagaState, kind: str | None, facts: Facts) -> Step:
    """Reserve every line in one transaction. A late delivery gives back a reservation the
    order never recorded (it moved on while this delivery's append lost the race), which
    would otherwise hold its stock forever."""
    if order.has("InventoryReserved"):
        return DUPLICATE
    if applies(order, S.PAYMENT_CAPTURED):
        return RESERVE
    if facts.reservation_held():
        return replace(moved_on(order), call=Call.RELEASE)
    return moved_on(order)


def record_reservation_failure(order: SagaState, kind: str | None, facts: Facts) -> Step:
    """Record why stock could not be reserved (the payment pipeline then refunds). If the
    inventory holds the reservation after all (its event never got stored), record that it
    was reserved instead, so the order is not refunded with its stock leaked."""
    if order.has("InventoryReservationFailed") or order.status != S.PAYMENT_CAPTURED:
        return DUPLICATE
    return RECORD_RESERVED if facts.reservation_held() else RECORD_RESERVATION_FAILURE


def release(order: SagaState, kind: str | None, facts: Facts) -> Step:
    """Compensation for a failed label: give the order's stock back exactly once."""
    if order.has("InventoryReleased"):
        return DUPLICATE
    if order.status != S.COMPENSATING or not order.holds_stock:
        raise StepNotApplicable(f"order {order.order_id} holds no stock to release")
    return RELEASE


def ship(order: SagaState, kind: str | None, facts: Facts) -> Step:
    """A confirmed order's reserved stock leaves the warehouse: reserved -> shipped, once."""
    if order.has("InventoryShipped"):
        return DUPLICATE
    if order.status != S.CONFIRMED or not order.has("InventoryReserved"):
        raise StepNotApplicable(f"order {order.order_id} is {order.status}, not shippable")
    return SHIP


# -- shipping ---------------------------------------------------------------------------------


def create_label(order: SagaState, kind: str | None, facts: Facts) -> Step:
    if order.has("LabelCreated"):
        return DUPLICATE
    return _when(order, (S.INVENTORY_RESERVED,), CREATE_LABEL)


def confirm(order: SagaState, kind: str | None, facts: Facts) -> Step:
    """Confirm the labelled order, unless another execution gave up on its confirmation and
    voided its label (its LabelFailed follows): a confirmation now would ship a void label."""
    if order.has("OrderConfirmed"):
        return DUPLICATE
    if not applies(order, S.LABEL_CREATED):
        return moved_on(order)
    return LABEL_VOIDED if facts.label_voided() else CONFIRM


def cancel_label(order: SagaState, kind: str | None, facts: Facts) -> Step:
    """Void the carrier label before the order is compensated (no event). Never for a
    confirmed order: a confirmation whose task timed out after it was stored (or a duplicate
    execution's) comes here through the Catch, and that order ships."""
    return CONFIRMED_LABEL_KEPT if order.has("OrderConfirmed") else CANCEL_LABEL


def record_label_failure(order: SagaState, kind: str | None, facts: Facts) -> Step:
    """No label: record it (which starts the compensation), then void any label the carrier
    made. Recorded first, conditional on the version, so a racing confirmation wins or loses
    cleanly; a void cut short is finished by the next delivery."""
    if order.has("LabelFailed"):
        return FINISH_LABEL_VOID
    return _when(order, (S.INVENTORY_RESERVED, S.LABEL_CREATED), RECORD_LABEL_FAILURE)


# -- notification -----------------------------------------------------------------------------


def notify(order: SagaState, kind: str | None, facts: Facts) -> Step:
    """Tell the customer once that the order ended as ``kind`` says."""
    status = notice_status(kind)
    if kind in order.notified:
        return DUPLICATE
    if order.status != status:
        raise StepNotApplicable(f"order {order.order_id} is {order.status}, not {kind}")
    return NOTIFY


Rule = Callable[[SagaState, str | None, Facts], Step]
# Every action of the step handlers, by the name the state machines' Tasks send.
RULES: Mapping[str, Rule] = {
    "authorize": authorize,
    "capture": capture,
    "record_decline": record_decline,
    "record_payment_failure": record_payment_failure,
    "refund": refund,
    "record_compensation_failure": record_compensation_failure,
    "reserve": reserve,
    "record_reservation_failure": record_reservation_failure,
    "release": release,
    "ship": ship,
    "create_label": create_label,
    "confirm": confirm,
    "cancel_label": cancel_label,
    "record_label_failure": record_label_failure,
    "notify": notify,
}


def decide(order: SagaState, action: str, kind: str | None = None, facts: Facts = NO_FACTS) -> Step:
    """The step ``action`` takes on ``order`` as it is now (``kind``: a notice's kind)."""
    rule = RULES.get(action)
    if rule is None:
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    return rule(order, kind, facts)
