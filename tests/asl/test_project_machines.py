"""The project's own state machines under the interpreter: routes, retries, compensations."""

from __future__ import annotations

import functools
import json

import pytest

from pipeline.asl import TaskFailed, execute
from pipeline.domain import bus
from pipeline.template import Template
from pipeline.variants import VARIANTS

ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


@functools.cache
def template(variant: str) -> Template:
    return Template.load(parameters=VARIANTS[variant])


def load(machine_id: str, variant: str = "choreography") -> tuple[dict, list[str]]:
    """The machine's definition with each function's ARN substituted, and those ARNs; the
    four pipelines are the choreography's, the order saga the (default) orchestration's."""
    definition = template(variant).state_machine_definition(machine_id)
    text, resources = json.dumps(definition), []
    for key in template(variant).properties(machine_id)["DefinitionSubstitutions"]:
        resources.append(ARN.format(key))
        text = text.replace("${" + key + "}", resources[-1])
    return json.loads(text), resources


def envelope(detail_type: str) -> dict:
    return {
        "detail-type": detail_type,
        "source": bus.SOURCE,
        "detail": {"order_id": "o-1", "event_id": "e-1", "correlation_id": "c-1"},
    }


class Handler:
    """Records the actions a machine asks for; fails chosen actions with chosen errors."""

    def __init__(self, failures: dict[str, list[str]] | None = None) -> None:
        self.failures = {k: list(v) for k, v in (failures or {}).items()}
        self.actions: list[str] = []

    def __call__(self, payload: dict) -> dict:
        action = payload["action"]
        self.actions.append(action)
        queue = self.failures.get(action)
        if queue:
            error = queue.pop(0) if len(queue) > 1 else queue[0]
            raise TaskFailed(error, f"{action} failed")
        return {"ok": action}


def run(machine_id: str, detail_type: str, handler: Handler, variant: str = "choreography"):
    definition, resources = load(machine_id, variant)
    return execute(definition, envelope(detail_type), dict.fromkeys(resources, handler))


def test_payment_happy_path_authorizes_then_captures():
    handler = Handler()
    result = run("PaymentStateMachine", "OrderPlaced", handler)
    assert (result.status, handler.actions) == ("SUCCEEDED", ["authorize", "capture"])


def test_payment_decline_is_recorded_and_not_retried():
    handler = Handler({"authorize": ["PaymentDeclined"]})
    result = run("PaymentStateMachine", "OrderPlaced", handler)
    assert (result.status, handler.actions) == ("SUCCEEDED", ["authorize", "record_decline"])


def test_payment_gateway_outage_retries_then_records_the_failure():
    handler = Handler({"authorize": ["GatewayUnavailable"]})
    result = run("PaymentStateMachine", "OrderPlaced", handler)
    assert result.status == "FAILED" and result.error == "PaymentFailed"
    assert handler.actions == ["authorize"] * 5 + ["record_payment_failure"]


def test_refund_runs_for_both_compensation_triggers():
    for trigger in ("InventoryReservationFailed", "InventoryReleased"):
        handler = Handler()
        assert run("PaymentStateMachine", trigger, handler).status == "SUCCEEDED"
        assert handler.actions == ["refund"]


def test_a_refund_that_keeps_failing_is_recorded_and_fails_visibly():
    handler = Handler({"refund": ["GatewayUnavailable"]})
    result = run("PaymentStateMachine", "InventoryReservationFailed", handler)
    assert (result.status, result.error) == ("FAILED", "CompensationFailed")
    assert handler.actions[-1] == "record_compensation_failure"
    assert handler.actions.count("refund") == 7  # the first try and 6 retries
    assert (result.stop - result.start).total_seconds() <= 1 + 2 + 4 + 8 + 16 + 32 * 2


