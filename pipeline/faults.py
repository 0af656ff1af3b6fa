"""Injected faults as one typed, validated value, shared by the local runtime, its handlers,
the chaos suite and the simulator.

:class:`Faults` has one field per knob. A knob also has the name it carries in a Lambda
function's environment (``FAKE_GATEWAY_ERROR_RATE``, ..., and ``AWS_MAX_ATTEMPTS``, which
botocore reads itself): the local runtime puts :meth:`Faults.to_environment` into the
handlers' environment, and the handlers read it back with :meth:`Faults.from_environment`,
so a misspelt knob or a value that is not a number fails here, in one place, naming the
valid knobs, instead of silently becoming 0. :data:`SCENARIOS` names sets of faults, run
knob for knob by the local runtime and the simulator; :func:`scenario` seeds one for a run.

This module sits below the handlers, the local runtime and the simulator, and imports none
of them.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.seeds import stream_seed

FAKE_PREFIX = "FAKE_"
RATE, SECONDS, COUNT, ATTEMPTS, SEED = "rate", "seconds", "count", "attempts", "seed"


def _knob(name: str, kind: str, default: Any = None) -> Any:
    """A field carried in the environment as ``name``; ``kind`` says what values it takes."""
    if default is None:
        default = {RATE: 0.0, SECONDS: 0.0, COUNT: 0, SEED: 0, ATTEMPTS: None}[kind]
    return field(default=default, metadata={"knob": name, "kind": kind})


@dataclass(frozen=True)
class Faults:
    """Every fault injected into one run; the defaults inject nothing.

    Rates are probabilities in [0, 1], per call or per delivery, drawn from seeded streams.
    The simulator models the knobs up to ``firehose_duplicate_rate``; the ones after it only
    the local runtime and the chaos suite (:mod:`pipeline.chaos`) use.
    """

    gateway_decline_rate: float = _knob("FAKE_GATEWAY_DECLINE_RATE", RATE)
    """The payment gateway declines an authorization (the order is cancelled)."""
    gateway_error_rate: float = _knob("FAKE_GATEWAY_ERROR_RATE", RATE)
    """The gateway answers 5xx before doing anything (a clean retry succeeds)."""
    carrier_failure_rate: float = _knob("FAKE_CARRIER_FAILURE_RATE", RATE)
    """The carrier API is down for a label request."""
    carrier_outage_s: float = _knob("FAKE_CARRIER_OUTAGE_S", SECONDS)
    """The carrier is down for this many seconds from the first label request, on the
    runtime's clock."""
    start_throttle_rate: float = _knob("FAKE_START_THROTTLE_RATE", RATE)
    """EventBridge cannot start the target (StartExecution throttled): retried by the
    target's retry policy, then dead-lettered."""
    lambda_throttle_rate: float = _knob("FAKE_LAMBDA_THROTTLE_RATE", RATE)
    """A task's Lambda invocation is throttled: retried by the state machine."""
    duplicate_delivery_rate: float = _knob("FAKE_DUPLICATE_DELIVERY_RATE", RATE)
    """EventBridge delivers an event twice (at-least-once delivery)."""
    task_timeout_rate: float = _knob("FAKE_TASK_TIMEOUT_RATE", RATE)
    """A task times out after its handler did its work, before the state machine saw the
    result: the retry must not repeat the side effect."""
    dynamodb_throttle_rate: float = _knob("FAKE_DYNAMODB_THROTTLE_RATE", RATE)
    """The endpoint answers a DynamoDB data call with ProvisionedThroughputExceededException
    (per SDK attempt): boto3 retries, then the adapters' transient errors and the state
    machines' retries take over."""
    aws_max_attempts: int | None = _knob("AWS_MAX_ATTEMPTS", ATTEMPTS)
    """Attempts the AWS SDK makes per call (botocore's own ``AWS_MAX_ATTEMPTS``); None leaves
    the SDK's default (the simulator then models 3). With 2, most DynamoDB throttles reach
    the adapters."""
    firehose_duplicate_rate: float = _knob("FAKE_FIREHOSE_DUPLICATE_RATE", RATE)
    """Firehose stores an audit record twice (at-least-once delivery into the lake)."""
    gateway_timeout_rate: float = _knob("FAKE_GATEWAY_TIMEOUT_RATE", RATE)
    """(Chaos only.) The gateway charges, then times out: the retry must be answered from its
    idempotency record."""
    gateway_refund_error_rate: float = _knob("FAKE_GATEWAY_REFUND_ERROR_RATE", RATE)
    """(Chaos only.) Refunds and voids fail: a compensation that cannot complete."""
    delivery_delay_rate: float = _knob("FAKE_DELIVERY_DELAY_RATE", RATE)
    """(Chaos only.) An EventBridge delivery is held back, so it arrives after later
    events."""
    delivery_delay_s: float = _knob("FAKE_DELIVERY_DELAY_S", SECONDS, 60.0)
    """(Chaos only.) The longest a held-back delivery waits (uniform from 1 s)."""
    poison_records: int = _knob("FAKE_POISON_RECORDS", COUNT)
    """(Chaos only.) Unreadable items written to the event store before the run: its stream
    consumers fail on them for good."""
    gateway_seed: int = _knob("FAKE_GATEWAY_SEED", SEED)
    """Seed of the fake payment gateway's random stream."""
    carrier_seed: int = _knob("FAKE_CARRIER_SEED", SEED)
    """Seed of the carrier fault's random stream."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _checked(f, getattr(self, f.name)))

    @classmethod
    def knobs(cls) -> dict[str, str]:
        """Every knob's environment name -> its field name, in field order."""
        return {f.metadata["knob"]: f.name for f in dataclasses.fields(cls)}

    @classmethod
    def from_knobs(cls, knobs: Mapping[str, Any]) -> Faults:
        """From knob names and their values (strings, as in an environment, or numbers).
        Every name must be a knob: an unknown one raises ValueError naming the valid ones;
        so does a value that is not a number of the knob's kind or is out of its range."""
        fields = cls.knobs()
        unknown = [name for name in knobs if name not in fields]
        if unknown:
            raise ValueError(_unknown_message(unknown, fields))
        by_field = {f.name: f for f in dataclasses.fields(cls)}
        return cls(**{fields[name]: _value(by_field[fields[name]], v) for name, v in knobs.items()})

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Faults:
        """From a process's (a Lambda function's) environment: the knobs in it are read as
        :meth:`from_knobs` reads them, an unknown ``FAKE_*`` name raises, and every other
        variable is ignored."""
        fields = cls.knobs()
        return cls.from_knobs(
            {name: v for name, v in env.items() if name in fields or name.startswith(FAKE_PREFIX)}
        )

    def to_environment(self) -> dict[str, str]:
        """The environment variables that carry these faults to the handlers: every
        ``FAKE_*`` knob, and ``AWS_MAX_ATTEMPTS`` when it is set."""
        return {
            f.metadata["knob"]: str(value)
            for f in dataclasses.fields(self)
            if (value := getattr(self, f.name)) is not None
        }

    def seeded(self, seed: int) -> Faults:
        """These faults with the gateway's and the carrier's streams seeded from ``seed``."""
        return dataclasses.replace(
            self,
            gateway_seed=stream_seed(seed, "gateway"),
            carrier_seed=stream_seed(seed, "carrier"),
        )


