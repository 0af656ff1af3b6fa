"""The catalogue: unit prices of SKUs, read from the inventory table's stock items."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.dynamo import TRANSIENT_CODES, error_code, from_item
from pipeline.adapters.inventory import stock_key
from pipeline.domain.errors import StoreUnavailable

# BatchGetItem reads at most 100 keys per call (DynamoDB API reference).
BATCH = 100


class Catalog:
    """Looks up prices of SKUs. ``client`` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def prices(self, skus: Iterable[str]) -> dict[str, Decimal]:
        """Unit prices of the SKUs that exist; unknown SKUs are simply absent."""
        wanted = sorted(set(skus))
        found: dict[str, Decimal] = {}
        for start in range(0, len(wanted), BATCH):
            request = {
                self.table: {
                    "Keys": [stock_key(sku) for sku in wanted[start : start + BATCH]],
                    "ProjectionExpression": "sku, unit_price",
                }
            }
            while request:
                try:
                    page = self.client.batch_get_item(RequestItems=request)
                except ClientError as error:
                    if error_code(error) in TRANSIENT_CODES:
                        raise StoreUnavailable(
                            f"catalogue unavailable: {error_code(error)}"
                        ) from error
                    raise
                for item in page["Responses"].get(self.table, []):
                    data = from_item(item)
                    found[data["sku"]] = Decimal(str(data["unit_price"])).quantize(Decimal("0.01"))
                request = page.get("UnprocessedKeys") or {}
        return found
