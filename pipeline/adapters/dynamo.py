"""DynamoDB item (de)serialisation and the error codes the adapters translate."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_SER = TypeSerializer()
_DESER = TypeDeserializer()

# Throttling and service-side faults: safe to retry (DynamoDB developer guide, "Error handling").
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict as a DynamoDB attribute-value map (``None`` values dropped)."""
    return {k: _SER.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB attribute-value map as a plain dict (numbers come back as ``Decimal``)."""
    return {k: _DESER.deserialize(v) for k, v in item.items()}


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def cancellation_codes(error: ClientError) -> list[str]:
    """Per-item reasons of a cancelled transaction, aligned with its items ('None' = fine)."""
    reasons = error.response.get("CancellationReasons") or []
    return [r.get("Code", "None") for r in reasons]


@contextmanager
def transient_as(error: type[Exception], what: str) -> Iterator[None]:
    """Turn throttling and service faults into ``error`` (a transient domain error the state
    machines retry); anything else propagates unchanged."""
    try:
        yield
    except ClientError as raised:
        code = error_code(raised)
        if code in TRANSIENT_CODES:
            raise error(f"{what} unavailable: {code}") from raised
        raise
