"""One 10-state payment machine written twice, in JSONPath and in JSONata, with the in-process
resources and EventBridge events that drive it: the benchmark in ``benchmarks/asl.py`` times
both, and ``tests/asl/test_jsonata_benchmark_machines.py`` holds them to the same outputs.

The machine is shaped like ``infra/statemachines/payment.asl.json``: a Choice routes on the
event's detail-type; Authorize, then a Choice on the gateway's decision, then Capture and
Publish; a decline goes through a Pass; inventory failures are refunded; every Task retries
with exponential backoff and full jitter and is caught to a compensation (void) step that ends
in a Fail. States: Route, Authorize, Decision, Capture, Publish, Declined, Refund, Compensate,
Done, Failed.

The JSONPath version carries the event along and adds results to it (Parameters with ``.$``
keys, ResultSelector, ResultPath, InputPath, OutputPath, intrinsic functions); the JSONata
version keeps what later states need in variables (``Assign``) and builds payloads and outputs
with expressions (``Arguments``, ``Output``, ``Condition``), as each language is meant to be
written.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.asl import TaskFailed
from pipeline.domain import bus

PAYMENT = "arn:aws:lambda:us-east-1:123456789012:function:bench-payment"
EVENTS = "arn:aws:lambda:us-east-1:123456789012:function:bench-events"

# The gateway declines above this amount, and scores a "risky-" customer's order 95 (>= 90 is
# declined by the machine's Decision state).
DECLINE_ABOVE = 5_000
RISKY_PREFIX = "risky-"

_TRANSIENT = ["GatewayUnavailable", "Lambda.ServiceException", "Lambda.TooManyRequestsException"]


def _retry(errors: Sequence[str], attempts: int = 3) -> list[dict[str, Any]]:
    return [
        {
            "ErrorEquals": list(errors),
            "IntervalSeconds": 1,
            "MaxAttempts": attempts,
            "BackoffRate": 2.0,
            "MaxDelaySeconds": 20,
            "JitterStrategy": "FULL",
        }
    ]


def _catch_to(state: str) -> list[dict[str, Any]]:
    """JSONPath: any error, caught under ``$.error`` of the state's input."""
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": state}]


FAIL_ERROR = "PaymentFailed"

