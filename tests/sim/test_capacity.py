"""Capacity planning: the SLO checks, the search for the knee, the quota plan, the overload
check, and the attribution of cancellations it rests on.

The runs here are small and go to an in-process executor (one thread): no worker processes,
so this file stays in the unit tier; tests/sim/test_sweep_executors.py covers processes and
Dask.
"""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipeline.sim import capacity
from pipeline.sim.capacity import Slo
from pipeline.sim.run import RunSpec, simulate
from pipeline.sim.stats import INTERNAL_CAUSES, Settling
from pipeline.sim.topology import Topology
from pipeline.template import Template

CHOREOGRAPHY = {"Coordination": "choreography"}
# A design whose intake takes 2 orders/s (120/min) with a burst of 20: the knee is known.
INTAKE_LIMITED = RunSpec(
    scenario="none",
    parameters=CHOREOGRAPHY,
    quotas={"api_gateway": (2.0, 20.0)},
)


@pytest.fixture(scope="module")
def in_process():
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


def _summary(**orders) -> dict:
    """A run's summary with only what the SLOs read; a healthy one unless overridden."""
    base = {
        "stuck": 0,
        "unfinished": 0,
        "throttle_cancelled": 0,
        "cancelled_by_cause": {"PaymentDeclined": 7},
        "rejected_429": 0,
    }
    return {
        "orders": {**base, **orders},
        "dlq": {"left": 0},
        "latency_s": {"p99": 6.0},
    }


def test_a_healthy_run_holds_every_slo():
    assert Slo().reasons(_summary(), unloaded_p99=5.0) == []


def test_each_slo_fails_with_a_reason_that_names_it():
    slo = Slo()
    broken = _summary(
        stuck=2,
        unfinished=1,
        throttle_cancelled=3,
        cancelled_by_cause={"PaymentDeclined": 7, "Lambda.TooManyRequestsException": 3},
        rejected_429=40,
    )
    broken["dlq"]["left"] = 5
    broken["latency_s"]["p99"] = 30.0
    reasons = slo.reasons(broken, unloaded_p99=6.0)
    assert reasons == [
        "3 orders stuck or unfinished (2 stuck)",
        "3 orders cancelled by throttles (Lambda.TooManyRequestsException 3)",
        "5 dead letters left in the DLQs",
        "p99 30.0 s > 1.5 x unloaded 6.0 s",
        "40 requests shed with 429 (intake at capacity)",
    ]
    assert slo.check_latency(broken, unloaded_p99=None) is None  # not measured: not judged
    assert Slo(p99_factor=6).check_latency(broken, unloaded_p99=6.0) is None


def test_the_internal_causes_are_throttles_timeouts_and_our_own_faults():
    assert "Lambda.TooManyRequestsException" in INTERNAL_CAUSES
    assert "States.Timeout" in INTERNAL_CAUSES
    assert INTERNAL_CAUSES.isdisjoint(
        {"PaymentDeclined", "OutOfStock", "GatewayUnavailable", "CarrierUnavailable"}
    )


def _today_retries(tmp_path) -> dict[str, str]:
    """The payment machine with the retry budget shipped until now (at most 4 retries, a
    throttle sharing them with the business errors): throttles exhaust it under load."""
    template = Template.load(parameters=CHOREOGRAPHY)
    definition = copy.deepcopy(template.state_machine_definition("PaymentStateMachine"))
    for state in definition["States"].values():
        for retrier in state.get("Retry", []):
            retrier["MaxAttempts"] = min(retrier.get("MaxAttempts", 3), 4)
    path = tmp_path / "payment-today.asl.json"
    path.write_text(json.dumps(definition))
    return {"PaymentStateMachine": str(path)}


def test_throttles_that_exhaust_the_retries_cancel_orders_and_are_counted_as_internal(tmp_path):
    spec = RunSpec(
        rate_per_min=300,
        duration_s=30,
        drain_s=1_800,
        seed=1,
        scenario="throttling",
        parameters=CHOREOGRAPHY,
        function_concurrency={"PaymentFunction": 3},
        definitions=_today_retries(tmp_path),
    )
    orders = simulate(spec)["orders"]
    assert orders["throttle_cancelled"] > 0
    assert orders["cancelled_by_cause"]["Lambda.TooManyRequestsException"] > 0
    assert sum(orders["cancelled_by_cause"].values()) == orders["by_status"]["CANCELLED"]


