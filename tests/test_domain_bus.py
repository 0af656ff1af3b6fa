"""The bus contract (``pipeline.domain.bus``): the source, the entry the stream processor
publishes, the envelope a rule's target receives, and pattern matching; and the remediation
policy (``pipeline.domain.remediation``) the DLQ handler and the simulator share."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from factories import CAUSE, make_factory

from pipeline.domain import bus
from pipeline.domain import events as ev
from pipeline.domain.order import Order
from pipeline.domain.remediation import RemediationPolicy, Remedy
from pipeline.template import Template
from pipeline.variants import VARIANTS


def placed() -> ev.Event:
    lines = (ev.OrderLine(sku="SKU-1", quantity=1, unit_price=Decimal("5.00")),)
    fields = {"lines": lines, "currency": "USD", "total": Decimal("5.00")}
    (event,) = make_factory().next(Order("o-1", customer_id="c"), [(ev.OrderPlaced, fields)], CAUSE)
    return event.sealed(None)


def test_an_event_is_published_under_the_source_with_its_type_as_detail_type():
    event = placed()
    entry = bus.put_entry(event, "orders")
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        bus.SOURCE,
        "OrderPlaced",
        "orders",
    )
    assert ev.parse_event(entry["Detail"]) == event and entry["Time"] == event.occurred_at
    assert set(bus.DETAIL_TYPES) == set(ev.EVENT_TYPE_NAMES)


def test_a_target_receives_the_published_entry_in_eventbridge_s_envelope():
    event = placed()
    delivered = bus.delivered(event)
    assert delivered["source"] == bus.SOURCE and delivered["detail-type"] == "OrderPlaced"
    assert ev.parse_event(delivered["detail"]) == event
    assert delivered["id"] == f"bus-{event.event_id}" and delivered["time"].endswith("Z")
    assert bus.received(bus.put_entry(event, "orders")) == bus.delivered(event, event_id="bus")
    json.dumps(delivered)  # a state machine's input: plain JSON


def test_patterns_match_as_eventbridge_does_for_the_forms_the_template_uses():
    event = {"source": bus.SOURCE, "detail-type": "OrderPlaced", "detail": {"kind": "OrderX"}}
    assert bus.matches({"source": [bus.SOURCE], "detail-type": ["OrderPlaced"]}, event)
    assert not bus.matches({"source": ["other"]}, event)
    assert not bus.matches({"account": ["1"]}, event)  # a field the event lacks
    assert bus.matches({"detail": {"kind": [{"prefix": "Order"}]}}, event)
    assert not bus.matches({"detail": {"kind": [{"prefix": "Label"}]}}, event)
    assert bus.matches({"detail-type": [{"anything-but": ["LabelCreated"]}]}, event)
    assert not bus.matches({"detail-type": [{"anything-but": "OrderPlaced"}]}, event)
    assert bus.matches({"detail": {"kind": [{"exists": True}]}}, event)
    assert not bus.matches({"detail": {"kind": ["OrderX"]}}, {**event, "detail": "flat"})


@pytest.mark.parametrize(
    ("variant", "placed_starts"),
    [("default", "OrderSagaStateMachine"), ("choreography", "PaymentStateMachine")],
)
def test_the_template_s_rules_select_the_contract_s_source_and_detail_types(variant, placed_starts):
    rules = Template.load(parameters=VARIANTS[variant]).rule_targets()
    assert rules
    for rule in rules:
        assert rule.pattern["source"] == [bus.SOURCE], rule.rule_id
        assert set(rule.pattern.get("detail-type", [])) <= set(bus.DETAIL_TYPES), rule.rule_id
    reached = {r.machine_id for r in bus.routes(rules, bus.delivered(placed()))}
    assert reached == {r.machine_id for r in bus.routes_of(rules, "OrderPlaced")}
    assert reached == {placed_starts}


@pytest.mark.parametrize(
    ("code", "attempts", "remedy"),
    [
        ("THROTTLING", 0, Remedy.REDRIVE),
        ("INTERNAL_ERROR", 2, Remedy.REDRIVE),
        ("THROTTLING", 3, Remedy.PARK),  # its attempts used up
        ("NO_PERMISSIONS", 0, Remedy.PARK),  # never transient
    ],
)
def test_transient_dead_letters_are_redriven_a_bounded_number_of_times(code, attempts, remedy):
    assert RemediationPolicy(max_attempts=3).for_dead_letter(code, attempts) is remedy


def test_a_redrive_whose_start_fails_is_requeued_with_backoff_parked_or_done():
    policy = RemediationPolicy()
    assert policy.for_start_error("ThrottlingException") is Remedy.REQUEUE
    assert policy.for_start_error("ExecutionAlreadyExists") is Remedy.DONE
    assert policy.for_start_error("AccessDeniedException") is Remedy.PARK
    assert [policy.requeue_delay(n) for n in range(7)] == [30, 60, 120, 240, 480, 900, 900]


def test_the_attempt_limit_comes_from_the_setting_else_the_default():
    assert RemediationPolicy.with_attempts(None) == RemediationPolicy()
    assert RemediationPolicy.with_attempts("") == RemediationPolicy()
    assert RemediationPolicy.with_attempts("5").max_attempts == 5
    parameter = Template.load().body["Parameters"]["MaxRedriveAttempts"]["Default"]
    assert RemediationPolicy().max_attempts == int(parameter)
