"""Orders as the simulator keeps them, and what each step handler's action does to one.

A :class:`SimOrder` is the order aggregate reduced to what the steps read (status, version,
the event types applied, money and stock held), cheap enough to keep 100,000 in flight. Its
status moves by the domain's transition table (``pipeline.domain.order.TRANSITIONS``), so an
event the lifecycle forbids fails here as it fails in the event store.

:func:`plan` is each action of the step handlers (``pipeline.handlers``), decided on that
state: the events it appends, the dependency it calls, or the error it raises. Its guards are
the handlers' own (``applies``, the notification kinds); ``tests/sim/test_orders.py`` runs
every action on every status through the real handlers and checks that they agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.domain.errors import StepNotApplicable
from pipeline.domain.order import TERMINAL, TRANSITIONS, Status
from pipeline.handlers.notification import KINDS
from pipeline.handlers.step_request import applies

S = Status


@dataclass(slots=True)
class SimOrder:
    number: int
    customer: int
    lines: tuple[tuple[str, int, int], ...]  # (sku, quantity, unit price in cents)
    total: int  # cents
    placed_at: float
    status: Status | None = None
    version: int = 0
    applied: set[str] = field(default_factory=set)
    notified: set[str] = field(default_factory=set)
    # What the dependencies hold for this order (their ledgers, idempotent per order).
    authorized: bool = False
    voided: bool = False
    captured: int = 0  # recorded by PaymentCaptured
    refunded: int = 0  # recorded by PaymentRefunded
    gateway_captured: int = 0  # what the gateway charged (a capture whose event was lost too)
    gateway_refunded: int = 0
    stock: str = "none"  # none, reserved, released, shipped (the inventory table's record)
    declined: bool = False  # the gateway's recorded answer to this order's authorization
    reservation_error: str | None = None  # why the last reservation attempt failed
    last_hash: str | None = None
    last_event_id: str = ""
    in_flight: int = 0  # deliveries and executions still to come for this order
    poisoned: bool = False  # no handler can process its events (a poison message)
    failed_executions: int = 0  # each raised the ExecutionsFailed alarm: operations know
    ended_at: float | None = None
    order_id: str = ""
    measures: dict[str, int] | None = None  # per-order counts for validation (PerOrder)

    def __post_init__(self) -> None:
        self.order_id = f"sim-{self.number:09d}"

    def measure(self, name: str) -> None:
        """Count one more of ``name`` for this order (a retry of a state, a dead letter)."""
        if self.measures is None:
            self.measures = {}
        self.measures[name] = self.measures.get(name, 0) + 1

    @property
    def reservation_held(self) -> bool:
        """InventoryReserved recorded, and neither released nor shipped (Order.holds_stock)."""
        return "InventoryReserved" in self.applied and not (
            "InventoryReleased" in self.applied or "InventoryShipped" in self.applied
        )

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True, slots=True)
class Plan:
    """What an action does: append ``events`` after calling ``call`` (None: no dependency;
    ``call_after``: the call follows the append), or fail with ``error``; ``duplicate`` when
    it finds its work done (nothing happens)."""

    events: tuple[str, ...] = ()
    call: str | None = None
    error: str | None = None
    duplicate: bool = False
    call_after: bool = False


DUPLICATE = Plan(duplicate=True)
NOT_APPLICABLE = Plan(error="StepNotApplicable")


def _guarded(order: SimOrder, allowed: tuple[Status, ...], then: Plan) -> Plan:
    """``then`` if the step applies now (the handlers' own ``applies``), a no-op if the order
    moved past it, StepNotApplicable if it has not got there yet."""
    if order.status in allowed:
        return then
    try:
        return DUPLICATE if not applies(order, *allowed) else then  # type: ignore[arg-type]
    except StepNotApplicable:
        return NOT_APPLICABLE


def plan(order: SimOrder, action: str, kind: str | None = None) -> Plan:
    """The step handlers' action ``action`` on ``order`` as it is now. Events the lifecycle
    forbids fail with InvalidTransition after the call, as the store refuses the append."""
    decided = _plan(order, action, kind)
    if decided.events and status_after(order, decided.events) is None:
        return Plan(call=None if decided.call_after else decided.call, error="InvalidTransition")
    return decided


def _plan(order: SimOrder, action: str, kind: str | None) -> Plan:
    has = order.applied.__contains__
    if action == "authorize":
        if has("PaymentAuthorized"):
            return DUPLICATE
        return _guarded(order, (S.PLACED,), Plan(("PaymentAuthorized",), "gateway.authorize"))
    if action == "capture":
        if has("PaymentCaptured"):
            return DUPLICATE
        return _guarded(
            order, (S.PAYMENT_AUTHORIZED,), Plan(("PaymentCaptured",), "gateway.capture")
        )
    if action == "record_decline":
        if has("PaymentDeclined") or order.is_terminal:
            return DUPLICATE
        return Plan(("PaymentDeclined", "OrderCancelled"))
    if action == "record_payment_failure":
        void = "gateway.void" if order.authorized else None
        if has("PaymentFailed"):
            return Plan((), void, duplicate=void is None)  # finish a void cut short
        if order.is_terminal:
            return DUPLICATE
        return _guarded(
            order,
            (S.PLACED, S.PAYMENT_AUTHORIZED),
            Plan(("PaymentFailed", "OrderCancelled"), void, call_after=True),
        )
    if action == "refund":
        if has("PaymentRefunded") or order.status == S.CANCELLED:
            return DUPLICATE
        events = ("PaymentRefunded",) if order.captured > order.refunded else ()
        if not order.reservation_held:
            events += ("OrderCancelled",)
        call = "gateway.refund" if events and events[0] == "PaymentRefunded" else None
        return _guarded(order, (S.COMPENSATING,), Plan(events, call))
    if action == "record_compensation_failure":
        if has("CompensationFailed"):
            return DUPLICATE
        return _guarded(order, (S.COMPENSATING,), Plan(("CompensationFailed",), "alerts"))
    if action == "reserve":
        if has("InventoryReserved"):
            return DUPLICATE
        return _guarded(
            order, (S.PAYMENT_CAPTURED,), Plan(("InventoryReserved",), "inventory.reserve")
        )
    if action == "record_reservation_failure":
        if has("InventoryReservationFailed") or order.status != S.PAYMENT_CAPTURED:
            return DUPLICATE
        return Plan(("InventoryReservationFailed",))
    if action == "release":
        if has("InventoryReleased"):
            return DUPLICATE
        if order.status != S.COMPENSATING or not order.reservation_held:
            return NOT_APPLICABLE
        return Plan(("InventoryReleased",), "inventory.release")
    if action == "ship":
        if has("InventoryShipped"):
            return DUPLICATE
        if order.status != S.CONFIRMED or not has("InventoryReserved"):
            return NOT_APPLICABLE
        return Plan(("InventoryShipped",), "inventory.ship")
    if action == "create_label":
        if has("LabelCreated"):
            return DUPLICATE
        return _guarded(
            order, (S.INVENTORY_RESERVED,), Plan(("LabelCreated",), "carrier.create_label")
        )
    if action == "confirm":
        if has("OrderConfirmed"):
            return DUPLICATE
        return _guarded(order, (S.LABEL_CREATED,), Plan(("OrderConfirmed",)))
    if action == "cancel_label":
        return Plan((), "carrier.cancel_label")
    if action == "record_label_failure":
        if has("LabelFailed"):
            return DUPLICATE
        return _guarded(order, (S.INVENTORY_RESERVED, S.LABEL_CREATED), Plan(("LabelFailed",)))
    if action == "notify":
        if kind not in KINDS:
            return Plan(error="ValidationFailed")
        if kind in order.notified:
            return DUPLICATE
        if order.status != KINDS[kind]:
            return NOT_APPLICABLE
        return Plan(("CustomerNotified",), "notifier.send")
    return Plan(error="ValidationFailed")


# The compensation each handler's record_compensation_failure names (its ``step``).
COMPENSATION_STEP = {"PaymentFunction": "refund", "InventoryFunction": "release"}


def status_after(order: SimOrder, events: tuple[str, ...]) -> Status | None:
    """The status after appending ``events``, or None if the lifecycle forbids one of them
    (the store raises InvalidTransition and appends nothing)."""
    status = order.status
    for event in events:
        after = TRANSITIONS.get((status, event))
        if after is None:
            return None
        status = after
    return status
