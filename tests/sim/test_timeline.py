"""The run over time: windows that add up to the run, shards that merge, and the plots."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import matplotlib
import pandas as pd
import pytest

from pipeline.sim import plots
from pipeline.sim.cost import per_thousand_orders_by_service
from pipeline.sim.run import RunSpec, build, simulate
from pipeline.sim.stats import Stats
from pipeline.sim.summary import billable_units, summarize_stats
from pipeline.sim.timeline import Timeline
from pipeline.variants import VARIANTS

pytestmark = pytest.mark.system  # simulations over time; a sharded run uses worker processes

matplotlib.use("Agg")

# Small StartExecution quota: throttled starts, retries, dead letters; declines: compensations.
# Standard workflows started by events, so the design shipped until now (VARIANTS["previous"]:
# four Standard pipelines per order): the default's one Express start per order, retried by
# its rule, dead-letters nothing at this quota, and Standard transitions are what cost most.
TIGHT = RunSpec(
    rate_per_min=600,
    duration_s=30,
    seed=3,
    scenario="declines",
    quotas={"sfn_start_execution": (5.0, 10.0)},
    parameters=dict(VARIANTS["previous"]),
)


@pytest.fixture(scope="module")
def summary():
    return simulate(TIGHT)


@pytest.fixture(scope="module")
def frame(summary):
    return pd.DataFrame(summary["timeline"])


def test_the_windows_add_up_to_the_run(summary, frame):
    orders, dlq = summary["orders"], summary["dlq"]
    assert frame["arrived"].sum() == orders["arrived"]
    assert frame["accepted"].sum() == orders["accepted"]
    assert frame["finished"].sum() == orders["finished"] == orders["accepted"]
    compensated = round(summary["compensation_rate"] * orders["finished"])
    assert frame["compensated"].sum() == compensated > 0
    assert frame["dead_lettered"].sum() == sum(dlq["dead_lettered"].values()) > 0
    assert frame["throttles"].sum() == sum(summary["throttles"].values())
    start_throttles = summary["throttles"]["stepfunctions:StartExecution:STANDARD"]
    seconds = frame["seconds"]
    assert (frame["start_execution_standard_throttled_per_s"] * seconds).sum() == pytest.approx(
        start_throttles
    )


def test_windows_are_consecutive_and_cover_the_run(summary, frame):
    window = summary["spec"]["window_s"]
    assert list(frame["start_s"]) == [k * window for k in range(len(frame))]
    assert (frame["seconds"].iloc[:-1] == window).all()
    assert 0 < frame["seconds"].iloc[-1] <= window
    assert frame["start_s"].iloc[-1] + frame["seconds"].iloc[-1] == pytest.approx(
        summary["sim_seconds"]
    )
    arriving = frame[frame["start_s"] < TIGHT.duration_s]
    assert (arriving["arrived"] > 0).all() and frame["arrived"].iloc[-1] == 0


def test_a_window_reports_latency_quotas_and_concurrency(summary, frame):
    busy = frame[frame["ended"] > 0]
    assert (busy["p50_s"] <= busy["p95_s"]).all() and (busy["p95_s"] <= busy["p99_s"]).all()
    assert frame["ended"].sum() == summary["orders"]["finished"] - summary["orders"]["stuck"]
    assert (frame["start_execution_standard_limit_per_s"] == 5.0).all()
    assert frame["start_execution_standard_per_s"].max() > 5.0  # demand above the limit
    assert frame["lambda_function"].nunique() == 1
    assert (frame["lambda_peak"] <= frame["lambda_limit"]).all()


def test_the_window_is_a_run_parameter():
    coarse = simulate(dataclasses.replace(TIGHT, window_s=60.0))["timeline"]
    fine = simulate(dataclasses.replace(TIGHT, window_s=5.0))["timeline"]
    assert len(fine) > 2 * len(coarse)
    for name in ("arrived", "finished", "compensated", "dead_lettered"):
        assert sum(r[name] for r in fine) == sum(r[name] for r in coarse)
    with pytest.raises(ValueError, match="positive"):
        Timeline(window_s=0)


def test_shards_timelines_merge_window_by_window():
    spec = dataclasses.replace(TIGHT, shards=2, quotas={"sfn_start_execution": (10.0, 20.0)})
    shards = [build(spec, shard=(k, 2)).run() for k in range(2)]
    rows = [pd.DataFrame(s.timeline.rows()).set_index("start_s") for s in shards]
    merged = Stats()
    merged.timeline = Timeline(spec.window_s)
    for stats in shards:
        merged.merge(stats)
    frame = pd.DataFrame(summarize_stats(merged, spec.duration_s, [])["timeline"])
    frame = frame.set_index("start_s")
    for name in ("arrived", "finished", "compensated", "dead_lettered", "throttles"):
        expected = rows[0][name].add(rows[1][name], fill_value=0)
        assert (frame[name] == expected).all(), name
    assert (frame["start_execution_standard_limit_per_s"] == 10.0).all()  # 5 + 5
    assert frame["arrived"].sum() == merged.arrived == sum(s.arrived for s in shards)
    assert frame["ended"].sum() == merged.latency.n


def test_a_sharded_run_has_the_timeline_of_its_merged_shards():
    summary = simulate(dataclasses.replace(TIGHT, shards=2))
    frame = pd.DataFrame(summary["timeline"])
    assert frame["accepted"].sum() == summary["orders"]["accepted"]
    assert frame["finished"].sum() == summary["orders"]["finished"]
    assert frame["dead_lettered"].sum() == sum(summary["dlq"]["dead_lettered"].values())


def test_cost_by_service_adds_up_to_the_cost_per_order(summary):
    by_service = summary["cost_per_1000_by_service_usd"]
    assert next(iter(by_service)) == "Step Functions"  # Standard transitions cost the most
    total = sum(Decimal(v) for v in by_service.values())
    assert total == pytest.approx(Decimal(summary["cost_per_1000_orders_usd"]), abs=Decimal("1e-3"))
    with pytest.raises(ValueError):
        per_thousand_orders_by_service(billable_units(Stats()), 0)


def _labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def test_latency_plot_has_a_line_per_percentile(summary):
    ax = plots.latency_over_time(summary)
    assert _labels(ax)[:3] == ["p50", "p95", "p99"]
    assert "arrivals stop" in _labels(ax)
    assert ax.get_yscale() == "log" and "time" in ax.get_xlabel()
    assert len(ax.get_lines()[0].get_xdata()) == len(summary["timeline"])


def test_throughput_plot_sets_demand_against_the_limit(summary, frame):
    ax = plots.throughput_vs_quota(summary)
    labels = _labels(ax)
    assert "orders accepted/s" in labels and "throttled/s" in labels
    assert "StartExecution (Standard) limit/s" in labels
    assert "StartExecution (Standard)" in ax.get_title()
    ax = plots.throughput_vs_quota(frame, quota="put_events")  # a DataFrame and another quota
    assert "EventBridge PutEvents requests/s" in _labels(ax)


def test_concurrency_and_compensation_plots_use_both_axes(summary):
    ax = plots.concurrency_over_time(summary)
    assert {"peak concurrency", "limit"} <= set(_labels(ax))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "throttled/s" not in legend  # the functions kept up in this run
    crowded = simulate(RunSpec(rate_per_min=600, duration_s=20, seed=3, reserved_concurrency=2))
    ax = plots.concurrency_over_time(crowded)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "throttled/s" in legend and ax.get_lines()[1].get_ydata().max() == 2
    ax = plots.compensation_and_dlq(summary["timeline"])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["compensated (% of finished)", "dead-lettered deliveries"]


def _sweep_rows():
    rows = []
    for workflow in ("STANDARD", "EXPRESS"):
        for scenario in ("none", "declines"):
            cost = 0.4 if workflow == "STANDARD" else 0.05
            rows.append(
                {
                    "workflow_type": workflow,
                    "scenario": scenario,
                    "rate_per_min": 1_000,
                    "orders": 100,
                    "compensation_rate": 0.0 if scenario == "none" else 0.3,
                    "dead_lettered": 2,
                    "cost_per_1000_usd": cost,
                    "cost_per_1000_usd:Step Functions": cost - 0.03,
                    "cost_per_1000_usd:DynamoDB": 0.03,
                }
            )
    return pd.DataFrame(rows)


def test_cost_plot_stacks_services_per_configuration():
    ax = plots.cost_per_order(_sweep_rows(), ["workflow_type", "scenario"])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [
        "STANDARD · none",
        "STANDARD · declines",
        "EXPRESS · none",
        "EXPRESS · declines",
    ]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Step Functions", "DynamoDB"]
    assert len(ax.patches) == 8  # 4 configurations x 2 services


def test_outcomes_plot_has_a_bar_per_configuration():
    figure = plots.outcomes_by(_sweep_rows(), by=["workflow_type", "scenario"])
    left, right = figure.axes
    assert len(left.patches) == len(right.patches) == 4
    assert [p.get_width() for p in right.patches] == [20.0] * 4  # 2 per 100 orders
    assert "Compensation" in left.get_title() and "Dead letters" in right.get_title()
