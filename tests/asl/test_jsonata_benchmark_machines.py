"""The ASL benchmark's two machines (``benchmarks/asl_machines.py``) are the same machine: in
JSONPath and in JSONata they route, retry, catch and compensate alike, call their resources
with the same payloads and end in the same status, output, error and cause, so the benchmark
compares like with like. No timing here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks.asl_machines import (
    CASES,
    FAIL_ERROR,
    JSONATA_MACHINE,
    JSONPATH_MACHINE,
    MACHINES,
    Case,
    Gateway,
    event,
)
from pipeline.asl import execute


def run(definition: dict[str, Any], case: Case):
    """Execute ``case``; returns the execution, the actions called and their payloads."""
    gateway = Gateway(case.faults)
    payloads: list[tuple[str, Any]] = []

    def recording(arn: str, resource):
        def call(payload):
            payloads.append((arn, payload))
            return resource(payload)

        return call

    resources = {arn: recording(arn, r) for arn, r in gateway.resources.items()}
    execution = execute(definition, case.fresh_input(), resources)
    return execution, gateway.calls, payloads


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def entered(execution) -> list[str]:
    """The states the execution entered, in order (from its history)."""
    names = []
    for e in execution.history:
        kind = e["type"]
        if kind.endswith("StateEntered"):
            names.append(e[kind[0].lower() + kind[1:] + "EventDetails"]["name"])
    return names


def test_both_machines_have_the_same_ten_states_of_the_same_types():
    path, ata = JSONPATH_MACHINE["States"], JSONATA_MACHINE["States"]
    assert len(path) == len(ata) == 10
    assert {n: s["Type"] for n, s in path.items()} == {n: s["Type"] for n, s in ata.items()}
    assert JSONATA_MACHINE["QueryLanguage"] == "JSONata" and "QueryLanguage" not in JSONPATH_MACHINE
    for name, state in path.items():
        assert state.get("Retry") == ata[name].get("Retry"), name
        assert [c["Next"] for c in state.get("Catch", [])] == [
            c["Next"] for c in ata[name].get("Catch", [])
        ], name


def test_the_cases_cover_every_state_and_every_outcome():
    seen: set[str] = set()
    for case in CASES:
        execution, _, _ = run(JSONPATH_MACHINE, case)
        seen.update(entered(execution))
    assert seen == set(JSONPATH_MACHINE["States"])
    assert {c.outcome for c in CASES} == {"captured", "declined", "refunded", None}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_jsonpath_machine_ends_as_the_case_says(case: Case):
    execution, _, _ = run(JSONPATH_MACHINE, case)
    assert execution.status == case.status, (execution.error, execution.cause)
    if case.status == "SUCCEEDED":
        order_id = case.input["detail"]["order_id"]
        assert execution.output["outcome"] == case.outcome
        assert execution.output["order_id"] == order_id
    else:
        assert execution.error == FAIL_ERROR


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_jsonata_machine_does_what_the_jsonpath_machine_does(case: Case):
    path, path_calls, path_payloads = run(JSONPATH_MACHINE, case)
    ata, ata_calls, ata_payloads = run(JSONATA_MACHINE, case)
    assert (ata.status, ata.error, ata.cause) == (path.status, path.error, path.cause)
    assert ata.output == path.output
    assert entered(ata) == entered(path)
    assert ata_calls == path_calls
    assert ata_payloads == path_payloads
    # as JSON too: 2 and 2.0 compare equal in Python, not in the text a Lambda receives
    assert as_json(ata.output) == as_json(path.output)
    assert as_json(ata_payloads) == as_json(path_payloads)
    assert ata.retries == path.retries


def test_retries_catches_and_compensation_happen_where_the_faults_are():
    by_name = {c.name: c for c in CASES}
    for definition in MACHINES.values():
        _, calls, _ = run(definition, by_name["captured after retries"])
        assert calls == ["authorize", "authorize", "capture", "capture", "publish"]
        execution, calls, payloads = run(definition, by_name["capture rejected, voided"])
        assert calls == ["authorize", "capture", "void"]  # not retried, caught, compensated
        assert payloads[-1][1]["error"] == "PaymentRejected"
        assert execution.cause == "payment pipeline stopped for order o-9 (OrderPlaced)"
        _, calls, _ = run(definition, by_name["gateway down, retries exhausted, voided"])
        assert calls == ["authorize"] * 4 + ["void"]


def test_a_refund_that_keeps_failing_ends_failed_without_compensation():
    case = Case(
        "refund down",
        event("InventoryReleased", "o-99"),
        faults={"refund": ["GatewayUnavailable"] * 7},
        status="FAILED",
    )
    results = [run(definition, case) for definition in MACHINES.values()]
    (path, path_calls, _), (ata, ata_calls, _) = results
    assert path_calls == ata_calls == ["refund"] * 7
    assert (path.status, path.error, path.cause) == (ata.status, ata.error, ata.cause)
    assert path.cause == "payment pipeline stopped for order o-99 (InventoryReleased)"