JSONPATH_MACHINE: dict[str, Any] = {
    "Comment": "Benchmark payment machine, JSONPath: the event travels, results are added to it.",
    "StartAt": "Route",
    "States": {
        "Route": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.detail-type", "StringEquals": "OrderPlaced"},
                        {"Variable": "$.detail.amount", "NumericGreaterThan": 0},
                    ],
                    "Next": "Authorize",
                },
                {
                    "Or": [
                        {"Variable": "$.detail-type", "StringEquals": "InventoryReservationFailed"},
                        {"Variable": "$.detail-type", "StringEquals": "InventoryReleased"},
                    ],
                    "Next": "Refund",
                },
            ],
            "Default": "Failed",
        },
        "Authorize": {
            "Type": "Task",
            "Resource": PAYMENT,
            "Parameters": {
                "action": "authorize",
                "order_id.$": "$.detail.order_id",
                "customer_id.$": "$.detail.customer_id",
                "amount.$": "$.detail.amount",
                "currency.$": "$.detail.currency",
                "line_count.$": "States.ArrayLength($.detail.lines)",
                "idempotency_key.$": "States.Format('{}:{}', $.detail.order_id, $.detail.event_id)",
                "correlation_id.$": "$.detail.correlation_id",
            },
            "ResultSelector": {
                "payment_id.$": "$.payment_id",
                "status.$": "$.status",
                "risk.$": "$.risk_score",
                "reason.$": "$.reason",
            },
            "ResultPath": "$.payment",
            "TimeoutSeconds": 30,
            "Retry": _retry(_TRANSIENT),
            "Catch": _catch_to("Compensate"),
            "Next": "Decision",
        },
        "Decision": {
            "Type": "Choice",
            "Choices": [
                {
                    "Or": [
                        {"Variable": "$.payment.status", "StringEquals": "DECLINED"},
                        {"Variable": "$.payment.risk", "NumericGreaterThanEquals": 90},
                    ],
                    "Next": "Declined",
                }
            ],
            "Default": "Capture",
        },
        "Capture": {
            "Type": "Task",
            "Resource": PAYMENT,
            "Parameters": {
                "action": "capture",
                "order_id.$": "$.detail.order_id",
                "payment_id.$": "$.payment.payment_id",
                "amount.$": "$.detail.amount",
                "idempotency_key.$": "States.Format('{}:capture', $.payment.payment_id)",
            },
            "ResultSelector": {"capture_id.$": "$.capture_id", "amount.$": "$.amount"},
            "ResultPath": "$.capture",
            "TimeoutSeconds": 30,
            "Retry": _retry(_TRANSIENT),
            "Catch": _catch_to("Compensate"),
            "Next": "Publish",
        },
        "Publish": {
            "Type": "Task",
            "Resource": EVENTS,
            "Parameters": {
                "detail-type": "PaymentCaptured",
                "order_id.$": "$.detail.order_id",
                "payment_id.$": "$.payment.payment_id",
                "capture_id.$": "$.capture.capture_id",
                "amount.$": "$.capture.amount",
                "causation_id.$": "$.detail.event_id",
                "correlation_id.$": "$.detail.correlation_id",
            },
            "ResultSelector": {
                "order_id.$": "$.detail.order_id",
                "outcome": "captured",
                "payment_id.$": "$.detail.payment_id",
                "amount.$": "$.detail.amount",
                "event_id.$": "$.event_id",
            },
            "ResultPath": "$.outcome",
            "TimeoutSeconds": 30,
            "Retry": _retry(["StoreUnavailable", *_TRANSIENT]),
            "Catch": _catch_to("Compensate"),
            "Next": "Done",
        },
        "Declined": {
            "Type": "Pass",
            "Parameters": {
                "order_id.$": "$.detail.order_id",
                "outcome": "declined",
                "payment_id.$": "$.payment.payment_id",
                "reason.$": "$.payment.reason",
            },
            "ResultPath": "$.outcome",
            "Next": "Done",
        },
        "Refund": {
            "Type": "Task",
            "Resource": PAYMENT,
            "InputPath": "$.detail",
            "Parameters": {
                "action": "refund",
                "order_id.$": "$.order_id",
                "amount.$": "$.amount",
                "currency.$": "$.currency",
                "idempotency_key.$": "States.Format('{}:refund:{}', $.order_id, $.event_id)",
            },
            "ResultSelector": {
                "order_id.$": "$.order_id",
                "outcome": "refunded",
                "refund_id.$": "$.refund_id",
                "amount.$": "$.amount",
            },
            "ResultPath": "$.outcome",
            "TimeoutSeconds": 30,
            "Retry": _retry(_TRANSIENT, attempts=6),
            "Catch": _catch_to("Failed"),
            "Next": "Done",
        },
        "Compensate": {
            "Type": "Task",
            "Resource": PAYMENT,
            "Parameters": {
                "action": "void",
                "order_id.$": "$.detail.order_id",
                "error.$": "$.error.Error",
                "cause.$": "$.error.Cause",
            },
            "ResultPath": "$.compensation",
            "TimeoutSeconds": 30,
            "Retry": _retry(_TRANSIENT, attempts=6),
            "Next": "Failed",
        },
        "Done": {"Type": "Succeed", "OutputPath": "$.outcome"},
        "Failed": {
            "Type": "Fail",
            "Error": FAIL_ERROR,
            "CausePath": (
                "States.Format('payment pipeline stopped for order {} ({})', "
                "$.detail.order_id, $.detail-type)"
            ),
        },
    },
}

