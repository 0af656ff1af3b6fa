"""Orders as the simulator keeps them, and what each step handler's action does to one.

A :class:`SimOrder` is the order aggregate reduced to what the steps read (status, version,
the event types applied, money and stock held), cheap enough to keep 100,000 in flight. Its
status moves by the domain's transition table (``pipeline.domain.order.TRANSITIONS``), so an
event the lifecycle forbids fails here as it fails in the event store.

:func:`plan` is each action of the step handlers, decided on that state by the same rules the
handlers carry out (``pipeline.domain.saga``): the events it appends, the dependency it calls,
or the error it raises. The questions a rule asks of a dependency (does the inventory hold a
reservation, did the carrier void the label) are answered from the simulated dependencies'
ledgers kept on the order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.domain.errors import PipelineError
from pipeline.domain.order import TERMINAL, TRANSITIONS, Status
from pipeline.domain.saga import Step, decide


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
    label_void: bool = False  # the carrier voided the order's label
    reservation_error: str | None = None  # why the last reservation attempt failed
    last_hash: str | None = None
    last_event_id: str = ""
    in_flight: int = 0  # deliveries and executions still to come for this order
    poisoned: bool = False  # no handler can process its events (a poison message)
    failed_executions: int = 0  # each raised the ExecutionsFailed alarm: operations know
    ended_at: float | None = None
    # The last task error no Retry took (a Catch took it, or it failed the execution), and
    # what it was when the order reached CANCELLED: why the order was cancelled.
    last_error: str | None = None
    cancel_cause: str | None = None
    order_id: str = ""
    measures: dict[str, int] | None = None  # per-order counts for validation (PerOrder)

    def __post_init__(self) -> None:
        self.order_id = f"sim-{self.number:09d}"

    def measure(self, name: str) -> None:
        """Count one more of ``name`` for this order (a retry of a state, a dead letter)."""
        if self.measures is None:
            self.measures = {}
        self.measures[name] = self.measures.get(name, 0) + 1

    # What the saga's rules read (pipeline.domain.saga.SagaState), as Order has it.

    def has(self, event_type: str) -> bool:
        return event_type in self.applied

    @property
    def holds_stock(self) -> bool:
        """InventoryReserved recorded, and neither released nor shipped (Order.holds_stock)."""
        return "InventoryReserved" in self.applied and not (
            "InventoryReleased" in self.applied or "InventoryShipped" in self.applied
        )

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    # What the rules may ask the dependencies (pipeline.domain.saga.Facts), from their ledgers.

    def reservation_held(self) -> bool:
        return self.stock == "reserved"

    def label_voided(self) -> bool:
        return self.label_void


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


def plan(order: SimOrder, action: str, kind: str | None = None) -> Plan:
    """The step handlers' action ``action`` on ``order`` as it is now. Events the lifecycle
    forbids fail with InvalidTransition after the call, as the store refuses the append."""
    try:
        step = decide(order, action, kind, order)
    except PipelineError as error:
        return _refused(error.name)
    planned = _PLANS.get(step)
    if planned is None:
        nothing = not step.goes_ahead and step.call is None
        planned = _PLANS[step] = Plan(
            step.events, step.call, duplicate=nothing, call_after=step.call_after
        )
    if step.events and status_after(order, step.events) is None:
        return _refused("InvalidTransition", None if step.call_after else step.call)
    return planned


# The few distinct plans, made once each (plan runs for every task of every order).
_PLANS: dict[Step, Plan] = {}
_REFUSALS: dict[tuple[str, str | None], Plan] = {}


def _refused(error: str, call: str | None = None) -> Plan:
    refused = _REFUSALS.get((error, call))
    if refused is None:
        refused = _REFUSALS[error, call] = Plan(call=call, error=error)
    return refused


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
