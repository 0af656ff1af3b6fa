"""Failures the simulator injects, seeded: per-task error rates with their error names,
outage windows, duplicate deliveries and poison messages.

Error names are the ones the handlers raise (``pipeline.domain.errors``), so the state
machines' Retry and Catch clauses, read from the ASL, decide what happens, as they do locally.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field


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
    """Everything injected into one run, keyed by task (``"Function:action"``)."""

    tasks: dict[str, TaskErrors] = field(default_factory=dict)
    outages: dict[str, list[Outage]] = field(default_factory=dict)
    duplicate_delivery: float = 0.0  # EventBridge delivers an event twice
    poison_share: float = 0.0  # events no handler can ever process (they end in a DLQ)
    seed: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

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
