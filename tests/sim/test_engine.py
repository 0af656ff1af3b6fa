"""The simulated pipeline end to end: invariants, reproducibility, the lake, quotas."""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict

import pyarrow.parquet as pq
import pytest

from pipeline.asl import ExecutionRun, Invoke, TaskFailed
from pipeline.cli import _duration, _rate
from pipeline.domain.events import parse_event, verify_chain
from pipeline.seeds import EPOCH
from pipeline.sim.engine import Catalogue, envelope
from pipeline.sim.replay import OK, PathCache, replayable
from pipeline.sim.run import RunSpec, build, simulate
from pipeline.sim.summary import summarize
from pipeline.sim.topology import Topology
from pipeline.template import Template
from pipeline.variants import VARIANTS

pytestmark = pytest.mark.system  # long simulations; one shards over worker processes

EPOCH_CLOCK = lambda: EPOCH  # noqa: E731
SMALL = dict(rate_per_min=600, duration_s=60, drain_s=1_800)


def test_a_small_run_ends_every_order_with_money_and_stock_settled():
    summary = simulate(RunSpec(**SMALL, seed=3))
    orders, inv = summary["orders"], summary["invariants"]
    assert orders["accepted"] > 500
    assert orders["finished"] == orders["accepted"] and orders["stuck"] == 0
    assert set(orders["by_status"]) <= {"CONFIRMED", "CANCELLED", "COMPENSATION_FAILED"}
    assert inv["money_mismatches"] == inv["side_effect_mismatches"] == 0
    assert inv["stock_conserved"] and inv["confirmed_total"] == inv["gateway_net"]
    assert summary["duplicates_delivered"] > 0 and summary["retries_per_order"] > 0


def test_the_same_seed_gives_the_same_run_and_another_seed_does_not():
    def run(seed: int) -> dict:
        summary = simulate(RunSpec(**SMALL, seed=seed))
        return {k: v for k, v in summary.items() if k not in ("wall_s", "orders_per_wall_s")}

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_the_lake_holds_every_event_as_a_verifiable_domain_event(tmp_path):
    summary = simulate(RunSpec(**SMALL, seed=4, lake_dir=str(tmp_path)))
    files = list(tmp_path.rglob("*.parquet"))
    assert files and all("year=2026/month=01/day=01/hour=" in str(f) for f in files)
    table = pq.read_table(files[0].parent.parent.parent.parent.parent).to_pylist()
    assert len(table) == summary["lake_rows"] == sum(summary["events"].values())
    by_order = defaultdict(list)
    for row in table:
        assert row["source"] == "sim"
        by_order[row["order_id"]].append(parse_event(row["payload"]))
    for events in by_order.values():
        events.sort(key=lambda e: e.sequence)
        assert verify_chain(events) == []
        assert events[0].type == "OrderPlaced"


@pytest.mark.parametrize("variant", ["default", "choreography"])
def test_every_path_replayed_is_the_interpreter_s(variant):
    """Random outcome sequences on every machine (the default's saga, the choreography's four
    pipelines): the cached tree and a fresh interpreter run stop at the same states and end
    the same way."""
    topology = Topology.from_template(Template.load(parameters=VARIANTS[variant]))
    rng = random.Random(9)
    errors = [OK] * 6 + ["GatewayUnavailable", "States.Timeout", "OutOfStock", "PaymentDeclined"]
    for machine in topology.machines.values():
        assert replayable(machine.definition)
        for event_type in ("OrderPlaced", "PaymentCaptured", "InventoryReleased", "OrderConfirmed"):
            cache = PathCache(machine.definition, envelope(event_type))
            for _ in range(40):
                node = cache.root()
                run = ExecutionRun(
                    machine.definition, envelope(event_type), None, clock=EPOCH_CLOCK
                )
                effect = run.step()
                while node.kind != "end":
                    if node.kind == "invoke":
                        assert isinstance(effect, Invoke) and effect.state == node.state
                        outcome = rng.choice(errors)
                        if outcome == OK:
                            run.resume({"status": "simulated"})
                        else:
                            run.resume(failure=TaskFailed(outcome, "simulated"))
                    else:
                        assert run.wait is not None and run.wait.state == node.state
                        outcome = None
                    node, effect = cache.after(node, outcome), run.step()
                assert effect is None and run.result.status == node.status
                assert run.result.error == node.error
    assert not replayable({**machine.definition, "TimeoutSeconds": 60})


