"""Failures the simulator injects, seeded: per-task error rates with their error names,
outage windows, duplicate deliveries and poison messages.

Error names are the ones the handlers raise (``pipeline.domain.errors``), so the state
machines' Retry and Catch clauses, read from the ASL, decide what happens, as they do locally.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.faults import Faults, scenario
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
    """A dependency down from ``start_s`` for ``length_s``: every call fails with ``error``.
    ``from_first_call``: ``start_s`` counts from the first call of the task (as the local
    runtime's carrier outage does), not from the start of the run."""

    start_s: float
    length_s: float
    error: str
    from_first_call: bool = False

    def active(self, now: float, first_call: float = 0.0) -> bool:
        start = self.start_s + (first_call if self.from_first_call else 0.0)
        return start <= now < start + self.length_s


class Bernoulli:
    """Independent trials that succeed with probability ``p``, drawn as geometric gaps: one
    random number per success instead of one per trial (the same distribution; rare faults
    then cost almost nothing to ask about)."""

    __slots__ = ("_log_q", "left", "p", "rng")

    def __init__(self, p: float, rng: random.Random) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"a probability is between 0 and 1, not {p}")
        self.p, self.rng = p, rng
        self._log_q = math.log1p(-p) if 0 < p < 1 else 0.0
        self.left = self._gap()

    def _gap(self) -> float:
        """Trials up to and including the next success."""
        if self.p <= 0:
            return math.inf
        if self.p >= 1:
            return 1
        return math.floor(math.log(1.0 - self.rng.random()) / self._log_q) + 1

    def __call__(self) -> bool:
        self.left -= 1
        if self.left > 0:
            return False
        self.left = self._gap()
        return True


SDK_ATTEMPTS = 3  # attempts botocore makes per call in standard mode


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
    dynamodb_attempts: int = SDK_ATTEMPTS  # attempts the SDK makes
    lake_duplicate: float = 0.0  # Firehose stores an audit record twice
    seed: int = 0
    rng: random.Random = field(init=False, compare=False)

    def __post_init__(self) -> None:
        self._first_calls: dict[str, float] = {}  # task -> time of its first call
        self.rng = rng = random.Random(stream_seed(self.seed, "faults"))
        self.delivered_twice = Bernoulli(self.duplicate_delivery, rng)
        self.is_poison = Bernoulli(self.poison_share, rng)
        self.start_throttled = Bernoulli(self.start_throttle, rng)
        self.lambda_throttled = Bernoulli(self.lambda_throttle, rng)
        self.timed_out = Bernoulli(self.task_timeout, rng)
        self.lake_redelivered = Bernoulli(self.lake_duplicate, rng)
        # a DynamoDB call throttled on every SDK attempt: the SDK gives up
        self.dynamodb_fails = Bernoulli(self.dynamodb_throttle**self.dynamodb_attempts, rng)

    @classmethod
    def from_scenario(cls, name: str, seed: int = 0) -> FailureModel:
        """The local runtime's named scenario (``pipeline.faults.SCENARIOS``), knob for knob, so a
        scenario means the same in the local cloud and in the simulator."""
        return cls.from_faults(scenario(name, seed), seed)

    @classmethod
    def from_faults(cls, faults: Faults, seed: int = 0) -> FailureModel:
        """The faults the local runtime injects (:class:`pipeline.faults.Faults`), as the
        simulator models them; the chaos-only knobs are not modelled."""
        decline = faults.gateway_decline_rate
        gateway = faults.gateway_error_rate
        carrier = faults.carrier_failure_rate
        outage_s = faults.carrier_outage_s
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
            {"carrier.create_label": [Outage(0.0, outage_s, "CarrierUnavailable", True)]}
            if outage_s
            else {}
        )
        return cls(
            tasks={k: v for k, v in tasks.items() if any(v.rates.values())},
            outages=outages,
            duplicate_delivery=faults.duplicate_delivery_rate,
            start_throttle=faults.start_throttle_rate,
            lambda_throttle=faults.lambda_throttle_rate,
            task_timeout=faults.task_timeout_rate,
            dynamodb_throttle=faults.dynamodb_throttle_rate,
            dynamodb_attempts=(
                SDK_ATTEMPTS if faults.aws_max_attempts is None else faults.aws_max_attempts
            ),
            lake_duplicate=faults.firehose_duplicate_rate,
            seed=seed,
        )

    def error_for(self, task: str, now: float) -> str | None:
        """The error a call of ``task`` at ``now`` fails with, or None."""
        outages = self.outages.get(task)
        if outages:
            first = self._first_calls.setdefault(task, now)
            for outage in outages:
                if outage.active(now, first):
                    return outage.error
        errors = self.tasks.get(task)
        return errors.draw(self.rng) if errors else None
