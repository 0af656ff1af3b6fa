"""The order status read model (OrdersTable): rows, projections from events, and queries.

The status index is write-sharded: ``status_shard = STATUS#n`` with ``n`` a stable hash of
the order id, so a popular status (PLACED during a flash sale) spreads over ``shards``
partitions instead of one hot key; a status query reads every shard and merges.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.dynamo import TRANSIENT_CODES, error_code, from_item, to_item, transient_as
from pipeline.domain import events as ev
from pipeline.domain.errors import StoreUnavailable
from pipeline.domain.order import Status, status_after


class ProjectionNotReady(Exception):
    """An event arrived before its order's row exists; the stream retries the record."""


PUBLIC_FIELDS = (
    "order_id",
    "customer_id",
    "status",
    "currency",
    "total",
    "lines",
    "created_at",
    "updated_at",
    "version",
)


def status_shard(status: str, order_id: str, shards: int) -> str:
    """``STATUS#n``: the same order always lands on the same shard."""
    n = int(hashlib.sha256(order_id.encode()).hexdigest(), 16) % shards
    return f"{status}#{n}"


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the API shows it (the Order schema of infra/openapi.yaml)."""
    out = {k: row[k] for k in PUBLIC_FIELDS if k in row}
    out["version"] = int(row["version"])
    out["lines"] = [
        {"sku": line["sku"], "quantity": int(line["quantity"]), "unit_price": line["unit_price"]}
        for line in row.get("lines", [])
    ]
    return out


class OrderViews:
    """Reads and projects the order read model. ``client`` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table: str, shards: int = 8) -> None:
        self.client = client
        self.table = table
        self.shards = shards

    def row(self, placed: ev.OrderPlaced, **extra: Any) -> dict[str, Any]:
        """The first row of an order, from its OrderPlaced event."""
        ts = placed.occurred_at.isoformat()
        return {
            "order_id": placed.order_id,
            "customer_id": placed.customer_id,
            "status": Status.PLACED.value,
            "status_shard": status_shard(Status.PLACED, placed.order_id, self.shards),
            "created_at": ts,
            "updated_at": ts,
            "currency": placed.currency,
            "total": f"{placed.total:.2f}",
            "lines": [
                {"sku": line.sku, "quantity": line.quantity, "unit_price": f"{line.unit_price:.2f}"}
                for line in placed.lines
            ],
            "version": placed.sequence,
            "status_version": placed.sequence,
            **extra,
        }

    def put_action(self, row: dict[str, Any]) -> dict[str, Any]:
        """A TransactWriteItems action creating the row only if the order is new."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item(row),
                "ConditionExpression": "attribute_not_exists(order_id)",
            }
        }

    def get(self, order_id: str) -> dict[str, Any] | None:
        with transient_as(StoreUnavailable, "read model"):
            item = self.client.get_item(
                TableName=self.table, Key={"order_id": {"S": order_id}}, ConsistentRead=True
            ).get("Item")
        return from_item(item) if item else None

    def project(self, event: ev.Event) -> bool:
        """Apply one event to the read model; False if it was a duplicate or stale.

        Streams order records per item, not across an order's events, so a later event may
        arrive first: status only moves forward (``status_version``), the version to the max.
        """
        if isinstance(event, ev.OrderPlaced):
            try:
                self.client.put_item(**self.put_action(self.row(event))["Put"])
                return True
            except ClientError as error:
                return self._stale(error)
        changed = False
        after = status_after(event.type)
        if after is not None:
            changed |= self._update(
                "SET #s = :s, status_shard = :shard, updated_at = :ts, status_version = :seq"
                + (", tracking_number = :t" if isinstance(event, ev.LabelCreated) else ""),
                "attribute_exists(order_id) AND status_version < :seq",
                event,
                {
                    ":s": after.value,
                    ":shard": status_shard(after, event.order_id, self.shards),
                    ":ts": event.occurred_at.isoformat(),
                    **({":t": event.tracking_number} if isinstance(event, ev.LabelCreated) else {}),
                },
            )
        changed |= self._update(
            "SET version = :seq", "attribute_exists(order_id) AND version < :seq", event, {}
        )
        return changed

    def _update(self, expression: str, condition: str, event: ev.Event, values: dict) -> bool:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"order_id": {"S": event.order_id}},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": to_item({":seq": event.sequence, **values}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if "#s" in expression:
            kwargs["ExpressionAttributeNames"] = {"#s": "status"}
        try:
            self.client.update_item(**kwargs)
            return True
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException" and not error.response.get(
                "Item"
            ):
                # The order API writes the row with OrderPlaced in one transaction, so a missing
                # row means that record is not projected yet: fail, and let the stream retry.
                raise ProjectionNotReady(f"order {event.order_id} has no row yet") from error
            return self._stale(error)

    @staticmethod
    def _stale(error: ClientError) -> bool:
        code = error_code(error)
        if code == "ConditionalCheckFailedException":
            return False  # already applied, or older than what the row shows
        if code in TRANSIENT_CODES:
            raise StoreUnavailable(f"read model unavailable: {code}") from error
        raise error

    def by_customer(self, customer_id: str, status: str | None, limit: int) -> list[dict]:
        """A customer's orders, newest first (ByCustomer index), optionally in one status."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "ByCustomer",
            "KeyConditionExpression": "customer_id = :c",
            "ExpressionAttributeValues": {":c": {"S": customer_id}},
            "ScanIndexForward": False,
        }
        if status:
            kwargs["FilterExpression"] = "#s = :s"
            kwargs["ExpressionAttributeNames"] = {"#s": "status"}
            kwargs["ExpressionAttributeValues"][":s"] = {"S": status}
        return [public(r) for r in self._pages(kwargs, limit)]

    def by_status(self, status: str, limit: int) -> list[dict]:
        """Orders in one status, most recently updated first, merged across every shard."""
        per_shard = [
            [
                public(r)
                for r in self._pages(
                    {
                        "TableName": self.table,
                        "IndexName": "ByStatus",
                        "KeyConditionExpression": "status_shard = :k",
                        "ExpressionAttributeValues": {":k": {"S": f"{status}#{n}"}},
                        "ScanIndexForward": False,
                    },
                    limit,
                )
            ]
            for n in range(self.shards)
        ]
        merged = heapq.merge(*per_shard, key=lambda r: r["updated_at"], reverse=True)
        return list(merged)[:limit]

    def _pages(self, kwargs: dict[str, Any], limit: int) -> Iterator[dict[str, Any]]:
        returned = 0
        while True:
            with transient_as(StoreUnavailable, "read model"):
                page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                yield from_item(item)
                returned += 1
                if returned >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
