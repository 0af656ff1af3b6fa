"""One flat audit row per stored event: the audit lake's schema (the Glue table's columns)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.domain import events as ev


def audit_row(event: ev.Event, recorded_at: datetime, source: str) -> dict[str, Any]:
    """The lake row of ``event``; amounts stay exact decimal strings, never floats."""
    amount = getattr(event, "amount", None)
    if isinstance(event, ev.OrderPlaced):
        amount = event.total
    lines = getattr(event, "lines", None)
    return {
        "event_id": event.event_id,
        "order_id": event.order_id,
        "sequence": event.sequence,
        "event_type": event.type,
        "schema_version": event.schema_version,
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": recorded_at.isoformat(),
        "customer_id": event.customer_id,
        "amount": f"{amount:.2f}" if amount is not None else None,
        "currency": getattr(event, "currency", None),
        "lines": [
            {"sku": line.sku, "quantity": line.quantity, "unit_price": f"{line.unit_price:.2f}"}
            for line in lines
        ]
        if lines
        else None,
        "reason": getattr(event, "reason", None),
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "source": source,
        "payload": event.to_json(),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
