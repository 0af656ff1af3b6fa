"""The order API's request models: what a client may send, validated with named fields."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from pipeline.domain.errors import ValidationFailed

MAX_BODY_BYTES = 16 * 1024
MAX_JSON_DEPTH = 32  # an order nests 3 deep; a body nested deeper is refused before parsing
MAX_LINES = 50
CUSTOMER_ID = r"^[A-Za-z0-9_-]{1,64}$"
SKU = r"^[A-Z0-9-]{3,32}$"
IDEMPOTENCY_KEY = r"^[A-Za-z0-9_-]{8,64}$"


class LineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Annotated[StrictStr, Field(pattern=SKU)]
    quantity: Annotated[StrictInt, Field(ge=1, le=1000)]


class PlaceOrder(BaseModel):
    """POST /orders body (infra/openapi.yaml, PlaceOrder)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: Annotated[StrictStr, Field(pattern=CUSTOMER_ID)]
    currency: Literal["USD", "EUR", "GBP"] = "USD"
    lines: Annotated[list[LineRequest], Field(min_length=1, max_length=MAX_LINES)]

    def digest(self) -> str:
        """A stable hash of the request: the same key with another body is a conflict."""
        canonical = json.dumps(self.model_dump(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def field_path(loc: tuple[Any, ...]) -> str:
    """Pydantic's error location as a path users read: ``lines[0].quantity``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def parse_place_order(data: Any) -> PlaceOrder:
    """Validate a decoded body; the first problem is reported with its field path."""
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    try:
        return PlaceOrder.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        path = field_path(tuple(first["loc"])) or "body"
        raise ValidationFailed(f"{path}: {first['msg']}", field=path) from None
