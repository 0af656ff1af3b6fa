"""The state machines and the code agree on error names (errors.py is the one mapping)."""

from __future__ import annotations

import inspect

from pipeline.domain import errors
from pipeline.template import Template

AWS_PREFIXES = ("States.", "Lambda.")


def _tasks(template: Template):
    for machine_id, _ in template.of_type("AWS::Serverless::StateMachine"):
        definition = template.state_machine_definition(machine_id)
        for name, state in definition["States"].items():
            if state["Type"] == "Task":
                yield machine_id, name, state


def _domain_error_names() -> set[str]:
    return {
        name
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.PipelineError)
    }


def test_every_error_name_in_the_asl_is_a_domain_error_or_an_aws_one(template):
    known = _domain_error_names()
    for machine_id, state_name, state in _tasks(template):
        for clause in [*state.get("Retry", []), *state.get("Catch", [])]:
            for name in clause["ErrorEquals"]:
                assert name.startswith(AWS_PREFIXES) or name in known, (
                    f"{machine_id}.{state_name} names unknown error {name!r}"
                )


def test_retries_name_only_transient_errors(template):
    for machine_id, state_name, state in _tasks(template):
        for retrier in state.get("Retry", []):
            for name in retrier["ErrorEquals"]:
                if name.startswith(AWS_PREFIXES):
                    continue
                assert getattr(errors, name).transient, f"{machine_id}.{state_name} retries {name}"


def test_every_task_retries_concurrency_conflicts_and_store_faults(template):
    for machine_id, state_name, state in _tasks(template):
        retried = {n for r in state.get("Retry", []) for n in r["ErrorEquals"]}
        assert {"ConcurrencyConflict", "StoreUnavailable"} <= retried, (
            f"{machine_id}.{state_name} must retry optimistic-concurrency conflicts"
        )
