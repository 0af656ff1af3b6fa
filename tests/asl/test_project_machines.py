"""The project's own state machines under the interpreter: routes, retries, compensations."""

from __future__ import annotations

import json

import pytest

from pipeline.asl import TaskFailed, execute
from pipeline.domain import bus
from pipeline.template import Template

ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


def load(machine_id: str) -> tuple[dict, str]:
    template = Template.load()
    definition = template.state_machine_definition(machine_id)
    (key,) = template.properties(machine_id)["DefinitionSubstitutions"]
    resource = ARN.format(key)
    text = json.dumps(definition).replace("${" + key + "}", resource)
    return json.loads(text), resource


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


def run(machine_id: str, detail_type: str, handler: Handler):
    definition, resource = load(machine_id)
    return execute(definition, envelope(detail_type), {resource: handler})


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
    "machine_id",
    [
        "PaymentStateMachine",
        "InventoryStateMachine",
        "ShippingStateMachine",
        "NotificationStateMachine",
    ],
)
def test_a_failure_recording_that_fails_still_ends_in_a_failed_execution(machine_id):
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
            )
        }
    )
    first = {
        "PaymentStateMachine": "OrderPlaced",
        "InventoryStateMachine": "PaymentCaptured",
        "ShippingStateMachine": "InventoryReserved",
        "NotificationStateMachine": "OrderConfirmed",
    }[machine_id]
    result = run(machine_id, first, everything_fails)
    assert result.status == "FAILED"
