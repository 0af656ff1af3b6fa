"""The carrier port: shipping labels as real artifacts in S3, idempotent by order id."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from pipeline.adapters.dynamo import error_code
from pipeline.domain.errors import CarrierUnavailable


@dataclass(frozen=True)
class Label:
    tracking_number: str
    label_uri: str


class Carrier(Protocol):
    """What the pipeline needs from a shipping carrier."""

    def create_label(self, order_id: str, lines: Sequence[tuple[str, int]]) -> Label: ...

    def cancel_label(self, order_id: str) -> bool: ...

    def voided(self, order_id: str) -> bool: ...


def tracking_number(order_id: str) -> str:
    """Deterministic per order, so a retried label request yields the same label."""
    return "1Z" + hashlib.sha256(order_id.encode()).hexdigest()[:16].upper()


class S3Carrier:
    """A carrier whose labels are JSON documents in S3 (``labels/<order_id>.json``).

    ``available`` models the carrier's API being up (an outage window returns False).
    """

    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        available: Callable[[], bool] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.available = available or (lambda: True)
        self.clock = clock or (lambda: datetime.now(UTC))

    def _key(self, order_id: str, suffix: str = "") -> str:
        return f"labels/{order_id}{suffix}.json"

    def _exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as error:
            if error_code(error) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise CarrierUnavailable(f"label store unavailable: {error_code(error)}") from error

    def create_label(self, order_id: str, lines: Sequence[tuple[str, int]]) -> Label:
        if not self.available():
            raise CarrierUnavailable("carrier API unavailable")
        key = self._key(order_id)
        label = Label(tracking_number(order_id), f"s3://{self.bucket}/{key}")
        if self._exists(key):
            return label  # created by an earlier attempt whose response was lost
        document = {
            "order_id": order_id,
            "tracking_number": label.tracking_number,
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
            "created_at": self.clock().isoformat(),
        }
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=json.dumps(document).encode(),
                ContentType="application/json",
            )
        except ClientError as error:
            raise CarrierUnavailable(f"label not stored: {error_code(error)}") from error
        return label

    def voided(self, order_id: str) -> bool:
        """Whether the order's label was voided."""
        return self._exists(self._key(order_id, ".void"))

    def cancel_label(self, order_id: str) -> bool:
        """Void the label (a marker next to it); True if a label existed. Idempotent."""
        if not self._exists(self._key(order_id)):
            return False
        void = self._key(order_id, ".void")
        if not self._exists(void):
            body = {"order_id": order_id, "voided_at": self.clock().isoformat()}
            self.s3.put_object(Bucket=self.bucket, Key=void, Body=json.dumps(body).encode())
        return True