# What every later state reads, whichever way Route goes: a matching rule's Assign applies, not
# the state's (that one goes with the Default), so each carries it.
_ROUTE_ASSIGN = {
    "order_id": "{% $states.input.detail.order_id %}",
    "detail_type": "{% $states.input.`detail-type` %}",
    "detail": "{% $states.input.detail %}",
}
_CAUGHT = "{% {'error': $states.errorOutput.Error, 'cause': $states.errorOutput.Cause} %}"

JSONATA_MACHINE: dict[str, Any] = {
    "Comment": "Benchmark payment machine, JSONata: variables carry what later states need.",
    "QueryLanguage": "JSONata",
    "StartAt": "Route",
    "States": {
        "Route": {
            "Type": "Choice",
            "Choices": [
                {
                    "Condition": (
                        "{% $states.input.`detail-type` = 'OrderPlaced' "
                        "and $states.input.detail.amount > 0 %}"
                    ),
                    "Assign": _ROUTE_ASSIGN,
                    "Next": "Authorize",
                },
                {
                    "Condition": (
                        "{% $states.input.`detail-type` in "
                        "['InventoryReservationFailed', 'InventoryReleased'] %}"
                    ),
                    "Assign": _ROUTE_ASSIGN,
                    "Next": "Refund",
                },
            ],
            "Assign": _ROUTE_ASSIGN,  # a Choice's own Assign applies when no rule matched
            "Default": "Failed",
        },
        "Authorize": {
            "Type": "Task",
            "Resource": PAYMENT,
            "Arguments": {
                "action": "authorize",
                "order_id": "{% $order_id %}",
                "customer_id": "{% $detail.customer_id %}",
                "amount": "{% $detail.amount %}",
                "currency": "{% $detail.currency %}",
                "line_count": "{% $count($detail.lines) %}",
                "idempotency_key": "{% $order_id & ':' & $detail.event_id %}",
                "correlation_id": "{% $detail.correlation_id %}",
            },
            "Assign": {
                "payment": (
                    "{% {'payment_id': $states.result.payment_id, "
                    "'status': $states.result.status, "
                    "'risk': $states.result.risk_score, "
                    "'reason': $states.result.reason} %}"
                )
            },
            "TimeoutSeconds": 30,
            "Retry": _retry(_TRANSIENT),
            "Catch": [{"ErrorEquals": ["States.ALL"], "Output": _CAUGHT, "Next": "Compensate"}],
            "Next": "Decision",
        },
        "Decision": {
            "Type": "Choice",
            "Choices": [
                {
                    "Condition": "{% $payment.status = 'DECLINED' or $payment.risk >= 90 %}",
                    "Next": "Declined",
                }
            ],
            "Default": "Capture",
        },
        "Capture": {
            "Type": "Task",
            "Resource": PAYMENT,
            "Arguments": {
                "action": "capture",
                "order_id": "{% $order_id %}",
                "payment_id": "{% $payment.payment_id %}",
                "amount": "{% $detail.amount %}",
                "idempotency_key": "{% $payment.payment_id & ':capture' %}",
            },
            "Assign": {
                "capture": (
                    "{% {'capture_id': $states.result.capture_id, "
                    "'amount': $states.result.amount} %}"
                )
            },
            "TimeoutSeconds": 30,
            "Retry": _retry(_TRANSIENT),
            "Catch": [{"ErrorEquals": ["States.ALL"], "Output": _CAUGHT, "Next": "Compensate"}],
            "Next": "Publish",
        },
        "Publish": {
            "Type": "Task",
            "Resource": EVENTS,
            "Arguments": {
                "detail-type": "PaymentCaptured",
                "order_id": "{% $order_id %}",
                "payment_id": "{% $payment.payment_id %}",
                "capture_id": "{% $capture.capture_id %}",
                "amount": "{% $capture.amount %}",
                "causation_id": "{% $detail.event_id %}",
                "correlation_id": "{% $detail.correlation_id %}",
            },
            "Output": (
                "{% {'order_id': $states.result.detail.order_id, 'outcome': 'captured', "
                "'payment_id': $states.result.detail.payment_id, "
                "'amount': $states.result.detail.amount, "
                "'event_id': $states.result.event_id} %}"
            ),
            "TimeoutSeconds": 30,
            "Retry": _retry(["StoreUnavailable", *_TRANSIENT]),
            "Catch": [{"ErrorEquals": ["States.ALL"], "Output": _CAUGHT, "Next": "Compensate"}],
            "Next": "Done",
        },
        "Declined": {
            "Type": "Pass",
            "Output": {
                "order_id": "{% $order_id %}",
                "outcome": "declined",
                "payment_id": "{% $payment.payment_id %}",
                "reason": "{% $payment.reason %}",
            },
            "Next": "Done",
        },
        "Refund": {
            "Type": "Task",
            "Resource": PAYMENT,
            "Arguments": {
                "action": "refund",
                "order_id": "{% $order_id %}",
                "amount": "{% $detail.amount %}",
                "currency": "{% $detail.currency %}",
                "idempotency_key": "{% $order_id & ':refund:' & $detail.event_id %}",
            },
            "Output": (
                "{% {'order_id': $states.result.order_id, 'outcome': 'refunded', "
                "'refund_id': $states.result.refund_id, 'amount': $states.result.amount} %}"
            ),
            "TimeoutSeconds": 30,
            "Retry": _retry(_TRANSIENT, attempts=6),
            "Catch": [{"ErrorEquals": ["States.ALL"], "Output": _CAUGHT, "Next": "Failed"}],
            "Next": "Done",
        },
        "Compensate": {
            "Type": "Task",
            "Resource": PAYMENT,
            "Arguments": {
                "action": "void",
                "order_id": "{% $order_id %}",
                "error": "{% $states.input.error %}",
                "cause": "{% $states.input.cause %}",
            },
            "TimeoutSeconds": 30,
            "Retry": _retry(_TRANSIENT, attempts=6),
            "Next": "Failed",
        },
        "Done": {"Type": "Succeed"},
        "Failed": {
            "Type": "Fail",
            "Error": FAIL_ERROR,
            "Cause": (
                "{% 'payment pipeline stopped for order ' & $order_id "
                "& ' (' & $detail_type & ')' %}"
            ),
        },
    },
}

