"""`--definition MACHINE=FILE`: a user's own ASL (JSONPath or JSONata) in place of one of the
template's machines, on the command line. The payment machine is the choreography's
(`--variant choreography`); the default variant orchestrates one saga instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main

JSONATA_PAYMENT = Path(__file__).parent / "fixtures/statemachines/payment.jsonata.asl.json"
CHOREOGRAPHY = ["--variant", "choreography"]


def test_simulate_runs_a_jsonata_machine_given_on_the_command_line(tmp_path, capsys) -> None:
    summary = tmp_path / "summary.json"
    argv = ["simulate", "--rate", "300/min", "--duration", "30s", "--seed", "2", "--json"]
    definition = ["--definition", f"PaymentStateMachine={JSONATA_PAYMENT}"]
    assert main([*argv, str(summary), *CHOREOGRAPHY, *definition]) == 0
    spec = json.loads(summary.read_text())["spec"]
    assert spec["definitions"] == {"PaymentStateMachine": str(JSONATA_PAYMENT)}
    assert spec["parameters"] == {"Coordination": "choreography"}
    assert "stuck (no terminal status, nothing in flight): 0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ("NoSuchMachine={fixture}", "NoSuchMachine is not a state machine of the template"),
        ("PaymentStateMachine={missing}", "cannot read"),
        ("PaymentStateMachine={bad}", "field 'ResultPath' is only supported for the 'JSONPath'"),
    ],
)
def test_a_definition_that_cannot_run_is_refused_before_the_run(
    definition: str, message: str, tmp_path, capsys
) -> None:
    bad = tmp_path / "bad.asl.json"
    document = json.loads(JSONATA_PAYMENT.read_text())
    document["States"]["Authorize"]["ResultPath"] = "$.result"
    bad.write_text(json.dumps(document))
    option = definition.format(fixture=JSONATA_PAYMENT, missing=tmp_path / "none.json", bad=bad)
    for command in ("simulate", "demo"):
        assert main([command, *CHOREOGRAPHY, "--definition", option]) == 2
        assert message in capsys.readouterr().err


def test_a_machine_of_another_variant_is_refused_with_its_condition(capsys) -> None:
    option = f"PaymentStateMachine={JSONATA_PAYMENT}"
    for command in ("simulate", "demo"):
        assert main([command, "--definition", option]) == 2  # the default: orchestration
        assert "its condition Choreography is false" in capsys.readouterr().err
