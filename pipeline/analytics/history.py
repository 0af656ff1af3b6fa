"""An order's history, from the lake or from the event store, and its state at any moment.

The lake is fed at least once (a Firehose retry can deliver a row twice), so its history is
de-duplicated by event id; the store's is the source of truth. Both are folded by the domain
(``pipeline.domain.order.fold``), so "the state at 14:03" means the same for either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.analytics.athena import LocalAthena
from pipeline.domain.events import Event, parse_event
from pipeline.domain.order import Order, fold


def from_lake(athena: LocalAthena, order_id: str) -> list[Event]:
    """The order's events in the lake, each once, in sequence order."""
    rows = athena.records(
        "SELECT DISTINCT event_id, sequence, payload FROM audit_events"
        " WHERE order_id = ? ORDER BY sequence, event_id",
        [order_id],
    )
    return [parse_event(row["payload"]) for row in rows]


def from_store(store: Any, order_id: str) -> list[Event]:
    """The order's events in the event store (``pipeline.adapters.event_store.EventStore``)."""
    return store.load(order_id)


def state_at(events: list[Event], moment: datetime, order_id: str | None = None) -> Order:
    """The order as its events left it at ``moment`` (the events that occurred by then)."""
    return fold(events, order_id or (events[0].order_id if events else None), as_of=moment)
