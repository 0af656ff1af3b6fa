"""The simulator's orders replay the saga's rules (``pipeline.domain.saga``): a SimOrder reads
as the Order of the same events, its dependency ledgers answer the rules' questions, and
``plan`` turns each decision into what a task does (or the error it fails with)."""

from __future__ import annotations

import pytest
from saga_orders import PATHS, Known, order_at

from pipeline.domain.errors import PipelineError
from pipeline.domain.order import Order
from pipeline.domain.saga import RULES, Call, decide
from pipeline.sim.orders import Plan, SimOrder, plan


def as_sim(order: Order) -> SimOrder:
    """The SimOrder of the same events (the engine keeps these fields as it appends)."""
    cents = lambda amount: int(amount * 100)  # noqa: E731
    lines = tuple((line.sku, line.quantity, cents(line.unit_price)) for line in order.lines)
    sim = SimOrder(1, 1, lines, cents(order.total), 0.0)
    sim.order_id = order.order_id
    sim.status, sim.version = order.status, order.version
    sim.applied, sim.notified = set(order.applied), set(order.notified)
    sim.captured, sim.refunded = cents(order.captured), cents(order.refunded)
    return sim


def outcome(order: Order | SimOrder, action: str, kind: str | None, facts: Known) -> object:
    try:
        return decide(order, action, kind, facts)
    except PipelineError as error:
        return (error.name, str(error))


ACTIONS = [(action, None) for action in RULES if action != "notify"] + [
    ("notify", "OrderConfirmed"),
    ("notify", "OrderCancelled"),
]


@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_sim_order_reads_as_the_order_of_the_same_events(path):
    order = order_at(path)
    sim = as_sim(order)
    assert (sim.holds_stock, sim.refundable) == (order.holds_stock, int(order.refundable * 100))
    for action, kind in ACTIONS:
        for facts in (Known(), Known(held=True, voided=True)):
            assert outcome(sim, action, kind, facts) == outcome(order, action, kind, facts), (
                action,
                kind,
            )


def test_the_dependency_ledgers_answer_the_rules_questions():
    sim = as_sim(order_at("reservation-failed"))
    assert plan(sim, "reserve").duplicate  # the inventory holds nothing for it
    sim.stock = "reserved"  # a reservation whose event was never stored
    assert plan(sim, "reserve") == Plan(call=Call.RELEASE)
    assert plan(as_sim(order_at("captured")), "record_reservation_failure").events == (
        "InventoryReservationFailed",
    )
    captured = as_sim(order_at("captured"))
    captured.stock = "reserved"
    assert plan(captured, "record_reservation_failure").events == ("InventoryReserved",)
    labelled = as_sim(order_at("labelled"))
    assert plan(labelled, "confirm").events == ("OrderConfirmed",)
    labelled.label_void = True
    assert plan(labelled, "confirm") == Plan(duplicate=True)


def test_a_plan_is_the_decision_with_the_store_s_refusal_and_the_task_s_error():
    # decided events the lifecycle forbids: the store refuses them after the call
    assert plan(as_sim(order_at("captured")), "record_decline") == Plan(error="InvalidTransition")
    assert plan(as_sim(order_at("placed")), "capture") == Plan(error="StepNotApplicable")
    assert plan(as_sim(order_at("confirmed")), "notify", "Nope") == Plan(error="ValidationFailed")
    assert plan(as_sim(order_at("placed")), "teleport") == Plan(error="ValidationFailed")
    assert plan(as_sim(order_at("authorized")), "authorize") == Plan(duplicate=True)
    # a no-op that still finishes a call is not a duplicate: the call is made
    assert plan(as_sim(order_at("authorized-failed")), "record_payment_failure") == Plan(
        call=Call.VOID
    )
    assert plan(as_sim(order_at("authorized")), "record_payment_failure") == Plan(
        ("PaymentFailed", "OrderCancelled"), Call.VOID, call_after=True
    )
    assert plan(as_sim(order_at("placed")), "authorize") == Plan(
        ("PaymentAuthorized",), Call.AUTHORIZE
    )
