"""A state machine drawn from its ASL, with an execution overlaid: states entered, retries,
catches, the state it failed in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.diagrams.workflow import (
    CAUGHT,
    STATE_COLOURS,
    Trace,
    outcome,
    retry_policy,
    workflow_graph,
)
from pipeline.sim.engine import envelope
from pipeline.sim.replay import run_with_outcomes
from pipeline.template import Template
from pipeline.variants import VARIANTS


@pytest.fixture(scope="module")
def payment():
    """The choreography's payment pipeline (the default orchestrates one saga instead)."""
    choreography = Template.load(parameters=VARIANTS["choreography"])
    return choreography.state_machine_definition("PaymentStateMachine")


def trace(definition, event_type: str, outcomes: list[str]) -> Trace:
    return Trace.of(run_with_outcomes(definition, envelope(event_type), outcomes).result)


@pytest.mark.parametrize("variant", ["default", "choreography"])
def test_every_state_and_transition_of_every_machine_is_drawn(variant):
    template = Template.load(parameters=VARIANTS[variant])
    for machine, _ in template.of_type("AWS::Serverless::StateMachine"):
        definition = template.state_machine_definition(machine)
        source = workflow_graph(definition).source
        for name, state in definition["States"].items():
            assert f"\t{name} [" in source or f'\t"{name}" [' in source, (machine, name)
            for catcher in state.get("Catch", []):
                assert f"{name} -> {catcher['Next']}" in source


def test_a_retried_then_successful_payment_is_traced(payment):
    seen = trace(payment, "OrderPlaced", ["GatewayUnavailable", "GatewayUnavailable", "ok", "ok"])
    assert seen.status == "SUCCEEDED" and seen.retries["Authorize"] == 2
    assert seen.errors["Authorize"] == 2 and not seen.caught
    assert {("Route", "Authorize"), ("Authorize", "Capture"), ("Capture", "Captured")} == seen.taken
    source = workflow_graph(payment, seen).source
    assert "2 retries" in source


def test_a_decline_goes_through_its_catch_and_a_failure_is_marked(payment):
    declined = trace(payment, "OrderPlaced", ["PaymentDeclined"])
    assert ("Authorize", "RecordDecline") in declined.caught
    assert declined.status == "SUCCEEDED" and declined.last == "Declined"
    down = trace(payment, "OrderPlaced", ["ok"] + ["GatewayUnavailable"] * 5)
    assert down.status == "FAILED" and down.retries["Capture"] == 4
    assert ("Capture", "RecordPaymentFailure") in down.caught
    source = workflow_graph(payment, down).source
    assert "#f8d7da" in source  # the state it ended in is filled red


@pytest.mark.system  # runs Graphviz
@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_it_renders(payment, tmp_path):
    graph = workflow_graph(payment, trace(payment, "OrderPlaced", ["PaymentDeclined"]), "decline")
    path = graph.render(tmp_path / "payment", format="svg", cleanup=True)
    svg = Path(path).read_text()
    assert "RecordDecline" in svg and "catch PaymentDeclined" in svg


def test_a_jsonata_machines_choice_rules_are_labelled_by_their_condition():
    fixture = Path(__file__).resolve().parents[1] / "fixtures/statemachines"
    definition = json.loads((fixture / "payment.jsonata.asl.json").read_text())
    source = workflow_graph(definition).source
    assert "detail-type = 'OrderPlaced'" in source
    assert "{%" not in source and "$states" not in source


def test_a_state_whose_error_was_caught_is_orange_not_green(payment):
    """The console paints a state that failed and was caught orange, the Catch edge it took
    dashed orange; the states after it green, the states not entered white."""
    down = trace(payment, "OrderPlaced", ["ok"] + ["GatewayUnavailable"] * 5)
    assert outcome("Capture", down) == "caught" and outcome("Authorize", down) == "succeeded"
    assert outcome("Captured", down) == "not entered"
    source = workflow_graph(payment, down).source
    capture = next(line for line in source.splitlines() if line.startswith("\tCapture ["))
    assert f'fillcolor="{STATE_COLOURS["caught"][0]}"' in capture
    assert f'color="{CAUGHT}"' in capture
    taken = next(line for line in source.splitlines() if "Capture -> RecordPaymentFailure" in line)
    assert "style=dashed" in taken and f'color="{CAUGHT}"' in taken


def test_every_catch_edge_is_dashed_and_every_task_shows_its_retry_policy(payment):
    source = workflow_graph(payment).source
    for name, state in payment["States"].items():
        for catcher in state.get("Catch", []):
            edge = next(
                line for line in source.splitlines() if f"{name} -> {catcher['Next']}" in line
            )
            assert "style=dashed" in edge
        for retrier in state.get("Retry", []):
            assert f"{retrier['ErrorEquals'][0]}" in source
            assert f"{retrier.get('MaxAttempts', 3)}x" in source
    assert 'tooltip="Authorize: Retry ' in source  # every error named there


def test_the_legend_names_every_colour_only_with_an_execution(payment):
    plain = workflow_graph(payment, title="payment").source
    assert "Catch (dashed)" in plain and "caught error" not in plain
    overlaid = workflow_graph(payment, trace(payment, "OrderPlaced", ["PaymentDeclined"])).source
    for words in ("succeeded", "caught error", "failed", "in progress", "not entered"):
        assert words in overlaid
    assert "Catch (dashed)" not in workflow_graph(payment, legend=False).source


def test_retry_policy_reads_errors_attempts_interval_backoff_and_jitter():
    state = {
        "Type": "Task",
        "Retry": [
            {
                "ErrorEquals": ["CarrierUnavailable"],
                "MaxAttempts": 5,
                "IntervalSeconds": 2,
                "BackoffRate": 2.0,
                "MaxDelaySeconds": 60,
                "JitterStrategy": "FULL",
            },
            {"ErrorEquals": ["A", "B", "C"]},
        ],
    }
    (short, full), (short_default, full_default) = retry_policy(state)
    assert full == "CarrierUnavailable → 5x, 2 s, x2, ≤60 s, full"
    assert short == "CarrierUnavailable →\n5x, 2 s, x2, ≤60 s, full"
    assert full_default == "A, B, C → 3x, 1 s, x2" and short_default.startswith("A +2 →")