MACHINES: dict[str, dict[str, Any]] = {"JSONPath": JSONPATH_MACHINE, "JSONata": JSONATA_MACHINE}


class Gateway:
    """The machine's two Lambda functions, in process, for one execution: a payment gateway
    (authorize, capture, refund, void) and an event publisher.

    ``faults`` maps an action to the errors its successive calls raise before it succeeds, so
    a retry or a catch happens at the same place in every run; ``calls`` records the actions.
    """

    def __init__(self, faults: Mapping[str, Sequence[str]] | None = None) -> None:
        self.faults = {action: list(errors) for action, errors in (faults or {}).items()}
        self.calls: list[str] = []
        self.resources: dict[str, Callable[[Any], Any]] = {
            PAYMENT: self.payment,
            EVENTS: self.publish,
        }

    def _called(self, action: str) -> None:
        self.calls.append(action)
        pending = self.faults.get(action)
        if pending:
            error = pending.pop(0)
            raise TaskFailed(error, f"{action} failed: {error}")

    def payment(self, payload: dict[str, Any]) -> dict[str, Any]:
        action, order_id = payload["action"], payload["order_id"]
        self._called(action)
        if action == "authorize":
            amount = payload["amount"]
            risky = payload["customer_id"].startswith(RISKY_PREFIX)
            declined = amount > DECLINE_ABOVE
            return {
                "payment_id": f"pay-{order_id}",
                "status": "DECLINED" if declined else "AUTHORIZED",
                "risk_score": 95 if risky else min(10 + 5 * payload["line_count"], 80),
                "reason": "over limit" if declined else ("risk" if risky else None),
                "gateway": {"name": "fake", "request_id": payload["idempotency_key"]},
            }
        if action == "capture":
            return {
                "capture_id": f"cap-{order_id}",
                "payment_id": payload["payment_id"],
                "amount": payload["amount"],
                "status": "CAPTURED",
            }
        if action == "refund":
            return {
                "refund_id": f"ref-{order_id}",
                "order_id": order_id,
                "amount": payload["amount"],
                "status": "REFUNDED",
            }
        if action == "void":
            return {"order_id": order_id, "voided": True, "after": payload["error"]}
        raise TaskFailed("UnknownAction", action)

    def publish(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._called("publish")
        detail = {key: value for key, value in payload.items() if key != "detail-type"}
        return {
            "event_id": f"evt-{payload['order_id']}-{payload['detail-type']}",
            "detail-type": payload["detail-type"],
            "detail": detail,
        }


def event(
    detail_type: str,
    order_id: str,
    *,
    amount: float = 42.5,
    lines: int = 2,
    customer_id: str = "c-1",
    currency: str = "USD",
) -> dict[str, Any]:
    """An EventBridge event as the pipelines receive it from the bus."""
    return {
        "version": "0",
        "id": f"bus-{order_id}-{detail_type}",
        "detail-type": detail_type,
        "source": bus.SOURCE,
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "type": detail_type,
            "event_id": f"e-{order_id}-{detail_type}",
            "order_id": order_id,
            "sequence": 1,
            "customer_id": customer_id,
            "occurred_at": "2026-01-01T00:00:00Z",
            "correlation_id": order_id,
            "schema_version": 1,
            "currency": currency,
            "amount": amount,
            "lines": [
                {"sku": f"SKU-{n}", "quantity": 1 + n % 3, "unit_price": 10.0 + n}
                for n in range(lines)
            ],
        },
    }


