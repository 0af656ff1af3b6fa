"""Failures the simulator injects, seeded: per-task error rates with their error names,
outage windows, duplicate deliveries and poison messages.

Error names are the ones the handlers raise (``pipeline.domain.errors``), so the state
machines' Retry and Catch clauses, read from the ASL, decide what happens, as they do locally.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.local.faults import scenario
from pipeline.seeds import stream_seed


@dataclass(frozen=True)
class TaskErrors:
    """For one task (a Lambda function and action): error name -> probability per call."""

    rates: Mapping[str, float]

    def __post_init__(self) -> None:
        if any(p < 0 for p in self.rates.values()) or sum(self.rates.values()) > 1:
            raise ValueError("error rates must be non-negative and sum to at most 1")

    def draw(self, rng: random.Random) -> str | None:
        """The error this call fails with, or None when it succeeds."""
        roll = rng.random()
        for name, rate in self.rates.items():
            if roll < rate:
                return name
            roll -= rate
        return None


@dataclass(frozen=True)
class Outage:
    """A dependency down from ``start_s`` for ``length_s``: every call fails with ``error``."""

    start_s: float
    length_s: float
    error: str

    def active(self, now: float) -> bool:
        return self.start_s <= now < self.start_s + self.length_s


@dataclass
class FailureModel:
    """Everything injected into one run. ``tasks`` and ``outages`` are keyed by the dependency
    call that fails (``"gateway.capture"``, ``"carrier.create_label"``, ...)."""

    tasks: dict[str, TaskErrors] = field(default_factory=dict)
    outages: dict[str, list[Outage]] = field(default_factory=dict)
    duplicate_delivery: float = 0.0  # EventBridge delivers an event twice
    poison_share: float = 0.0  # orders no handler can ever process (their executions fail)
    start_throttle: float = 0.0  # EventBridge cannot start the target (retried, then DLQ)
    lambda_throttle: float = 0.0  # a task's Lambda invocation is throttled
    task_timeout: float = 0.0  # a task times out after its handler did its work
    dynamodb_throttle: float = 0.0  # a DynamoDB call is throttled (per attempt)
    dynamodb_attempts: int = 3  # attempts the SDK makes (botocore standard mode: 3)
    seed: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(stream_seed(self.seed, "faults"))

    @classmethod
    def from_scenario(cls, name: str, seed: int = 0) -> FailureModel:
        """The local runtime's named scenario (``pipeline.local.faults``), knob for knob, so a
        scenario means the same in the local cloud and in the simulator."""
        knobs = {k: float(v) for k, v in scenario(name, seed).items()}
        decline = knobs.get("FAKE_GATEWAY_DECLINE_RATE", 0.0)
        gateway = knobs.get("FAKE_GATEWAY_ERROR_RATE", 0.0)
        carrier = knobs.get("FAKE_CARRIER_FAILURE_RATE", 0.0)
        outage_s = knobs.get("FAKE_CARRIER_OUTAGE_S", 0.0)
        # The fake gateway rolls its 503 first, then (authorize only) the decline.
        tasks = {
            "gateway.authorize": TaskErrors(
                {"GatewayUnavailable": gateway, "PaymentDeclined": (1 - gateway) * decline}
            ),
            **{
                f"gateway.{op}": TaskErrors({"GatewayUnavailable": gateway})
                for op in ("capture", "void", "refund")
            },
            "carrier.create_label": TaskErrors({"CarrierUnavailable": carrier}),
        }
        outages = (
            {"carrier.create_label": [Outage(0.0, outage_s, "CarrierUnavailable")]}
            if outage_s
            else {}
        )
        return cls(
            tasks={k: v for k, v in tasks.items() if any(v.rates.values())},
            outages=outages,
            duplicate_delivery=knobs.get("FAKE_DUPLICATE_DELIVERY_RATE", 0.0),
            start_throttle=knobs.get("FAKE_START_THROTTLE_RATE", 0.0),
            lambda_throttle=knobs.get("FAKE_LAMBDA_THROTTLE_RATE", 0.0),
            task_timeout=knobs.get("FAKE_TASK_TIMEOUT_RATE", 0.0),
            dynamodb_throttle=knobs.get("FAKE_DYNAMODB_THROTTLE_RATE", 0.0),
            dynamodb_attempts=int(knobs.get("AWS_MAX_ATTEMPTS", 3)),
            seed=seed,
        )

    def chance(self, probability: float) -> bool:
        """One seeded draw: True with ``probability`` (no draw when it is zero)."""
        return probability > 0 and self.rng.random() < probability

    def dynamodb_fails(self) -> bool:
        """Whether a DynamoDB call is throttled on every SDK attempt (the SDK gives up)."""
        return self.dynamodb_throttle > 0 and self.rng.random() < self._gives_up

    @property
    def _gives_up(self) -> float:
        return self.dynamodb_throttle**self.dynamodb_attempts

    def error_for(self, task: str, now: float) -> str | None:
        """The error a call of ``task`` at ``now`` fails with, or None."""
        for outage in self.outages.get(task, []):
            if outage.active(now):
                return outage.error
        errors = self.tasks.get(task)
        return errors.draw(self.rng) if errors else None

    def delivered_twice(self) -> bool:
        return self.duplicate_delivery > 0 and self.rng.random() < self.duplicate_delivery

    def is_poison(self) -> bool:
        return self.poison_share > 0 and self.rng.random() < self.poison_share
