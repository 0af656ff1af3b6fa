"""Cost per order from a dated price table (us-east-1, on-demand, as published by AWS in 2025;
check the pricing pages before relying on a figure: prices change and vary by region).

Counts of billable units per order come from the simulation (transitions, invocations,
GB-seconds, request units, events, bytes); the table turns them into dollars.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

PRICES_AS_OF = "2025 (us-east-1, on-demand)"


@dataclass(frozen=True)
class PriceTable:
    # Step Functions Standard: $0.025 per 1,000 state transitions (us-east-1; up to $0.0375
    # in other regions).
    sfn_standard_per_transition: Decimal = Decimal("0.000025")
    # Step Functions Express: $1.00 per million requests and $0.00001667 per GB-second
    # (billed in 100 ms steps and 64 MB chunks). That is the first 1,000 GB-hours a month;
    # beyond them about $0.0000083 and then $0.0000046 (not modelled: a run is priced as if
    # it were the month's first usage, which overstates Express duration cost at volume).
    sfn_express_per_request: Decimal = Decimal("0.000001")
    sfn_express_per_gb_s: Decimal = Decimal("0.00001667")
    # Lambda: $0.20 per million requests; $0.0000166667 per GB-second on x86, $0.0000133334
    # on arm64 (Graviton), first pricing tier.
    lambda_per_request: Decimal = Decimal("0.0000002")
    lambda_per_gb_s: Decimal = Decimal("0.0000166667")
    lambda_arm_per_gb_s: Decimal = Decimal("0.0000133334")
    # API Gateway REST APIs: $3.50 per million requests (first 333 million a month).
    api_gateway_per_request: Decimal = Decimal("0.0000035")
    # DynamoDB on-demand (after the November 2024 price cut): $0.625 per million write request
    # units, $0.125 per million read request units; streams reads by Lambda are free.
    dynamodb_per_wru: Decimal = Decimal("0.000000625")
    dynamodb_per_rru: Decimal = Decimal("0.000000125")
    # EventBridge: $1.00 per million custom events published (64 KB chunks).
    eventbridge_per_event: Decimal = Decimal("0.000001")
    # Firehose: $0.029 per GB ingested (5 KB record rounding) + $0.018 per GB converted to
    # Parquet.
    firehose_per_gb: Decimal = Decimal("0.029")
    firehose_conversion_per_gb: Decimal = Decimal("0.018")
    # S3: $0.005 per 1,000 PUT requests; storage left out (it depends on retention).
    s3_per_put: Decimal = Decimal("0.000005")
    # Athena: $5 per TB scanned (10 MB minimum per query).
    athena_per_tb: Decimal = Decimal("5")


UNIT_PRICES = {
    "sfn_standard_transitions": "sfn_standard_per_transition",
    "sfn_express_requests": "sfn_express_per_request",
    "sfn_express_gb_s": "sfn_express_per_gb_s",
    "lambda_requests": "lambda_per_request",
    "lambda_gb_s": "lambda_per_gb_s",
    "lambda_arm_gb_s": "lambda_arm_per_gb_s",
    "api_gateway_requests": "api_gateway_per_request",
    "dynamodb_wru": "dynamodb_per_wru",
    "dynamodb_rru": "dynamodb_per_rru",
    "eventbridge_events": "eventbridge_per_event",
    "firehose_gb": "firehose_per_gb",
    "firehose_conversion_gb": "firehose_conversion_per_gb",
    "s3_puts": "s3_per_put",
    "athena_tb": "athena_per_tb",
}


# The service each unit is billed by, for a breakdown.
SERVICES = {
    "sfn_standard_transitions": "Step Functions",
    "sfn_express_requests": "Step Functions",
    "sfn_express_gb_s": "Step Functions",
    "lambda_requests": "Lambda",
    "lambda_gb_s": "Lambda",
    "lambda_arm_gb_s": "Lambda",
    "api_gateway_requests": "API Gateway",
    "dynamodb_wru": "DynamoDB",
    "dynamodb_rru": "DynamoDB",
    "eventbridge_events": "EventBridge",
    "firehose_gb": "Firehose",
    "firehose_conversion_gb": "Firehose",
    "s3_puts": "S3",
    "athena_tb": "Athena",
}


def cost(units: Mapping[str, float | int | Decimal], prices: PriceTable | None = None) -> Decimal:
    """Dollars for these billable units; an unknown unit is an error, not a free lunch."""
    prices = prices or PriceTable()
    total = Decimal("0")
    for unit, amount in units.items():
        if unit not in UNIT_PRICES:
            raise KeyError(f"no price for {unit!r}; known: {sorted(UNIT_PRICES)}")
        total += Decimal(str(amount)) * getattr(prices, UNIT_PRICES[unit])
    return total


def per_thousand_orders(units: Mapping[str, float | int | Decimal], orders: int) -> Decimal:
    """Cost of 1,000 orders, from the units a run of ``orders`` orders used."""
    if orders <= 0:
        raise ValueError("orders must be positive")
    return cost(units) * 1000 / orders


def per_thousand_orders_by_service(
    units: Mapping[str, float | int | Decimal], orders: int
) -> dict[str, Decimal]:
    """:func:`per_thousand_orders` split by service (``SERVICES``), costliest first."""
    if orders <= 0:
        raise ValueError("orders must be positive")
    by_service: dict[str, Decimal] = {}
    for unit, amount in units.items():
        service = SERVICES.get(unit, unit)
        by_service[service] = by_service.get(service, Decimal(0)) + cost({unit: amount})
    ranked = sorted(by_service.items(), key=lambda kv: kv[1], reverse=True)
    return {service: dollars * 1000 / orders for service, dollars in ranked}
