"""The saga's step rules (``pipeline.domain.saga``): what each action decides on an order.

These rules are the one definition the step handlers carry out (their tests run them against
moto) and the simulator replays (``tests/sim/test_orders.py``); here they are checked on
orders folded from events, with the dependencies' answers (``Facts``) given.
"""

from __future__ import annotations

from typing import Any

import pytest
from saga_orders import Known, order_at

from pipeline.domain import saga
from pipeline.domain.errors import StepNotApplicable, ValidationFailed
from pipeline.domain.saga import Call, Step, decide
from pipeline.handlers import inventory, notification, payment, shipping
from pipeline.template import Template


def moved_on(path: str) -> Step:
    return Step(duplicate=True, skipped=f"order is already {order_at(path).status}")


# (action, the state it goes ahead on, one before it, one it recorded, one past it, ...)
FORWARD = [
    ("authorize", "placed", None, "authorized", "declined-cancelled", Call.AUTHORIZE),
    ("capture", "authorized", "placed", "captured", "declined-cancelled", Call.CAPTURE),
    ("reserve", "captured", "authorized", "reserved", "reservation-failed", Call.RESERVE),
    ("create_label", "reserved", "captured", "labelled", "label-failed", Call.CREATE_LABEL),
    ("confirm", "labelled", "reserved", "confirmed", "released", None),
]
EVENT = {
    "authorize": "PaymentAuthorized",
    "capture": "PaymentCaptured",
    "reserve": "InventoryReserved",
    "create_label": "LabelCreated",
    "confirm": "OrderConfirmed",
}


@pytest.mark.parametrize(("action", "on", "early", "done", "late", "call"), FORWARD)
def test_a_forward_step_goes_ahead_once_on_its_status_only(action, on, early, done, late, call):
    assert decide(order_at(on), action, facts=Known()) == Step((EVENT[action],), call)
    assert decide(order_at(done), action, facts=Known()) == saga.DUPLICATE
    assert decide(order_at(late), action, facts=Known()) == moved_on(late)
    if early is not None:
        with pytest.raises(StepNotApplicable, match="expected"):
            decide(order_at(early), action, facts=Known())


def test_a_payment_failure_cancels_first_then_voids_what_was_authorized():
    cancel = ("PaymentFailed", "OrderCancelled")
    assert decide(order_at("placed"), "record_payment_failure") == Step(cancel, call_after=True)
    assert decide(order_at("authorized"), "record_payment_failure") == Step(
        cancel, Call.VOID, call_after=True
    )
    # a repeated delivery finishes a void cut short; nothing to void without an authorization
    assert decide(order_at("authorized-failed"), "record_payment_failure") == saga.VOID
    assert saga.VOID.call == Call.VOID and not saga.VOID.goes_ahead
    assert decide(order_at("declined-cancelled"), "record_payment_failure") == saga.DUPLICATE
    assert decide(order_at("captured"), "record_payment_failure") == moved_on("captured")


def test_a_decline_cancels_unless_the_order_ended():
    assert decide(order_at("authorized"), "record_decline") == Step(
        ("PaymentDeclined", "OrderCancelled")
    )
    assert decide(order_at("confirmed"), "record_decline") == saga.DUPLICATE
    # on a captured order the store refuses the events (InvalidTransition): not restated here
    assert decide(order_at("captured"), "record_decline").events == (
        "PaymentDeclined",
        "OrderCancelled",
    )


@pytest.mark.parametrize(
    ("path", "events", "call"),
    [
        ("reservation-failed", ("PaymentRefunded", "OrderCancelled"), Call.REFUND),
        ("released", ("PaymentRefunded", "OrderCancelled"), Call.REFUND),
        ("label-failed", ("PaymentRefunded",), Call.REFUND),  # stock still held: no cancel
        ("declined", ("OrderCancelled",), None),  # nothing captured: nothing to refund
    ],
)
def test_a_refund_returns_what_was_captured_and_cancels_once_no_stock_is_held(path, events, call):
    assert decide(order_at(path), "refund") == Step(events, call)


def test_a_refund_is_done_once_and_waits_for_compensation():
    assert decide(order_at("refunded-cancelled"), "refund") == saga.DUPLICATE
    assert decide(order_at("declined-cancelled"), "refund") == saga.DUPLICATE
    assert decide(order_at("compensation-failed"), "refund") == moved_on("compensation-failed")
    for path in ("captured", "confirmed"):  # a confirmed order never compensates
        with pytest.raises(StepNotApplicable):
            decide(order_at(path), "refund")


def test_a_late_reservation_gives_back_stock_the_order_never_recorded():
    facts = Known(held=True)
    step = decide(order_at("reservation-failed"), "reserve", facts=facts)
    assert (step.call, step.skipped, step.events) == (
        Call.RELEASE,
        "order is already COMPENSATING",
        (),
    )
    assert decide(order_at("reservation-failed"), "reserve", facts=Known()) == moved_on(
        "reservation-failed"
    )
    recorded = Known(held=True)
    assert decide(order_at("reserved"), "reserve", facts=recorded) == saga.DUPLICATE
    assert decide(order_at("captured"), "reserve", facts=recorded) == saga.RESERVE
    assert recorded.asked == 0  # the inventory is asked only about a late delivery