def test_declines_cancel_for_business_causes_only():
    spec = RunSpec(
        rate_per_min=300, duration_s=30, seed=2, scenario="declines", parameters=CHOREOGRAPHY
    )
    first, again = simulate(spec), simulate(spec)
    orders = first["orders"]
    assert orders["throttle_cancelled"] == 0
    assert set(orders["cancelled_by_cause"]) == {"PaymentDeclined"}
    assert orders["cancelled_by_cause"]["PaymentDeclined"] == orders["by_status"]["CANCELLED"]
    assert again["orders"] == orders  # seeded: the same run twice


def test_the_search_finds_the_knee_of_a_design_limited_at_its_intake(in_process):
    result = capacity.search(
        INTAKE_LIMITED,
        seeds=(1, 2),
        start_per_min=30,
        tolerance=0.05,
        executor=in_process,
        unloaded_orders=500,
    )
    # 429s start a little under the intake's 120/min (Poisson arrivals against a burst of 20).
    assert 90 <= result.max_per_min < result.knee_per_min <= 125
    assert (result.knee_per_min - result.max_per_min) / result.max_per_min <= 0.05
    assert result.binding_quota == "API Gateway requests/s (account)"
    assert any("shed with 429" in reason for reason in result.reasons)
    curve = result.curve
    assert list(curve["offered_per_min"]) == sorted(curve["offered_per_min"])
    assert set(curve["seed"]) == {1, 2}
    assert curve.loc[curve["holds"], "rejected_429"].eq(0).all()
    assert (curve["cost_per_1000_confirmed_usd"] > 0).all()
    assert {"p50_s", "p99_s", "stuck", "throttle_cancelled", "dead_lettered"} <= set(curve)
    assert any(c.startswith("cost_per_1000_confirmed_usd:") for c in curve)
    report = "\n".join(result.lines())
    assert f"max sustainable rate: {result.max_per_min:,.0f} orders/min" in report
    assert "verdict: holds" in report


def test_a_search_is_the_same_for_the_same_seeds(in_process):
    def search():
        return capacity.search(
            INTAKE_LIMITED,
            seeds=(3,),
            start_per_min=60,
            tolerance=0.5,
            executor=in_process,
            unloaded_orders=300,
        )

    first, again = search(), search()
    assert (first.max_per_min, first.knee_per_min) == (again.max_per_min, again.knee_per_min)
    assert first.curve.equals(again.curve)


def test_the_doubling_stops_at_the_ceiling_and_probes_it(in_process):
    """A ceiling off the doubling ladder (30, 60, 100) is probed itself: the search says
    the design holds up to it, instead of stopping short at 60 with no knee."""
    result = capacity.search(
        INTAKE_LIMITED,
        seeds=(1,),
        start_per_min=30,
        max_per_min=100,
        executor=in_process,
        unloaded_orders=300,
    )
    assert sorted(set(result.curve["offered_per_min"])) == [30, 60, 100]
    assert result.max_per_min == 100 and result.knee_per_min is None


def test_the_quota_plan_raises_what_binds_and_its_spec_holds_the_target(in_process):
    base = RunSpec(
        scenario="none",
        parameters={**CHOREOGRAPHY, "PaymentWorkflowType": "STANDARD"},
        quotas={"sfn_start_execution": (2.0, 20.0)},
    )
    plan = capacity.quota_plan(
        base, target_per_min=300, reference_per_min=20, executor=in_process, probe_s=60
    )
    rows = {row.name: row for row in plan.rows}
    start = rows["sfn_start_execution"]
    assert start.kind == "quota" and start.default == 2
    # A Standard (payment) start per order: 5/s at the target, over 80% of the limit.
    assert 5 < start.needed <= 10
    assert plan.spec.quotas["sfn_start_execution"][0] == start.needed
    assert plan.spec.rate_per_min == 300
    assert plan.checked and plan.check == []  # simulated at the target with the plan: holds
    assert plan.cost_per_1000_confirmed_usd > 0
    assert "sfn_start_execution" in "\n".join(plan.lines())


