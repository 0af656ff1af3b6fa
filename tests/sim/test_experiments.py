"""Sweeps in worker processes, the Standard vs Express comparison, coordination styles."""

from __future__ import annotations

import pytest

from pipeline.sim.experiments import coordination_styles, grid, sweep, workflow_types
from pipeline.sim.run import RunSpec
from pipeline.template import Template

pytestmark = pytest.mark.system  # sweeps in worker processes

TINY = RunSpec(rate_per_min=300, duration_s=20, drain_s=1_200, seed=2)


def test_a_grid_is_every_combination_on_top_of_the_base():
    specs = grid(TINY, rate_per_min=[100, 200], scenario=["none", "default", "declines"])
    assert len(specs) == 6
    assert {(s.rate_per_min, s.scenario) for s in specs} == {
        (r, sc) for r in (100, 200) for sc in ("none", "default", "declines")
    }
    assert all(s.seed == 2 and s.duration_s == 20 for s in specs)
    with pytest.raises(ValueError, match="not RunSpec fields"):
        grid(TINY, rate=[1])


def test_a_sweep_runs_in_worker_processes_and_keeps_the_order_given():
    specs = grid(TINY, scenario=["declines", "none"])
    frame = sweep(specs, workers=2, progress=False)
    assert list(frame["scenario"]) == ["declines", "none"]
    declines, clean = frame.iloc[0], frame.iloc[1]
    assert clean["compensation_rate"] == 0 and declines["compensation_rate"] > 0.1
    assert (frame["silent_mismatches"] == 0).all() and (frame["unfinished"] == 0).all()


def test_express_costs_less_than_standard_for_the_same_runs():
    frame = workflow_types(TINY, workers=2, progress=False).set_index("workflow_type")
    assert frame.loc["STANDARD", "orders"] == frame.loc["EXPRESS", "orders"]
    assert frame.loc["EXPRESS", "cost_per_1000_usd"] < frame.loc["STANDARD", "cost_per_1000_usd"]


def test_the_default_orchestrates_and_choreography_is_a_parameter_away():
    assert coordination_styles(Template.load()) == {
        "choreography": [],
        "orchestration": ["OrderSagaStateMachine"],
    }
    choreography = Template.load(parameters={"Coordination": "choreography"})
    styles = coordination_styles(choreography)
    rules = {
        rid
        for rid, r in choreography.of_type("AWS::Events::Rule")
        if any("StateMachine" in str(t.get("Arn")) for t in r["Properties"].get("Targets", []))
    }
    assert styles == {"choreography": sorted(rules), "orchestration": []} and len(rules) == 4
