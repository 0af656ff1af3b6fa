"""Recording a compensation that failed for good: alert operations, then append the event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.alerts import Alerts
from pipeline.adapters.event_store import EventStore
from pipeline.domain.factory import EventFactory
from pipeline.domain.saga import Call, decide
from pipeline.handlers.step_request import StepRequest, carry_out, finished, load_order, outcome


def record_compensation_failure(
    request: StepRequest,
    *,
    step: str,
    store: EventStore,
    alerts: Alerts,
    factory: EventFactory,
    logger: Any,
) -> dict[str, Any]:
    """Alert at least once (before appending, so a crash re-alerts rather than never alerts)."""
    order = load_order(store, request, logger)
    decided = decide(order, "record_compensation_failure")
    reason = request.error.reason() if request.error else f"{step} failed"
    alert = {"order_id": order.order_id, "step": step, "reason": reason}
    if step == "refund":
        alert["amount"] = str(order.refundable)
    subject = f"Compensation '{step}' failed for order {order.order_id}"
    appended, _ = carry_out(
        decided,
        order,
        request,
        store=store,
        factory=factory,
        calls={Call.ALERT: lambda: alerts.publish(subject, alert)},
        fields={"CompensationFailed": {"step": step, "reason": reason}},
    )
    if not decided.goes_ahead:
        return finished(order, decided)
    return outcome(order, appended, alerted=True)


class _CompensatingDeps(Protocol):
    store: EventStore
    alerts: Alerts
    factory: EventFactory


def failure_recorder(
    step: str, logger: Any, metrics: Any
) -> Callable[[StepRequest, Any], dict[str, Any]]:
    """The ``record_compensation_failure`` action of a handler whose compensation is ``step``
    (``refund``, ``release``): it records the failure and counts a CompensationFailed."""

    def record(request: StepRequest, deps: _CompensatingDeps) -> dict[str, Any]:
        """The compensation failed for good: operations must act."""
        result = record_compensation_failure(
            request,
            step=step,
            store=deps.store,
            alerts=deps.alerts,
            factory=deps.factory,
            logger=logger,
        )
        metrics.add_metric(name="CompensationFailed", unit=MetricUnit.Count, value=1)
        return result

    return record
