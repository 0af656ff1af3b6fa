"""Payment step handler: authorize, capture, refund, and record their failures.

Each action loads the order, returns the recorded result if its event is already there
(duplicate delivery), calls the gateway with a per-order idempotency key, and appends the
event. A crash between the gateway call and the append is safe: the retry replays the
gateway's recorded result instead of charging again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.alerts import Alerts
from pipeline.adapters.event_store import EventStore
from pipeline.adapters.payment_gateway import FakeGatewayRates, FakePaymentGateway, PaymentGateway
from pipeline.domain.factory import EventFactory
from pipeline.domain.order import Order
from pipeline.domain.saga import Call, Step, decide
from pipeline.faults import Faults
from pipeline.handlers import compensation
from pipeline.handlers.step_request import (
    Fields,
    StepRequest,
    carry_out,
    dispatch,
    finished,
    load_order,
    outcome,
)
from pipeline.handlers.wiring import Wiring, aws_client, require

logger = Logger(service="payment")
tracer = Tracer(service="payment")
metrics = Metrics(service="payment")


@dataclass
class PaymentDeps:
    store: EventStore
    gateway: PaymentGateway
    alerts: Alerts
    factory: EventFactory

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PaymentDeps:
        return cls(
            store=EventStore(aws_client(env, "dynamodb"), require(env, "EVENTS_TABLE")),
            gateway=gateway_from_env(env),
            alerts=Alerts(aws_client(env, "sns"), require(env, "ALERTS_TOPIC_ARN")),
            factory=EventFactory(),
        )


def gateway_from_env(env: Mapping[str, str]) -> PaymentGateway:
    """The gateway the template selects; only the fake is built in (plug a real one here)."""
    kind = env.get("PAYMENT_GATEWAY", "fake")
    if kind != "fake":
        raise RuntimeError(f"PAYMENT_GATEWAY={kind!r}: only 'fake' is built in")
    faults = Faults.from_environment(env)  # injected by the local runtime; none in AWS
    rates = FakeGatewayRates(
        decline=faults.gateway_decline_rate,
        error=faults.gateway_error_rate,
        lost_response=faults.gateway_timeout_rate,
        refund_error=faults.gateway_refund_error_rate,
    )
    return FakePaymentGateway(rates=rates, rng=random.Random(faults.gateway_seed))


wiring = Wiring(PaymentDeps.from_env)


def _gateway(order: Order, deps: PaymentDeps) -> dict[Call, Callable[[], Any]]:
    """The gateway calls a payment step makes, each under its per-order idempotency key."""
    key, gateway = order.order_id, deps.gateway

    def paid() -> str:
        assert order.payment_id is not None
        return order.payment_id

    return {
        Call.AUTHORIZE: lambda: gateway.authorize(f"{key}:authorize", order.total, order.currency),
        Call.CAPTURE: lambda: gateway.capture(f"{key}:capture", paid(), order.authorized),
        # Releases the authorization; a capture whose response was lost is reversed too.
        Call.VOID: lambda: gateway.void(f"{key}:void", paid()),
        Call.REFUND: lambda: gateway.refund(f"{key}:refund", paid(), order.refundable),
    }


def _carry_out(
    step: Step, order: Order, request: StepRequest, deps: PaymentDeps, fields: Fields
) -> tuple[list[Any], Any]:
    return carry_out(
        step,
        order,
        request,
        store=deps.store,
        factory=deps.factory,
        calls=_gateway(order, deps),
        fields=fields,
    )


def authorize(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    order = load_order(deps.store, request, logger)
    step = decide(order, "authorize")
    appended, result = _carry_out(
        step,
        order,
        request,
        deps,
        lambda auth: {"PaymentAuthorized": {"payment_id": auth.payment_id, "amount": order.total}},
    )
    if not step.goes_ahead:
        return finished(order, step, payment_id=order.payment_id)
    metrics.add_metric(name="PaymentAuthorized", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, payment_id=result.payment_id, amount=str(order.total))


def capture(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    order = load_order(deps.store, request, logger)
    step = decide(order, "capture")
    amount = order.authorized
    captured = {"PaymentCaptured": {"payment_id": order.payment_id, "amount": amount}}
    appended, _ = _carry_out(step, order, request, deps, captured)
    if not step.goes_ahead:
        return finished(order, step, payment_id=order.payment_id)
    metrics.add_metric(name="PaymentCaptured", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, payment_id=order.payment_id, amount=str(amount))


def _cancel(request: StepRequest, deps: PaymentDeps, action: str, what: str) -> dict[str, Any]:
    """Record why payment ended and cancel the order, in one append."""
    order = load_order(deps.store, request, logger)
    step = decide(order, action)
    reason = request.error.reason() if request.error else what
    fields = {
        "PaymentDeclined": {"reason": reason},
        "PaymentFailed": {"reason": reason},
        "OrderCancelled": {"reason": what},
    }
    appended, _ = _carry_out(step, order, request, deps, fields)
    if not step.goes_ahead:
        return finished(order, step)
    metrics.add_metric(name=step.events[0], unit=MetricUnit.Count, value=1)
    return outcome(order, appended, cancelled=True)


def record_decline(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    """The gateway declined: cancel the order (nothing was charged)."""
    return _cancel(request, deps, "record_decline", "payment declined")


def record_payment_failure(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    """Authorize or capture failed for good: cancel the order, then reverse whatever the
    gateway did. The cancellation comes first because its append is conditional on the
    order's version: a duplicate execution whose capture succeeded meanwhile makes it fail
    (ConcurrencyConflict, then a no-op), where voiding first would have reversed the money
    of an order that goes on to be confirmed. A void interrupted after the append is
    finished by the retry (the void is idempotent by its key)."""
    return _cancel(request, deps, "record_payment_failure", "payment failed")


def refund(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    """Compensation: return the captured money and, once nothing is held, cancel the order."""
    order = load_order(deps.store, request, logger)
    step = decide(order, "refund")
    amount = order.refundable
    fields: dict[str, dict[str, Any]] = {
        "PaymentRefunded": {"refund_id": f"{order.payment_id}:refund", "amount": amount},
        "OrderCancelled": {"reason": order.failure_reason or "compensated"},
    }
    appended, _ = _carry_out(step, order, request, deps, fields)
    if not step.goes_ahead:
        return finished(order, step)
    metrics.add_metric(name="PaymentRefunded", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, refunded=str(amount))


# The refund failed for good: alert operations, record it.
record_compensation_failure = compensation.failure_recorder("refund", logger, metrics)


ACTIONS = {
    "authorize": authorize,
    "capture": capture,
    "record_decline": record_decline,
    "record_payment_failure": record_payment_failure,
    "refund": refund,
    "record_compensation_failure": record_compensation_failure,
}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(event, wiring.get(), ACTIONS)
