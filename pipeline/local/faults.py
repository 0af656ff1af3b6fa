"""Named fault scenarios for local runs (and the simulator, knob for knob): each is a
:class:`~pipeline.faults.Faults`, whose fields document every knob; :func:`scenario` seeds
one for a run."""

from __future__ import annotations

from pipeline.faults import Faults

__all__ = ["SCENARIOS", "Faults", "scenario"]

SCENARIOS: dict[str, Faults] = {
    "none": Faults(),
    "default": Faults(
        gateway_decline_rate=0.05,
        gateway_error_rate=0.05,
        carrier_failure_rate=0.1,
        start_throttle_rate=0.02,
        lambda_throttle_rate=0.02,
        duplicate_delivery_rate=0.05,
        task_timeout_rate=0.02,
        dynamodb_throttle_rate=0.02,
    ),
    "declines": Faults(gateway_decline_rate=0.3),
    "payment-outage": Faults(gateway_error_rate=0.6),
    "carrier-outage": Faults(carrier_failure_rate=1.0),
    # The carrier is down for the first 40 s of pipeline time: label retries (2 s doubling,
    # full jitter, 5 attempts: at most 62 s) outlast it for some orders; the rest compensate.
    "carrier-outage-window": Faults(carrier_outage_s=40),
    "throttling": Faults(start_throttle_rate=0.3, lambda_throttle_rate=0.2),
    # EventBridge delivers half the events twice, and Firehose stores a fifth of the audit
    # records twice (a retried batch): the lake holds copies the analytics must not count.
    "duplicates": Faults(duplicate_delivery_rate=0.5, firehose_duplicate_rate=0.2),
    "timeouts": Faults(task_timeout_rate=0.25),
    # boto3 retries a throttled call itself (10 attempts for DynamoDB); with 2 attempts most
    # throttles reach the adapters, whose transient errors the state machines retry.
    "dynamodb-throttling": Faults(dynamodb_throttle_rate=0.2, aws_max_attempts=2),
    # EventBridge mostly cannot start targets: many events exhaust their retry policy, land in
    # the DLQs, and the remediation Lambda redrives them on its schedule.
    "target-outage": Faults(start_throttle_rate=0.9),
}


def scenario(name: str, seed: int) -> Faults:
    """The faults of a named scenario, with every seeded component seeded from ``seed``."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose from {sorted(SCENARIOS)}")
    return SCENARIOS[name].seeded(seed)
