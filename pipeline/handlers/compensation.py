"""Recording a compensation that failed for good: alert operations, then append the event."""

from __future__ import annotations

from typing import Any

from pipeline.adapters.alerts import Alerts
from pipeline.adapters.event_store import EventStore
from pipeline.domain import events as ev
from pipeline.domain.factory import EventFactory
from pipeline.domain.order import Status
from pipeline.handlers.step_request import StepRequest, applies, load_order, outcome, skipped


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
    if order.has("CompensationFailed"):
        return outcome(order, duplicate=True)
    if not applies(order, Status.COMPENSATING):
        return skipped(order)
    reason = request.error.reason() if request.error else f"{step} failed"
    alert = {"order_id": order.order_id, "step": step, "reason": reason}
    if step == "refund":
        alert["amount"] = str(order.refundable)
    alerts.publish(f"Compensation '{step}' failed for order {order.order_id}", alert)
    appended = store.append(
        order,
        factory.next(
            order, [(ev.CompensationFailed, {"step": step, "reason": reason})], request.cause
        ),
    )
    return outcome(order, appended, alerted=True)
