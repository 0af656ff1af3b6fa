"""The demo's report without a run: its verdict line, its compact text and tables, and order
latency on the pipeline clock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from pipeline.asl import Execution
from pipeline.demo import DemoReport, pipeline_latencies

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def healthy() -> DemoReport:
    return DemoReport(
        orders=2,
        by_status=Counter(CONFIRMED=1, CANCELLED=1),
        executions=Counter({"OrderSagaStateMachine:SUCCEEDED": 2}),
        lake_matches_store=True,
        routing_complete=True,
        one_side_effect_each=True,
    )


def test_one_verdict_line_when_every_invariant_holds():
    report = healthy()
    assert report.ok and report.verdict() == "VERDICT: all 7 invariants hold"
    lines = report.text()
    assert lines[-1] == report.verdict()
    assert sum("VERDICT" in line for line in lines) == 1
    assert list(report.invariants()["result"]) == ["pass"] * 7


def test_the_verdict_names_what_failed():
    report = healthy()
    report.stock_conserved = False
    report.by_status["PAYMENT_CAPTURED"] = 1
    assert not report.ok
    assert report.verdict() == "VERDICT: FAILED — every order terminal, stock conserved and settled"
    failed = report.invariants().query("result == 'FAIL'")
    assert list(failed.index) == ["every order terminal", "stock conserved and settled"]
    assert "1 orders in ['PAYMENT_CAPTURED']" in failed.loc["every order terminal", "detail"]
    assert "  FAIL  stock conserved and settled: " in "\n".join(report.text())


def test_an_interrupted_run_is_not_judged():
    report = healthy()
    report.interrupted, report.unfinished = True, ["o1 PLACED"]
    assert report.verdict().startswith("VERDICT: INTERRUPTED (Ctrl-C) with 1 orders not finished")


def test_the_table_says_which_clock_each_time_is_on():
    table = healthy().table()
    assert "order latency (pipeline clock)" in table.index
    assert "time to run this (wall clock)" in table.index
    assert "latency" not in " ".join(i for i in table.index if "wall" in i)
    assert table.loc["orders by status", "value"] == "CONFIRMED 1, CANCELLED 1"


def execution(order: str, detail_type: str, seconds: float) -> Execution:
    started = {
        "type": "ExecutionStarted",
        "timestamp": T0,
        "executionStartedEventDetails": {
            "input": {"detail-type": detail_type, "detail": {"order_id": order}}
        },
    }
    return Execution("SUCCEEDED", history=[started], start=T0, stop=T0 + timedelta(seconds=seconds))


def test_latency_runs_to_the_last_execution_the_order_needed_not_a_duplicate():
    runs = [
        ("Payment", execution("o1", "OrderPlaced", 3)),
        ("Payment", execution("o1", "OrderPlaced", 50)),  # a duplicate delivery's, later
        ("Shipping", execution("o1", "InventoryReserved", 7)),
        ("Payment", execution("o2", "OrderPlaced", 1)),
        ("Payment", execution("o3", "OrderPlaced", 1)),  # placed by no one we know
    ]
    placed = {"o1": T0 - timedelta(seconds=1), "o2": T0}
    assert pipeline_latencies(placed, runs) == {"o1": 8.0, "o2": 1.0}