def test_a_reservation_failure_with_the_stock_reserved_records_the_reservation():
    assert decide(order_at("captured"), "record_reservation_failure", facts=Known()) == Step(
        ("InventoryReservationFailed",)
    )
    held = Known(held=True)
    assert decide(order_at("captured"), "record_reservation_failure", facts=held) == Step(
        ("InventoryReserved",)
    )
    late = Known(held=True)
    for path in ("reserved", "reservation-failed"):
        assert decide(order_at(path), "record_reservation_failure", facts=late) == saga.DUPLICATE
    assert late.asked == 0


def test_stock_is_released_only_while_held_and_shipped_only_once_confirmed():
    assert decide(order_at("label-failed"), "release") == Step(("InventoryReleased",), Call.RELEASE)
    assert decide(order_at("released"), "release") == saga.DUPLICATE
    with pytest.raises(StepNotApplicable, match="holds no stock"):
        decide(order_at("reservation-failed"), "release")
    assert decide(order_at("confirmed"), "ship") == Step(("InventoryShipped",), Call.SHIP)
    assert decide(order_at("shipped"), "ship") == saga.DUPLICATE
    with pytest.raises(StepNotApplicable, match="not shippable"):
        decide(order_at("labelled"), "ship")


def test_a_confirmation_never_ships_a_voided_label():
    voided = Known(voided=True)
    assert decide(order_at("labelled"), "confirm", facts=voided) == saga.LABEL_VOIDED
    assert saga.LABEL_VOIDED.duplicate and saga.LABEL_VOIDED.skipped == "label voided"
    asked = Known(voided=True)
    decide(order_at("confirmed"), "confirm", facts=asked)
    assert asked.asked == 0


def test_labels_are_voided_after_a_failure_is_recorded_and_never_for_a_confirmed_order():
    failed = decide(order_at("reserved"), "record_label_failure")
    assert failed == Step(("LabelFailed",), Call.CANCEL_LABEL, call_after=True)
    assert decide(order_at("labelled"), "record_label_failure") == failed
    assert decide(order_at("label-failed"), "record_label_failure") == Step(
        call=Call.CANCEL_LABEL, duplicate=True
    )
    assert decide(order_at("confirmed"), "record_label_failure") == moved_on("confirmed")
    assert decide(order_at("label-failed"), "cancel_label") == Step(call=Call.CANCEL_LABEL)
    kept = decide(order_at("confirmed"), "cancel_label")
    assert kept == Step(skipped="order is confirmed") and kept.call is None


def test_a_compensation_failure_alerts_then_records_once():
    assert decide(order_at("reservation-failed"), "record_compensation_failure") == Step(
        ("CompensationFailed",), Call.ALERT
    )
    assert decide(order_at("compensation-failed"), "record_compensation_failure") == (
        saga.DUPLICATE
    )
    late = decide(order_at("refunded-cancelled"), "record_compensation_failure")
    assert late == moved_on("refunded-cancelled")


def test_a_customer_is_notified_once_of_how_the_order_ended():
    assert decide(order_at("confirmed"), "notify", "OrderConfirmed") == saga.NOTIFY
    assert decide(order_at("notified"), "notify", "OrderConfirmed") == saga.DUPLICATE
    assert decide(order_at("declined-cancelled"), "notify", "OrderCancelled") == saga.NOTIFY
    with pytest.raises(StepNotApplicable, match="not OrderCancelled"):
        decide(order_at("confirmed"), "notify", "OrderCancelled")
    for kind in (None, "OrderPlaced"):
        with pytest.raises(ValidationFailed) as refused:
            decide(order_at("confirmed"), "notify", kind)
        assert refused.value.field == "kind"


def test_an_unknown_action_is_refused_naming_the_field():
    with pytest.raises(ValidationFailed) as refused:
        decide(order_at("placed"), "teleport")
    assert refused.value.field == "action"


def test_the_rules_are_the_handlers_actions_and_the_state_machines_tasks():
    handled = set()
    for module in (payment, inventory, shipping, notification):
        handled |= set(module.ACTIONS)
    assert handled == set(saga.RULES)
    template = Template.load()
    asked = set()
    for machine, _ in template.of_type("AWS::Serverless::StateMachine"):
        asked |= _actions(template.state_machine_definition(machine))
    assert asked == set(saga.RULES)


def _actions(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["action"]} if isinstance(node.get("action"), str) else set()
        for value in node.values():
            found |= _actions(value)
        return found
    if isinstance(node, list):
        return set().union(*(_actions(value) for value in node)) if node else set()
    return set()