def test_a_hot_sku_throttles_its_partition_while_the_table_is_far_from_its_limits():
    spec = RunSpec(
        rate_per_min=60_000,
        duration_s=20,
        seed=1,
        scenario="none",
        hot_share=0.9,
        reserved_concurrency=0,
        account_concurrency=20_000,
        quotas={"sfn_start_execution": (5_000, 10_000)},
        catalogue=Catalogue(hot=1, hot_stock=100_000),
    )
    sim = build(spec)
    sim.run()
    summary = summarize(sim)
    assert summary["throttles"].get("dynamodb:partition", 0) > 0
    assert summary["binding_quota"].startswith("DynamoDB partition")
    assert summary["retries"].get("OrderSagaStateMachine.Reserve", 0) > 0  # the saga's step


@pytest.mark.parametrize(
    ("text", "per_min"), [("10000/min", 10_000), ("150/s", 9_000), ("600", 600)]
)
def test_rates_read_per_minute_or_second(text, per_min):
    assert _rate(text) == per_min


def test_durations_read_with_units():
    assert (_duration("1h"), _duration("30m"), _duration("90s"), _duration("5")) == (
        3600,
        1800,
        90,
        5,
    )


def test_a_sharded_run_settles_every_order_like_one_process(tmp_path):
    base = dict(rate_per_min=1_200, duration_s=60, drain_s=1_800, seed=3)
    one = simulate(RunSpec(**base))
    two = simulate(RunSpec(**base, shards=2, lake_dir=str(tmp_path)))
    for summary in (one, two):
        orders, inv = summary["orders"], summary["invariants"]
        assert orders["finished"] == orders["accepted"] and orders["stuck"] == 0
        assert inv["money_mismatches"] == inv["side_effect_mismatches"] == 0
        assert inv["stock_conserved"]
    n1, n2 = one["orders"]["accepted"], two["orders"]["accepted"]
    assert abs(n1 - n2) < 4 * (n1**0.5)  # both Poisson at 20 orders/s
    p1, p2 = one["compensation_rate"], two["compensation_rate"]
    assert abs(p1 - p2) < 4 * (p1 * (1 - p1) * (1 / n1 + 1 / n2)) ** 0.5
    ids = pq.read_table(tmp_path, columns=["order_id", "sequence"]).to_pylist()
    assert len(ids) == two["lake_rows"] == len({(r["order_id"], r["sequence"]) for r in ids})
    assert len({r["order_id"] for r in ids}) == n2  # order numbers never collide across shards


@pytest.mark.parametrize(
    ("variant", "machine_id"),
    [("default", "OrderSagaStateMachine"), ("previous", "PaymentStateMachine")],
)
def test_a_definition_whose_path_is_not_replayable_runs_through_the_interpreter(
    variant, machine_id
):
    template = Template.load(parameters=VARIANTS[variant])
    topology = Topology.from_template(template)
    machine = topology.machines[machine_id]
    timed = dataclasses.replace(machine, definition={**machine.definition, "TimeoutSeconds": 600})
    assert not replayable(timed.definition)
    machines = {**topology.machines, machine_id: timed}
    spec = RunSpec(rate_per_min=600, duration_s=60, drain_s=1_800, seed=4)
    replayed = build(spec, template)
    interpreted = build(spec, template)
    interpreted.topology = dataclasses.replace(topology, machines=machines)
    workflow_type = interpreted.machines[machine_id][1]  # the variant's: EXPRESS, STANDARD
    interpreted.machines[machine_id] = (timed, workflow_type, {})
    interpreted._interpreted_machines = {machine_id}
    stats = {name: sim.run() for name, sim in (("replayed", replayed), ("interp", interpreted))}
    for s in stats.values():
        assert s.finished_orders == s.accepted and s.stuck == 0
        assert s.money_mismatches == s.side_effect_mismatches == 0
    started = {
        name: sum(n for (m, status, _), n in s.executions.items() if m == machine_id)
        for name, s in stats.items()
    }
    assert started["interp"] > 0.9 * stats["interp"].accepted
    # the same decisions: the machine's retries per order agree within sampling error
    r1 = sum(n for (m, _), n in stats["replayed"].retries.items() if m == machine_id)
    r2 = sum(n for (m, _), n in stats["interp"].retries.items() if m == machine_id)
    assert abs(r1 - r2) < 4 * (r1 + r2) ** 0.5
