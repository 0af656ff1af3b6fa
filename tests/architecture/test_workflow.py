"""A state machine drawn from its ASL, with an execution overlaid: states entered, retries,
catches, the state it failed in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.diagrams.workflow import Trace, workflow_graph
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
