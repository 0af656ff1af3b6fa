"""A small, fixed audit lake whose query results are worked out by hand in the tests.

Four orders on 2026-03-10, written as the local Firehose writes them (Parquet, SNAPPY, the
Glue schema, hourly partitions):

- A, 10:00, 100.00: placed, authorized, captured (+5 s), reserved (+6 s), labelled (+10 s),
  confirmed (+11 s), notified, shipped. Its PaymentCaptured is delivered to the lake twice.
- B, 10:20, 50.00: captured (+3 s), then out of stock: refunded 50.00, cancelled, notified.
- C, 11:05, 30.00: captured (+2 s), reserved (+3 s), label failed: stock released, the refund
  failed (CompensationFailed): C still holds its 30.00.
- D, 11:30, 20.00: declined, cancelled.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pipeline.adapters.event_store import EventStore
from pipeline.domain import events as ev
from pipeline.domain.audit import audit_row
from pipeline.domain.factory import Cause, EventFactory
from pipeline.domain.order import Order
from pipeline.local.firehose import LocalFirehose
from pipeline.template import Template

DAY = datetime(2026, 3, 10, tzinfo=UTC)
E = ev


def _lines(*lines: tuple[str, int, str]) -> tuple[ev.OrderLine, ...]:
    return tuple(ev.OrderLine(sku=s, quantity=q, unit_price=Decimal(p)) for s, q, p in lines)


def _total(lines: tuple[ev.OrderLine, ...]) -> Decimal:
    return sum((line.unit_price * line.quantity for line in lines), Decimal("0.00"))


A_LINES = _lines(("KB-001", 1, "80.00"), ("MS-002", 2, "10.00"))
B_LINES = _lines(("HP-003", 1, "50.00"))
C_LINES = _lines(("CB-004", 3, "10.00"))
D_LINES = _lines(("CB-004", 2, "10.00"))

# order id, customer, start, [(seconds after start, [(event class, fields)])]
ORDERS: list[tuple[str, str, datetime, list[tuple[int, list[tuple[type, dict[str, Any]]]]]]] = [
    (
        "order-A",
        "cust-1",
        DAY.replace(hour=10),
        [
            (0, [(E.OrderPlaced, {"lines": A_LINES, "currency": "USD", "total": _total(A_LINES)})]),
            (2, [(E.PaymentAuthorized, {"payment_id": "pay-A", "amount": Decimal("100.00")})]),
            (5, [(E.PaymentCaptured, {"payment_id": "pay-A", "amount": Decimal("100.00")})]),
            (6, [(E.InventoryReserved, {"reservation_id": "order-A"})]),
            (10, [(E.LabelCreated, {"tracking_number": "1ZA", "label_uri": "s3://l/A.json"})]),
            (11, [(E.OrderConfirmed, {})]),
            (12, [(E.CustomerNotified, {"kind": "OrderConfirmed", "message_id": "m-A"})]),
            (13, [(E.InventoryShipped, {"reservation_id": "order-A"})]),
        ],
    ),
    (
        "order-B",
        "cust-2",
        DAY.replace(hour=10, minute=20),
        [
            (0, [(E.OrderPlaced, {"lines": B_LINES, "currency": "USD", "total": _total(B_LINES)})]),
            (1, [(E.PaymentAuthorized, {"payment_id": "pay-B", "amount": Decimal("50.00")})]),
            (3, [(E.PaymentCaptured, {"payment_id": "pay-B", "amount": Decimal("50.00")})]),
            (4, [(E.InventoryReservationFailed, {"reason": "OutOfStock", "sku": "HP-003"})]),
            (6, [(E.PaymentRefunded, {"refund_id": "ref-B", "amount": Decimal("50.00")})]),
            (7, [(E.OrderCancelled, {"reason": "out of stock"})]),
            (8, [(E.CustomerNotified, {"kind": "OrderCancelled", "message_id": "m-B"})]),
        ],
    ),
    (
        "order-C",
        "cust-3",
        DAY.replace(hour=11, minute=5),
        [
            (0, [(E.OrderPlaced, {"lines": C_LINES, "currency": "USD", "total": _total(C_LINES)})]),
            (1, [(E.PaymentAuthorized, {"payment_id": "pay-C", "amount": Decimal("30.00")})]),
            (2, [(E.PaymentCaptured, {"payment_id": "pay-C", "amount": Decimal("30.00")})]),
            (3, [(E.InventoryReserved, {"reservation_id": "order-C"})]),
            (10, [(E.LabelFailed, {"reason": "carrier down"})]),
            (11, [(E.InventoryReleased, {"reservation_id": "order-C"})]),
            (15, [(E.CompensationFailed, {"step": "refund", "reason": "gateway down"})]),
        ],
    ),
    (
        "order-D",
        "cust-4",
        DAY.replace(hour=11, minute=30),
        [
            (0, [(E.OrderPlaced, {"lines": D_LINES, "currency": "USD", "total": _total(D_LINES)})]),
            (1, [(E.PaymentDeclined, {"reason": "card declined"})]),
            (2, [(E.OrderCancelled, {"reason": "payment declined"})]),
        ],
    ),
]
DUPLICATED = ("order-A", 3)  # (order, sequence) delivered to the lake twice


def events() -> dict[str, list[ev.Event]]:
    """Every order's sealed events (hash-chained as the event store seals them)."""
    sealer = EventStore(None, "unused")
    out: dict[str, list[ev.Event]] = {}
    for order_id, customer, start, steps in ORDERS:
        order, sealed = Order(order_id, customer_id=customer), []
        for number, (offset, specs) in enumerate(steps):
            moment = start + timedelta(seconds=offset)
            factory = EventFactory(clock=lambda m=moment: m, ids=_ids(order_id, number))
            batch = sealer.seal(order, factory.next(order, specs, Cause(order_id)))
            for event in batch:
                order = order.apply(event)
            sealed.extend(batch)
        out[order_id] = sealed
    return out


def _ids(order_id: str, number: int) -> Any:
    return lambda: f"{order_id}-evt-{number + 1:02d}"


class DirectoryS3:
    """Just enough of an S3 client for the local Firehose: objects become files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict:
        path = self.root / Key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Body)
        return {}


def write(root: Path, template: Template | None = None) -> dict[str, list[ev.Event]]:
    """Write the fixed lake under ``root`` (``root/events/year=.../...parquet``), one object
    per hour as Firehose would, with the duplicated delivery; return the events."""
    template = template or Template.load()
    by_order = events()
    rows_by_hour: dict[datetime, list[dict[str, Any]]] = {}
    for order_events in by_order.values():
        for event in order_events:
            recorded = event.occurred_at + timedelta(milliseconds=200)
            row = audit_row(event, recorded, "local")
            copies = 2 if (event.order_id, event.sequence) == DUPLICATED else 1
            hour = recorded.replace(minute=0, second=0, microsecond=0)
            rows_by_hour.setdefault(hour, []).extend([row] * copies)
    for hour, rows in sorted(rows_by_hour.items()):
        firehose = LocalFirehose(DirectoryS3(root), "lake", template, clock=lambda h=hour: h)
        firehose.put_record_batch(
            "AuditDeliveryStream", [{"Data": _json_line(row)} for row in rows]
        )
        firehose.flush()
    return by_order


def _json_line(row: dict[str, Any]) -> bytes:
    import json

    return (json.dumps(row) + "\n").encode()
