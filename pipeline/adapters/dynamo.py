"""DynamoDB item (de)serialisation and the error codes the adapters translate."""

from __future__ import annotations

from collections.abc import Mapping
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
