"""The pipeline's shape, read from ``infra/``: nothing about it is restated in the simulator.

Rules (their event patterns), each rule's state-machine target with its retry policy and
dead-letter queue, the state machines' ASL documents, and which function each Task calls.
Changing a retry policy or a rule in the template changes the simulation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.local.functions import task_functions
from pipeline.template import RuleTarget, Template


@dataclass(frozen=True)
class SimMachine:
    """A state machine's ASL, with each Task's ``Resource`` mapped to a function logical id."""

    machine_id: str
    definition: Mapping[str, Any]
    functions: Mapping[str, str]  # Task Resource as written in the ASL -> function logical id
    workflow_type: str  # STANDARD or EXPRESS


@dataclass(frozen=True)
class Topology:
    rules: tuple[RuleTarget, ...]
    machines: Mapping[str, SimMachine]

    @classmethod
    def from_template(cls, template: Template) -> Topology:
        machines = {
            machine_id: SimMachine(
                machine_id=machine_id,
                definition=template.state_machine_definition(machine_id),
                functions=task_functions(template, machine_id),
                workflow_type=str(template.properties(machine_id).get("Type", "STANDARD")),
            )
            for machine_id, _ in template.of_type("AWS::Serverless::StateMachine")
        }
        return cls(tuple(template.rule_targets()), machines)

    def targets_of(self, event: Mapping[str, Any]) -> list[RuleTarget]:
        """The rules whose pattern matches ``event`` (source, detail-type, detail fields)."""
        return [rule for rule in self.rules if matches(rule.pattern, event)]


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge pattern matching for the forms the template uses: each field's value must
    be one of the listed values, nested objects match recursively, and fields the pattern
    leaves out are free (EventBridge user guide, "Event patterns")."""
    for key, expected in pattern.items():
        if key not in event:
            return False
        actual = event[key]
        if isinstance(expected, Mapping):
            if not isinstance(actual, Mapping) or not matches(expected, actual):
                return False
        elif isinstance(expected, list):
            if not _any_matches(expected, actual):
                return False
        elif expected != actual:
            return False
    return True


def _any_matches(allowed: list[Any], actual: Any) -> bool:
    values = actual if isinstance(actual, list) else [actual]
    for option in allowed:
        if isinstance(option, Mapping):
            if "prefix" in option and any(
                isinstance(v, str) and v.startswith(option["prefix"]) for v in values
            ):
                return True
            if "anything-but" in option:
                excluded = option["anything-but"]
                excluded = excluded if isinstance(excluded, list) else [excluded]
                if any(v not in excluded for v in values):
                    return True
            if option.get("exists") is True:
                return True
        elif option in values:
            return True
    return False