def test_the_quota_plan_raises_reserved_concurrency_through_its_parameter(in_process):
    base = RunSpec(scenario="none", parameters={**CHOREOGRAPHY, "PaymentConcurrency": "2"})
    plan = capacity.quota_plan(
        base, 2_000, reference_per_min=60, executor=in_process, probe_s=30, verify=False
    )
    row = next(r for r in plan.rows if r.name == "PaymentConcurrency")
    assert row.kind == "template parameter" and row.default == 2 and row.needed > 2
    assert plan.spec.parameters["PaymentConcurrency"] == str(int(row.needed))


def test_an_overload_is_shed_at_the_door_and_the_pipeline_settles(in_process):
    result = capacity.overload(
        INTAKE_LIMITED,
        capacity_per_min=110,
        factor=3,
        burst_s=60,
        normal_per_min=60,
        lead_s=60,
        after_s=60,
        seeds=(1,),
        executor=in_process,
    )
    (row,) = result.rows
    assert row["rejected_429"] > 0 and row["intake_alarm"]
    assert row["throttle_cancelled"] == 0 and row["stuck"] == 0 and result.holds
    assert row["settled_after_s"] is not None and 0 <= row["settled_after_s"] < 120
    assert "shed with 429" in "\n".join(result.lines())


def test_settling_says_when_every_order_placed_before_a_time_had_ended():
    settling = Settling(window_s=10)
    for placed, ended in ((1, 5), (12, 40), (25, 31)):
        settling.placed(placed)
        settling.ended(placed, ended)
    assert settling.settled_by(20) == 40  # the orders placed in [0, 20)
    assert settling.settled_by(30) == 40
    settling.placed(27)  # never ends
    assert settling.settled_by(20) == 40 and settling.settled_by(30) is None


def _template(method_settings: list) -> Template:
    return Template(
        {
            "Parameters": {"Rate": {"Type": "Number", "Default": 7}},
            "Resources": {
                "Api": {
                    "Type": "AWS::Serverless::Api",
                    "Properties": {"MethodSettings": method_settings},
                }
            },
        }
    )


def test_the_stage_throttle_on_placing_orders_is_read_from_the_method_settings():
    everything = {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": 1000}
    orders = {
        "ResourcePath": "/~1orders",
        "HttpMethod": "POST",
        "ThrottlingRateLimit": {"Ref": "Rate"},
        "ThrottlingBurstLimit": 30,
    }
    assert Topology.from_template(_template([everything, orders])).api_throttle == (7.0, 30.0)
    assert Topology.from_template(_template([everything])).api_throttle == (1000.0, 1000.0)
    assert Topology.from_template(_template([])).api_throttle is None
    chosen = _template([everything, orders]).with_parameters({"Rate": "9"})
    assert Topology.from_template(chosen).api_throttle == (9.0, 30.0)


def test_the_tighter_of_the_stage_and_the_account_throttles_the_intake():
    spec = RunSpec(
        rate_per_min=1_200,
        duration_s=20,
        seed=1,
        scenario="none",
        parameters={**CHOREOGRAPHY, "ApiThrottleRate": "5", "ApiThrottleBurst": "5"},
    )
    summary = simulate(spec)
    intake = summary["intake"]
    assert intake["limit"] == "API Gateway requests/s (stage POST /orders)"
    assert intake["limit_per_s"] == 5
    assert intake["rejected_429"] == intake["throttled_by_api"] > 0 and intake["alarm"]
    assert summary["orders"]["accepted"] <= 5 * 20 + 5


def test_a_probe_lasts_its_orders_worth_between_the_floor_and_the_cap():
    """Slow rates get the full 4 minutes (small buckets refill slowly: a burst would hide an
    overload in a short probe); fast ones as long as 45,000 orders take, at least 90 s."""
    assert capacity.probe_duration(3_000) == capacity.PROBE_S
    assert capacity.probe_duration(30_000) == 90.0
    assert capacity.probe_duration(18_000) == 150.0
    assert capacity.probe_duration(200_000) == capacity.PROBE_MIN_S
    assert capacity.probe_duration(30_000, longest=30) == 30  # the cap caps the floor too