@dataclass(frozen=True)
class Case:
    """One execution's input, the faults its resources inject, and what it should end in."""

    name: str
    input: dict[str, Any]
    faults: Mapping[str, Sequence[str]] = field(default_factory=dict)
    status: str = "SUCCEEDED"
    outcome: str | None = None  # the output's "outcome" when it succeeds

    def fresh_input(self) -> dict[str, Any]:
        return copy.deepcopy(self.input)


# The benchmark's mix, also the test's cases: mostly captures, a few with a retry, declines by
# amount and by risk, refunds, failures caught and compensated, and an event the machine does
# not handle.
CASES: list[Case] = [
    Case("captured", event("OrderPlaced", "o-1"), outcome="captured"),
    Case(
        "captured, many lines",
        event("OrderPlaced", "o-2", amount=980.0, lines=12),
        outcome="captured",
    ),
    Case(
        "captured after retries",
        event("OrderPlaced", "o-3"),
        faults={
            "authorize": ["GatewayUnavailable"],
            "capture": ["Lambda.TooManyRequestsException"],
        },
        outcome="captured",
    ),
    Case(
        "captured after a publish retry",
        event("OrderPlaced", "o-4", currency="EUR"),
        faults={"publish": ["StoreUnavailable"]},
        outcome="captured",
    ),
    Case("declined over limit", event("OrderPlaced", "o-5", amount=7_500.0), outcome="declined"),
    Case(
        "declined for risk",
        event("OrderPlaced", "o-6", customer_id=f"{RISKY_PREFIX}9"),
        outcome="declined",
    ),
    Case(
        "refunded after a retry",
        event("InventoryReservationFailed", "o-7"),
        faults={"refund": ["GatewayUnavailable"]},
        outcome="refunded",
    ),
    Case("refunded", event("InventoryReleased", "o-8", amount=12.0), outcome="refunded"),
    Case(
        "capture rejected, voided",
        event("OrderPlaced", "o-9"),
        faults={"capture": ["PaymentRejected"]},
        status="FAILED",
    ),
    Case(
        "gateway down, retries exhausted, voided",
        event("OrderPlaced", "o-10"),
        faults={"authorize": ["GatewayUnavailable"] * 4},
        status="FAILED",
    ),
    Case("unexpected event", event("OrderShipped", "o-11"), status="FAILED"),
]
