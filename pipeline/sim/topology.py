"""The pipeline's shape, read from ``infra/``: nothing about it is restated in the simulator.

Rules (their event patterns), each rule's state-machine target with its retry policy and
dead-letter queue, the state machines' ASL documents, and which function each Task calls.
Changing a retry policy or a rule in the template changes the simulation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.domain.bus import routes
from pipeline.domain.remediation import RemediationPolicy
from pipeline.template import RuleTarget, Template, most_specific, task_functions

__all__ = [
    "RuleTarget",
    "SimFunction",
    "SimMachine",
    "Topology",
    "api_throttle",
    "api_throttle_setting",
]


@dataclass(frozen=True)
class SimMachine:
    """A state machine's ASL, with each Task's ``Resource`` mapped to a function logical id."""

    machine_id: str
    definition: Mapping[str, Any]
    functions: Mapping[str, str]  # Task Resource as written in the ASL -> function logical id
    workflow_type: str  # STANDARD or EXPRESS


@dataclass(frozen=True)
class SimFunction:
    """A Lambda function's settings that shape its load: memory (billing), timeout, reserved
    concurrency (None: it draws on the account's unreserved pool), architecture (price)."""

    function_id: str
    memory_mb: int
    timeout_s: float
    reserved_concurrency: int | None
    architecture: str


@dataclass(frozen=True)
class Topology:
    rules: tuple[RuleTarget, ...]
    machines: Mapping[str, SimMachine]
    functions: Mapping[str, SimFunction]
    # The DLQ remediation function's schedule, in seconds (None: no remediation), and its
    # policy with the template's MAX_REDRIVE_ATTEMPTS.
    remediation_every_s: float | None = None
    remediation: RemediationPolicy = field(default_factory=RemediationPolicy)
    # The API stage's throttle on placing orders, (rate per second, burst), from the order
    # API's MethodSettings; None: the stage sets none (the account-level quota applies).
    api_throttle: tuple[float, float] | None = None

    def share(self, count: int) -> Topology:
        """The topology of one of ``count`` shards: each function's reserved concurrency
        split (rounded up; a concurrency of 1, a deliberate serialiser, stays 1)."""
        functions = {
            f: replace(fn, reserved_concurrency=-(-fn.reserved_concurrency // count))
            if fn.reserved_concurrency and fn.reserved_concurrency > 1
            else fn
            for f, fn in self.functions.items()
        }
        throttle = self.api_throttle
        if throttle is not None:
            throttle = (throttle[0] / count, max(1.0, throttle[1] / count))
        return replace(self, functions=functions, api_throttle=throttle)

    @classmethod
    def from_template(cls, template: Template) -> Topology:
        machines = {
            machine_id: SimMachine(
                machine_id=machine_id,
                definition=template.state_machine_definition(machine_id),
                functions=task_functions(template, machine_id),
                workflow_type=str(
                    template.value(template.properties(machine_id).get("Type", "STANDARD"))
                ),
            )
            for machine_id, _ in template.of_type("AWS::Serverless::StateMachine")
        }
        functions = {
            function_id: SimFunction(
                function_id,
                int(template.function_setting(function_id, "MemorySize", 128)),
                float(template.function_setting(function_id, "Timeout", 3)),
                _optional_int(
                    template.function_setting(function_id, "ReservedConcurrentExecutions")
                ),
                (template.function_setting(function_id, "Architectures") or ["x86_64"])[0],
            )
            for function_id, _ in template.of_type("AWS::Serverless::Function")
        }
        every, attempts = _remediation(template)
        policy = RemediationPolicy.with_attempts(attempts)
        return cls(
            tuple(template.rule_targets()),
            machines,
            functions,
            every,
            policy,
            api_throttle(template),
        )

    def targets_of(self, event: Mapping[str, Any]) -> list[RuleTarget]:
        """The rules whose pattern matches ``event`` (source, detail-type, detail fields)."""
        return routes(self.rules, event)


# Where the workload enters: placing an order is POST /orders.
ORDERS_PATH, ORDERS_METHOD = "/orders", "POST"


def api_throttle(template: Template) -> tuple[float, float] | None:
    """The stage throttle on ``POST /orders``, (rate per second, burst), from
    :func:`api_throttle_setting`; a ``Ref`` to a parameter reads the parameter's value."""
    setting = api_throttle_setting(template)
    if setting is None:
        return None
    rate, burst = template.throttle_limit(setting)
    return rate, max(1.0, burst)


def api_throttle_setting(template: Template) -> Mapping[str, Any] | None:
    """The API's ``MethodSettings`` entry that throttles ``POST /orders`` (the most specific,
    :func:`pipeline.template.most_specific`), else None. As written: a value may be a
    ``Ref``."""
    throttles = template.method_throttles()
    key = most_specific(throttles, ORDERS_PATH, ORDERS_METHOD)
    return None if key is None else throttles[key]


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|second|seconds)\)")
_UNIT_S = {"second": 1, "minute": 60, "hour": 3600}


def _remediation(template: Template) -> tuple[float | None, int]:
    """The DLQ remediation schedule (its ``rate(...)`` event) and MAX_REDRIVE_ATTEMPTS."""
    for function_id, _ in template.of_type("AWS::Serverless::Function"):
        env = template.function_environment(function_id)
        if "MAX_REDRIVE_ATTEMPTS" not in env:
            continue
        attempts = env["MAX_REDRIVE_ATTEMPTS"]
        if isinstance(attempts, Mapping):  # !Ref MaxRedriveAttempts: the parameter's default
            attempts = template.body["Parameters"][attempts["Ref"]]["Default"]
        for event in template.properties(function_id).get("Events", {}).values():
            found = _RATE.fullmatch(str(event.get("Properties", {}).get("Schedule", "")))
            if event.get("Type") == "Schedule" and found:
                unit = found.group(2).rstrip("s")
                return float(found.group(1)) * _UNIT_S[unit], int(attempts)
    return None, 0
