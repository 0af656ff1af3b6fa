"""The one place errors become HTTP responses: status codes and the error body."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

from pipeline.domain import errors

JSON = "application/json"

# Most specific first: PayloadTooLarge and UnsupportedMediaType are ValidationFailed too.
STATUS: list[tuple[type[errors.PipelineError], int]] = [
    (errors.PayloadTooLarge, 413),
    (errors.UnsupportedMediaType, 415),
    (errors.ValidationFailed, 400),
    (errors.UnknownSku, 422),
    (errors.IdempotencyKeyReused, 409),
    (errors.OrderNotFound, 404),
]


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers=headers or {},
    )


def field_of(error: errors.PipelineError) -> str | None:
    """The request field an error names, if any."""
    field = getattr(error, "field", None) or error.details.get("field")
    return field if isinstance(field, str) else None


def error_response(error: Exception) -> Response:
    """A well-formed error body; anything unexpected is a 500 that reveals nothing internal."""
    for kind, status in STATUS:
        if isinstance(error, kind):
            return json_response(
                status,
                {
                    "error": error.name,
                    "message": error.message,
                    "field": field_of(error),
                },
            )
    if isinstance(error, errors.PipelineError) and error.transient:
        # Throttled or briefly unavailable: the client retries with the same Idempotency-Key.
        return json_response(
            503,
            {"error": error.name, "message": "temporarily unavailable, retry", "field": None},
            {"Retry-After": "1"},
        )
    return json_response(
        500, {"error": "InternalError", "message": "internal error", "field": None}
    )
