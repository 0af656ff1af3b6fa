"""The order's immutable, versioned events: the one schema the store, the bus and the lake share."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, TypeAdapter, field_validator

SCHEMA_VERSION = 1

# Money is a Decimal with two places, serialised as a string: floats never touch amounts.
Money = Annotated[
    Decimal,
    Field(max_digits=12, decimal_places=2),
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
]


def utc(ts: datetime) -> datetime:
    """Reject naive datetimes and normalise to UTC."""
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return ts.astimezone(UTC)


def chain_digest(prev_hash: str | None, body: dict[str, Any]) -> str:
    """The hash linking an event (``body``: its JSON fields without the hash fields) to its
    predecessor's hash: SHA-256 of ``prev_hash|canonical JSON`` (sorted keys, no spaces)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash or ''}|{canonical}".encode()).hexdigest()


class OrderLine(BaseModel):
    """One line of an order, priced from the catalogue when the order was placed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str
    quantity: int = Field(gt=0)
    unit_price: Money


class Event(BaseModel):
    """Fields every event carries. ``sequence`` orders an order's events from 1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    event_id: str
    order_id: str
    sequence: int = Field(ge=1)
    customer_id: str
    occurred_at: datetime
    correlation_id: str
    causation_id: str | None = None
    schema_version: int = SCHEMA_VERSION
    prev_hash: str | None = None
    hash: str | None = None

    @field_validator("occurred_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        return utc(value)

    def content_digest(self, prev_hash: str | None) -> str:
        """SHA-256 over the predecessor's hash and this event's canonical JSON (hash fields out)."""
        return chain_digest(prev_hash, self.model_dump(mode="json", exclude={"prev_hash", "hash"}))

    def sealed(self, prev_hash: str | None) -> Event:
        """This event linked into its order's hash chain after ``prev_hash``."""
        return self.model_copy(
            update={"prev_hash": prev_hash, "hash": self.content_digest(prev_hash)}
        )

    def to_json(self) -> str:
        return self.model_dump_json()


class OrderPlaced(Event):
    type: Literal["OrderPlaced"] = "OrderPlaced"
    lines: tuple[OrderLine, ...] = Field(min_length=1)
    currency: str
    total: Money


class PaymentAuthorized(Event):
    type: Literal["PaymentAuthorized"] = "PaymentAuthorized"
    payment_id: str
    amount: Money


class PaymentCaptured(Event):
    type: Literal["PaymentCaptured"] = "PaymentCaptured"
    payment_id: str
    amount: Money


class PaymentDeclined(Event):
    type: Literal["PaymentDeclined"] = "PaymentDeclined"
    reason: str


class PaymentFailed(Event):
    """The payment step failed for good (not a decline); any authorization was voided."""

    type: Literal["PaymentFailed"] = "PaymentFailed"
    reason: str


class PaymentRefunded(Event):
    type: Literal["PaymentRefunded"] = "PaymentRefunded"
    refund_id: str
    amount: Money


class InventoryReserved(Event):
    type: Literal["InventoryReserved"] = "InventoryReserved"
    reservation_id: str


class InventoryReservationFailed(Event):
    type: Literal["InventoryReservationFailed"] = "InventoryReservationFailed"
    reason: str
    sku: str | None = None


class InventoryReleased(Event):
    type: Literal["InventoryReleased"] = "InventoryReleased"
    reservation_id: str


class InventoryShipped(Event):
    """The confirmed order's reserved stock left the warehouse (reserved -> shipped)."""

    type: Literal["InventoryShipped"] = "InventoryShipped"
    reservation_id: str


class LabelCreated(Event):
    type: Literal["LabelCreated"] = "LabelCreated"
    tracking_number: str
    label_uri: str


class LabelFailed(Event):
    type: Literal["LabelFailed"] = "LabelFailed"
    reason: str


class OrderConfirmed(Event):
    type: Literal["OrderConfirmed"] = "OrderConfirmed"


class OrderCancelled(Event):
    type: Literal["OrderCancelled"] = "OrderCancelled"
    reason: str


class CustomerNotified(Event):
    type: Literal["CustomerNotified"] = "CustomerNotified"
    kind: str
    message_id: str


class CompensationFailed(Event):
    """A compensating step (refund, release) failed for good: operations must act."""

    type: Literal["CompensationFailed"] = "CompensationFailed"
    step: str
    reason: str


EVENT_TYPES: tuple[type[Event], ...] = (
    OrderPlaced,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentDeclined,
    PaymentFailed,
    PaymentRefunded,
    InventoryReserved,
    InventoryReservationFailed,
    InventoryReleased,
    LabelCreated,
    LabelFailed,
    OrderConfirmed,
    OrderCancelled,
    CustomerNotified,
    CompensationFailed,
    InventoryShipped,
)
EVENT_TYPE_NAMES: tuple[str, ...] = tuple(t.model_fields["type"].default for t in EVENT_TYPES)
EVENT_CLASSES: dict[str, type[Event]] = dict(zip(EVENT_TYPE_NAMES, EVENT_TYPES, strict=True))

AnyEvent = Annotated[
    OrderPlaced
    | PaymentAuthorized
    | PaymentCaptured
    | PaymentDeclined
    | PaymentFailed
    | PaymentRefunded
    | InventoryReserved
    | InventoryReservationFailed
    | InventoryReleased
    | LabelCreated
    | LabelFailed
    | OrderConfirmed
    | OrderCancelled
    | CustomerNotified
    | CompensationFailed
    | InventoryShipped,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Event] = TypeAdapter(AnyEvent)


def parse_event(data: str | bytes | dict[str, Any]) -> Event:
    """Rebuild a typed event from its JSON text or dict (the discriminator is ``type``)."""
    if isinstance(data, str | bytes):
        return _ADAPTER.validate_json(data)
    return _ADAPTER.validate_python(data)


def verify_chain(events: list[Event]) -> list[str]:
    """Problems with an order's hash chain, in order; empty when intact."""
    problems: list[str] = []
    prev: str | None = None
    for expected_seq, event in enumerate(events, start=1):
        if event.sequence != expected_seq:
            problems.append(f"sequence {event.sequence} found where {expected_seq} expected")
        if event.prev_hash != prev:
            problems.append(f"sequence {event.sequence}: prev_hash does not match predecessor")
        if event.hash != event.content_digest(event.prev_hash):
            problems.append(f"sequence {event.sequence}: content does not match its hash")
        prev = event.hash
    return problems