def _unknown_message(unknown: list[str], valid: Mapping[str, str]) -> str:
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, list(valid), n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]}?)" if close else ""))
    return f"unknown fault knob {', '.join(hints)}; valid knobs: {', '.join(valid)}"


def _value(f: dataclasses.Field[Any], given: Any) -> Any:
    """A knob's value from its environment string (or a number given directly), checked;
    a ValueError names the knob and shows the value as it was given."""
    if not isinstance(given, str):
        return _checked(f, given)
    kind = f.metadata["kind"]
    try:
        value = float(given) if kind in (RATE, SECONDS) else int(given)
    except ValueError:
        what = "a number" if kind in (RATE, SECONDS) else "a whole number"
        raise ValueError(f"{f.metadata['knob']}={given!r}: not {what}") from None
    return _checked(f, value, given)


def _checked(f: dataclasses.Field[Any], value: Any, given: Any = None) -> Any:
    """``value`` as the knob's type, or ValueError saying what the knob takes (showing
    ``given``, the value as it was written, when there is one)."""
    kind = f.metadata["kind"]
    shown = f"{f.metadata['knob']}={value if given is None else given!r}"
    if kind == ATTEMPTS and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{shown}: not a number")
    if kind in (RATE, SECONDS):
        return _checked_real(kind, float(value), shown)
    return _checked_whole(kind, value, shown)


def _checked_real(kind: str, value: float, shown: str) -> float:
    """A rate or a number of seconds, checked (``shown`` is the knob as written)."""
    if not math.isfinite(value):
        raise ValueError(f"{shown}: not a finite number")
    if kind == RATE and not 0.0 <= value <= 1.0:
        raise ValueError(f"{shown}: a rate is between 0 and 1")
    if kind == SECONDS and value < 0:
        raise ValueError(f"{shown}: seconds cannot be negative")
    return value


def _checked_whole(kind: str, value: int | float, shown: str) -> int:
    """A count or a number of attempts, checked (``shown`` is the knob as written)."""
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{shown}: not a whole number")
        value = int(value)
    if kind == COUNT and value < 0:
        raise ValueError(f"{shown}: a count cannot be negative")
    if kind == ATTEMPTS and value < 1:
        raise ValueError(f"{shown}: at least 1 attempt")
    return value


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
