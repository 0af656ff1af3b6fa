"""Inventory on DynamoDB: all lines of an order reserved in one transaction, or none.

Stock items (``pk = sku#<SKU>``) carry ``available`` and ``reserved`` counters. A reservation
is one ``TransactWriteItems``: a conditional decrement per line (``available >= :qty``, so
stock never goes negative and nothing is oversold) plus a ``reservation#<order_id>`` record
put only if absent, which makes a repeated reservation a no-op. Release mirrors it, and so
does shipping a confirmed order (``reserved`` -> ``shipped``), so on every item
``available + reserved + shipped`` stays the stock it was given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.dynamo import TRANSIENT_CODES, error_code, from_item, to_item, transient_as
from pipeline.domain.errors import (
    InventoryUnavailable,
    OutOfStock,
    StepNotApplicable,
    UnknownSku,
)

RESERVED, RELEASED, SHIPPED = "RESERVED", "RELEASED", "SHIPPED"


def stock_key(sku: str) -> dict[str, Any]:
    return {"pk": {"S": f"sku#{sku}"}}


def reservation_key(order_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"reservation#{order_id}"}}


@dataclass(frozen=True)
class Reservation:
    """A reservation record; ``created`` is False when it already existed (a duplicate)."""

    order_id: str
    lines: tuple[tuple[str, int], ...]
    status: str
    created: bool = True


def merge_lines(lines: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """One entry per SKU (a transaction may touch an item only once), in a stable order."""
    totals: Counter[str] = Counter()
    for sku, quantity in lines:
        totals[sku] += quantity
    return tuple(sorted(totals.items()))


class InventoryStore:
    """Reserves and releases stock. ``client`` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table: str, clock: Callable[[], datetime] | None = None):
        self.client = client
        self.table = table
        self.clock = clock or (lambda: datetime.now(UTC))

    def reserve(self, order_id: str, lines: Iterable[tuple[str, int]]) -> Reservation:
        """Reserve every line or none; raises ``OutOfStock``/``UnknownSku`` naming the SKU."""
        merged = merge_lines(lines)
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": stock_key(sku),
                    "UpdateExpression": "SET available = available - :q, reserved = reserved + :q",
                    "ConditionExpression": "attribute_exists(pk) AND available >= :q",
                    "ExpressionAttributeValues": {":q": {"N": str(quantity)}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
            for sku, quantity in merged
        ]
        actions.append(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(
                        {
                            "pk": f"reservation#{order_id}",
                            "order_id": order_id,
                            "status": RESERVED,
                            "lines": [{"sku": s, "quantity": q} for s, q in merged],
                            "reserved_at": self.clock().isoformat(),
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        )
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as error:
            existing = self._explain(error, merged)
            return Reservation(order_id, tuple((s, q) for s, q in existing), RESERVED, False)
        return Reservation(order_id, merged, RESERVED)

    def _explain(self, error: ClientError, merged: tuple[tuple[str, int], ...]) -> list:
        """Turn a cancelled reservation into its domain meaning (raises unless a duplicate)."""
        code = error_code(error)
        if code in TRANSIENT_CODES:
            raise InventoryUnavailable(f"inventory unavailable: {code}") from error
        if code != "TransactionCanceledException":
            raise error
        reasons = error.response.get("CancellationReasons") or []
        if any(r.get("Code") in ("TransactionConflict", "ThrottlingError") for r in reasons):
            raise InventoryUnavailable("inventory busy: transaction conflict") from error
        reservation = reasons[-1] if len(reasons) == len(merged) + 1 else {}
        if reservation.get("Code") == "ConditionalCheckFailed":
            # The order already holds a reservation: a duplicate delivery, nothing to do.
            old = from_item(reservation.get("Item") or {})
            return [(line["sku"], int(line["quantity"])) for line in old.get("lines", [])]
        for (sku, quantity), reason in zip(merged, reasons, strict=False):
            if reason.get("Code") != "ConditionalCheckFailed":
                continue
            if not reason.get("Item"):
                raise UnknownSku(sku) from None
            available = int(from_item(reason["Item"])["available"])
            raise OutOfStock(sku, quantity, available) from None
        raise error

    def release(self, order_id: str) -> Reservation | None:
        """Give a reservation's stock back once; ``None`` if the order never reserved any."""
        return self._settle(
            order_id, RELEASED, "SET available = available + :q, reserved = reserved - :q"
        )

    def ship(self, order_id: str) -> Reservation | None:
        """Move a confirmed order's reserved stock to shipped, once."""
        return self._settle(
            order_id,
            SHIPPED,
            "SET reserved = reserved - :q, shipped = if_not_exists(shipped, :zero) + :q",
        )

    def _settle(self, order_id: str, to: str, update: str) -> Reservation | None:
        """End a reservation (released or shipped) and move its quantities, in one transaction."""
        current = self.reservation(order_id)
        if current is None:
            return None
        if current.status == to:
            return Reservation(order_id, current.lines, to, created=False)
        if current.status != RESERVED:
            raise StepNotApplicable(f"reservation of {order_id} is {current.status}, not {to}")
        values = {":zero": {"N": "0"}} if ":zero" in update else {}
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": stock_key(sku),
                    "UpdateExpression": update,
                    "ConditionExpression": "attribute_exists(pk) AND reserved >= :q",
                    "ExpressionAttributeValues": {":q": {"N": str(quantity)}, **values},
                }
            }
            for sku, quantity in current.lines
        ]
        actions.append(
            {
                "Update": {
                    "TableName": self.table,
                    "Key": reservation_key(order_id),
                    "UpdateExpression": "SET #s = :to, settled_at = :now",
                    "ConditionExpression": "#s = :reserved",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {
                        ":to": {"S": to},
                        ":reserved": {"S": RESERVED},
                        ":now": {"S": self.clock().isoformat()},
                    },
                }
            }
        )
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as error:
            code = error_code(error)
            if code in TRANSIENT_CODES:
                raise InventoryUnavailable(f"inventory unavailable: {code}") from error
            reasons = error.response.get("CancellationReasons") or []
            if reasons and reasons[-1].get("Code") == "ConditionalCheckFailed":
                # Settled concurrently, by a duplicate delivery or the other way.
                return self._settle(order_id, to, update)
            if any(r.get("Code") == "TransactionConflict" for r in reasons):
                raise InventoryUnavailable("inventory busy: transaction conflict") from error
            raise
        return Reservation(order_id, current.lines, to)

    def reservation(self, order_id: str) -> Reservation | None:
        with transient_as(InventoryUnavailable, "inventory"):
            item = self.client.get_item(
                TableName=self.table, Key=reservation_key(order_id), ConsistentRead=True
            ).get("Item")
        if item is None:
            return None
        data = from_item(item)
        lines = tuple((line["sku"], int(line["quantity"])) for line in data["lines"])
        return Reservation(order_id, lines, data["status"], created=False)

    def put_stock(self, sku: str, name: str, unit_price: Decimal, available: int) -> None:
        """Create or replace a stock item (seeding and tests)."""
        self.client.put_item(
            TableName=self.table,
            Item=to_item(
                {
                    "pk": f"sku#{sku}",
                    "sku": sku,
                    "name": name,
                    "unit_price": unit_price,
                    "available": available,
                    "reserved": 0,
                    "shipped": 0,
                }
            ),
        )

    def get_stock(self, sku: str) -> dict[str, Any] | None:
        with transient_as(InventoryUnavailable, "inventory"):
            item = self.client.get_item(
                TableName=self.table, Key=stock_key(sku), ConsistentRead=True
            ).get("Item")
        return from_item(item) if item else None
