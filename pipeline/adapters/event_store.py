"""The event store on DynamoDB: conditional appends give optimistic concurrency per order.

Key: ``order_id`` (hash) + ``sequence`` (range). An append puts each new event with
``attribute_not_exists(order_id)``, so two writers racing for the same sequence cannot both
win; the loser gets ``ConcurrencyConflict`` and must reload. Streams (NEW_AND_OLD_IMAGES)
carry every append to the bus relay, the projection and the audit lake.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.dynamo import (
    TRANSIENT_CODES,
    cancellation_codes,
    error_code,
    to_item,
    transient_as,
)
from pipeline.domain import events as ev
from pipeline.domain.errors import ConcurrencyConflict, StoreUnavailable
from pipeline.domain.order import Order, fold

# TransactWriteItems takes at most 100 actions (DynamoDB API reference).
MAX_TRANSACTION_ITEMS = 100


def event_item(event: ev.Event, recorded_at: datetime) -> dict[str, Any]:
    """The stored form of an event: keys and query fields on top, the full event as JSON."""
    return to_item(
        {
            "order_id": event.order_id,
            "sequence": event.sequence,
            "event_type": event.type,
            "event_id": event.event_id,
            "customer_id": event.customer_id,
            "occurred_at": event.occurred_at.isoformat(),
            "recorded_at": recorded_at.isoformat(),
            "hash": event.hash,
            "payload": event.to_json(),
        }
    )


def event_from_item(item: dict[str, Any]) -> ev.Event:
    """An event back from its stored (or stream image) form."""
    payload = item["payload"]
    return ev.parse_event(payload["S"] if isinstance(payload, dict) else payload)


class EventStore:
    """Loads and appends an order's events. ``client`` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table: str, clock: Callable[[], datetime] | None = None):
        self.client = client
        self.table = table
        self.clock = clock or (lambda: datetime.now(UTC))

    def load(self, order_id: str) -> list[ev.Event]:
        """All events of an order, in sequence order (strongly consistent read)."""
        events: list[ev.Event] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "order_id = :o",
            "ExpressionAttributeValues": {":o": {"S": order_id}},
            "ConsistentRead": True,
        }
        while True:
            with transient_as(StoreUnavailable, "event store"):
                page = self.client.query(**kwargs)
            events.extend(event_from_item(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return events
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def load_order(self, order_id: str) -> Order:
        """The order folded from its stored events (an empty order if it has none)."""
        return fold(self.load(order_id), order_id)

    def seal(self, order: Order, new_events: Sequence[ev.Event]) -> list[ev.Event]:
        """Validate ``new_events`` against the order and link them into its hash chain."""
        sealed: list[ev.Event] = []
        prev, state = order.last_hash, order
        for event in new_events:
            event = event.sealed(prev)
            state = state.apply(event)  # raises InvalidTransition before anything is written
            sealed.append(event)
            prev = event.hash
        return sealed

    def put_actions(self, sealed: Sequence[ev.Event]) -> list[dict[str, Any]]:
        """TransactWriteItems actions appending ``sealed`` events, each only if its slot is free."""
        now = self.clock()
        return [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": event_item(e, now),
                    "ConditionExpression": "attribute_not_exists(order_id)",
                }
            }
            for e in sealed
        ]

    def append(
        self,
        order: Order,
        new_events: Sequence[ev.Event],
        also: Sequence[dict[str, Any]] = (),
    ) -> list[ev.Event]:
        """Append events after ``order.version`` atomically, with ``also`` in the same transaction.

        Raises ``ConcurrencyConflict`` if another writer took any of the sequence numbers.
        """
        if not new_events:
            return []
        sealed = self.seal(order, new_events)
        actions = [*self.put_actions(sealed), *also]
        if len(actions) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"{len(actions)} actions exceed one transaction")
        try:
            if len(actions) == 1:
                put = actions[0]["Put"]
                self.client.put_item(**put)
            else:
                self.client.transact_write_items(TransactItems=actions)
        except ClientError as error:
            raise self._translate(error, order, sealed, len(also)) from error
        return sealed

    @staticmethod
    def _translate(
        error: ClientError, order: Order, sealed: list[ev.Event], extra: int
    ) -> Exception:
        code = error_code(error)
        if code == "ConditionalCheckFailedException":
            return ConcurrencyConflict(order.order_id, sealed[0].sequence)
        if code == "TransactionCanceledException":
            reasons = cancellation_codes(error)
            for index, reason in enumerate(reasons[: len(sealed)]):
                if reason == "ConditionalCheckFailed":
                    return ConcurrencyConflict(order.order_id, sealed[index].sequence)
            if "TransactionConflict" in reasons:
                return ConcurrencyConflict(order.order_id, sealed[0].sequence)
            return error  # a condition on an ``also`` action failed: the caller interprets it
        if code in TRANSIENT_CODES:
            return StoreUnavailable(f"event store unavailable: {code}")
        return error
