"""Named fault scenarios for local runs: each sets the seeded knobs the components read.

Knobs: FAKE_GATEWAY_DECLINE_RATE / FAKE_GATEWAY_ERROR_RATE (payment gateway declines and
5xx), FAKE_CARRIER_FAILURE_RATE (carrier API down), FAKE_CARRIER_OUTAGE_S (carrier down for a
window at the start of the run, on the runtime's clock), FAKE_START_THROTTLE_RATE (EventBridge
cannot start the target: retried, then dead-lettered), FAKE_LAMBDA_THROTTLE_RATE (a task's
Lambda invocation throttled: retried by the state machine), FAKE_DUPLICATE_DELIVERY_RATE
(EventBridge delivers an event twice: at-least-once), FAKE_TASK_TIMEOUT_RATE (a task times out
after its handler did its work, before the state machine saw the result: the retry must not
repeat the side effect), FAKE_DYNAMODB_THROTTLE_RATE (the endpoint answers DynamoDB data
calls with ProvisionedThroughputExceededException; boto3 retries, then the adapters' transient
errors and the state machines' retries take over), FAKE_FIREHOSE_DUPLICATE_RATE (Firehose
stores an audit record twice: at-least-once delivery into the lake).

Knobs only the chaos suite (:mod:`pipeline.chaos`) sets, which the simulator does not model:
FAKE_GATEWAY_TIMEOUT_RATE (the gateway charges, then times out: the retry must be answered
from its idempotency record), FAKE_GATEWAY_REFUND_ERROR_RATE (refunds and voids fail: a
compensation that cannot complete), FAKE_DELIVERY_DELAY_RATE / FAKE_DELIVERY_DELAY_S
(EventBridge deliveries held back, so they arrive after later events), FAKE_POISON_RECORDS
(unreadable items written to the event store: its stream consumers fail on them for good).
"""

from __future__ import annotations

from pipeline.seeds import stream_seed

SCENARIOS: dict[str, dict[str, str]] = {
    "none": {},
    "default": {
        "FAKE_GATEWAY_DECLINE_RATE": "0.05",
        "FAKE_GATEWAY_ERROR_RATE": "0.05",
        "FAKE_CARRIER_FAILURE_RATE": "0.1",
        "FAKE_START_THROTTLE_RATE": "0.02",
        "FAKE_LAMBDA_THROTTLE_RATE": "0.02",
        "FAKE_DUPLICATE_DELIVERY_RATE": "0.05",
        "FAKE_TASK_TIMEOUT_RATE": "0.02",
        "FAKE_DYNAMODB_THROTTLE_RATE": "0.02",
    },
    "declines": {"FAKE_GATEWAY_DECLINE_RATE": "0.3"},
    "payment-outage": {"FAKE_GATEWAY_ERROR_RATE": "0.6"},
    "carrier-outage": {"FAKE_CARRIER_FAILURE_RATE": "1.0"},
    # The carrier is down for the first 40 s of pipeline time: label retries (2 s doubling,
    # full jitter, 5 attempts: at most 62 s) outlast it for some orders; the rest compensate.
    "carrier-outage-window": {"FAKE_CARRIER_OUTAGE_S": "40"},
    "throttling": {"FAKE_START_THROTTLE_RATE": "0.3", "FAKE_LAMBDA_THROTTLE_RATE": "0.2"},
    # EventBridge delivers half the events twice, and Firehose stores a fifth of the audit
    # records twice (a retried batch): the lake holds copies the analytics must not count.
    "duplicates": {"FAKE_DUPLICATE_DELIVERY_RATE": "0.5", "FAKE_FIREHOSE_DUPLICATE_RATE": "0.2"},
    "timeouts": {"FAKE_TASK_TIMEOUT_RATE": "0.25"},
    # boto3 retries a throttled call itself (10 attempts for DynamoDB); with 2 attempts most
    # throttles reach the adapters, whose transient errors the state machines retry.
    "dynamodb-throttling": {"FAKE_DYNAMODB_THROTTLE_RATE": "0.2", "AWS_MAX_ATTEMPTS": "2"},
    # EventBridge mostly cannot start targets: many events exhaust their retry policy, land in
    # the DLQs, and the remediation Lambda redrives them on its schedule.
    "target-outage": {"FAKE_START_THROTTLE_RATE": "0.9"},
}


def scenario(name: str, seed: int) -> dict[str, str]:
    """The knobs of a named scenario, with every seeded component seeded from ``seed``."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose from {sorted(SCENARIOS)}")
    return {
        **SCENARIOS[name],
        "FAKE_GATEWAY_SEED": str(stream_seed(seed, "gateway")),
        "FAKE_CARRIER_SEED": str(stream_seed(seed, "carrier")),
    }