def test_out_of_stock_is_a_business_outcome_not_a_failure():
    handler = Handler({"reserve": ["OutOfStock"]})
    result = run("InventoryStateMachine", "PaymentCaptured", handler)
    assert (result.status, handler.actions) == (
        "SUCCEEDED",
        ["reserve", "record_reservation_failure"],
    )


def test_carrier_outage_retries_five_times_then_records_the_label_failure():
    handler = Handler({"create_label": ["CarrierUnavailable"]})
    result = run("ShippingStateMachine", "InventoryReserved", handler)
    assert (result.status, result.error) == ("FAILED", "LabelFailed")
    assert handler.actions == ["create_label"] * 6 + ["record_label_failure"]


def test_unknown_event_types_fail_visibly():
    result = run("PaymentStateMachine", "LabelCreated", Handler())
    assert (result.status, result.error) == ("FAILED", "UnexpectedEvent")


@pytest.mark.parametrize(
    ("machine_id", "variant"),
    [
        ("PaymentStateMachine", "choreography"),
        ("InventoryStateMachine", "choreography"),
        ("ShippingStateMachine", "choreography"),
        ("NotificationStateMachine", "choreography"),
        ("OrderSagaStateMachine", "default"),
    ],
)
def test_a_failure_recording_that_fails_still_ends_in_a_failed_execution(machine_id, variant):
    everything_fails = Handler(
        {
            a: ["StoreUnavailable"]
            for a in (
                "authorize",
                "capture",
                "record_decline",
                "record_payment_failure",
                "refund",
                "record_compensation_failure",
                "reserve",
                "record_reservation_failure",
                "release",
                "create_label",
                "confirm",
                "cancel_label",
                "record_label_failure",
                "notify",
                "ship",
            )
        }
    )
    first = {
        "PaymentStateMachine": "OrderPlaced",
        "InventoryStateMachine": "PaymentCaptured",
        "ShippingStateMachine": "InventoryReserved",
        "NotificationStateMachine": "OrderConfirmed",
        "OrderSagaStateMachine": "OrderPlaced",
    }[machine_id]
    result = run(machine_id, first, everything_fails, variant)
    assert result.status == "FAILED"


# -- the orchestrated saga (the default, Coordination=orchestration) ---------------------------


def test_the_order_saga_calls_every_step_in_turn():
    handler = Handler()
    result = run("OrderSagaStateMachine", "OrderPlaced", handler, "default")
    assert (result.status, handler.actions) == (
        "SUCCEEDED",
        ["authorize", "capture", "reserve", "create_label", "confirm", "notify", "ship"],
    )


@pytest.mark.parametrize(
    ("failures", "status", "actions"),
    [
        pytest.param(  # as the payment pipeline: the first try and 4 retries
            {"authorize": ["GatewayUnavailable"]},
            ("SUCCEEDED", None),
            ["authorize"] * 5 + ["record_payment_failure", "notify"],
            id="gateway-outage",
        ),
        pytest.param(  # as the shipping pipeline: the first try and 5 retries, then undone
            {"create_label": ["CarrierUnavailable"]},
            ("SUCCEEDED", None),
            ["authorize", "capture", "reserve"]
            + ["create_label"] * 6
            + ["record_label_failure", "release", "refund", "notify"],
            id="carrier-outage",
        ),
        pytest.param(  # as the payment pipeline's refund: the first try and 6 retries
            {"reserve": ["OutOfStock"], "refund": ["GatewayUnavailable"]},
            ("FAILED", "CompensationFailed"),
            ["authorize", "capture", "reserve", "record_reservation_failure"]
            + ["refund"] * 7
            + ["record_compensation_failure"],
            id="refund-keeps-failing",
        ),
    ],
)
def test_the_order_saga_retries_and_compensates_as_the_pipelines_do(failures, status, actions):
    handler = Handler(failures)
    result = run("OrderSagaStateMachine", "OrderPlaced", handler, "default")
    assert ((result.status, result.error), handler.actions) == (status, actions)
