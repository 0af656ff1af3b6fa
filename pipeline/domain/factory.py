"""Making the next events of an order: sequence numbers, ids and time from injected sources."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.domain import events as ev
from pipeline.domain.order import Order

Clock = Callable[[], datetime]
IdSource = Callable[[], str]


def system_clock() -> datetime:
    return datetime.now(UTC)


def random_ids() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Cause:
    """Why events are being made: the correlation id of the order's flow and the causing event."""

    correlation_id: str
    causation_id: str | None = None


@dataclass
class EventFactory:
    """Builds events with the next sequence numbers of an order; clock and ids are injected."""

    clock: Clock = system_clock
    ids: IdSource = field(default=random_ids)

    def next(
        self, order: Order, specs: Sequence[tuple[type[ev.Event], dict[str, Any]]], cause: Cause
    ) -> list[ev.Event]:
        """Events of the given types/fields, numbered after ``order.version``, not yet sealed."""
        now = self.clock()
        return [
            kind(
                event_id=self.ids(),
                order_id=order.order_id,
                sequence=order.version + i,
                customer_id=order.customer_id,
                occurred_at=now,
                correlation_id=cause.correlation_id,
                causation_id=cause.causation_id,
                **fields,
            )
            for i, (kind, fields) in enumerate(specs, start=1)
        ]
