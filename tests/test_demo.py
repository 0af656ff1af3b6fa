"""The scripted demo end to end: every order terminal, money reconciled, stock conserved."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys

import pytest

from pipeline.demo import run_demo
from pipeline.domain.order import TERMINAL
from pipeline.variants import VARIANTS

pytestmark = pytest.mark.system  # each test runs the demo on the session's deployed local stack


def test_demo_orders_all_end_terminal_with_money_and_stock_conserved(cloud):
    out = io.StringIO()
    report = run_demo(orders=25, seed=1, out=out, cloud=cloud)
    assert report.orders == 25
    assert sum(report.by_status.values()) == 25
    assert set(report.by_status) <= {str(s) for s in TERMINAL}
    assert report.by_status["CONFIRMED"] > 0
    assert report.by_status["CANCELLED"] > 0  # declines and carrier failures compensate
    assert report.captured_minus_refunded == report.confirmed_total
    assert report.stock_conserved and report.stock_settled
    assert report.notifications == sum(report.by_status.values())
    assert report.lake_matches_store and report.lake_rows == report.events
    assert report.one_side_effect_each
    text = out.getvalue()
    assert "(virtual: waits jump)" in text
    assert text.splitlines()[-1] == "VERDICT: all 7 invariants hold"
    assert "\r" not in text  # a StringIO is no terminal: plain progress lines, no frames


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_runs_the_demo_with_every_invariant(variant, variant_cloud):
    """Each design variant of the one template deploys and runs end to end."""
    out = io.StringIO()
    report = run_demo(orders=25, seed=1, out=out, cloud=variant_cloud)
    assert sum(report.by_status.values()) == 25 and report.by_status["CONFIRMED"] > 0
    assert out.getvalue().splitlines()[-1] == "VERDICT: all 7 invariants hold"
    machines = {key.split(":")[0] for key in report.executions}
    orchestrated = VARIANTS[variant].get("Coordination", "orchestration") == "orchestration"
    assert machines == ({"OrderSagaStateMachine"} if orchestrated else CHOREOGRAPHY_MACHINES)


CHOREOGRAPHY_MACHINES = {
    "PaymentStateMachine",
    "InventoryStateMachine",
    "ShippingStateMachine",
    "NotificationStateMachine",
}


@pytest.mark.parametrize("variant", ["default", "choreography"])
def test_a_carrier_outage_runs_the_whole_saga_back_release_then_refund(variant, variant_cloud):
    """No label can be made: every paid order releases its stock, is refunded and cancelled.
    The choreography's shipping pipeline fails visibly and the others compensate; the
    orchestrated saga compensates in its own Catch and succeeds."""
    faults = {"FAKE_CARRIER_FAILURE_RATE": "1.0"}
    report = run_demo(orders=6, seed=5, faults=faults, cloud=variant_cloud)
    assert dict(report.by_status) == {"CANCELLED": 6}
    assert report.captured_minus_refunded == 0
    assert report.stock_conserved
    if variant == "choreography":
        assert report.executions["ShippingStateMachine:FAILED"] > 0  # visible failures
        assert report.retries >= 5 * report.executions["ShippingStateMachine:FAILED"]
    else:
        assert report.executions == {"OrderSagaStateMachine:SUCCEEDED": 6}
        assert report.retries >= 5 * 6  # each label retried before the saga compensates
    assert report.notifications == 6


def test_a_run_is_quiet_unless_given_a_stream(cloud, capsys):
    report = run_demo(orders=5, seed=4, cloud=cloud)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert report.ok and report.verdict() == "VERDICT: all 7 invariants hold"


def test_the_report_is_one_deploy_line_progress_a_compact_table_and_one_verdict(cloud):
    out = io.StringIO()
    report = run_demo(orders=20, seed=4, out=out, cloud=cloud)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Stack orders on the local cloud") and "order API on" in lines[0]
    assert not any(line.startswith("CloudFormation stack") for line in lines)  # no deploy log
    progress = [line for line in lines if line.startswith("orders posted:")]
    assert "orders posted: 100% (20/20 orders" in "\n".join(progress)
    assert 3 <= len(progress) <= 12 and "finishing" in progress[-1]
    assert sum(line.startswith("  pass  ") for line in lines) == 7
    assert [line for line in lines if "VERDICT" in line] == [lines[-1]]
    assert len(lines) < 40
    table, invariants = report.table(), report.invariants()
    for measure in (
        "orders by status",
        "state machine executions",
        "task retries",
        "DLQ remediation",
        "order latency (pipeline clock)",
        "time to run this (wall clock)",
    ):
        assert measure in table.index
    assert list(invariants["result"]) == ["pass"] * 7
    html = report._repr_html_()
    assert "<table" in html and "VERDICT: all 7 invariants hold" in html


def test_order_latency_is_measured_on_the_pipeline_clock_not_the_wall_clock(cloud):
    """A carrier outage: every order waits out the label's retries (tens of seconds of
    backoff on the virtual clock) in well under a second of wall time."""
    report = run_demo(orders=4, seed=5, scenario="carrier-outage", cloud=cloud)
    latencies = report.pipeline_latencies()
    assert set(latencies) == set(report.placed_at) and len(latencies) == 4
    assert report.pipeline_latency(50) > 10 > report.wall_s
    assert report.pipeline_latency(99) <= report.simulated_s
    order = next(iter(report.placed_at))
    figure = report.timeline(order)
    assert figure.axes[0].get_xlabel() == "seconds since the order was placed (pipeline clock)"


def test_throttled_deliveries_are_retried_and_every_order_still_finishes(cloud):
    report = run_demo(orders=8, seed=2, faults={"FAKE_START_THROTTLE_RATE": "0.3"}, cloud=cloud)
    assert report.delivery_retries > 0
    assert report.dead_lettered == 0 and sum(report.dlq_depth.values()) == 0
    assert set(report.by_status) <= {"CONFIRMED", "CANCELLED"}
    assert report.stock_conserved
    assert report.captured_minus_refunded == report.confirmed_total


def test_duplicate_deliveries_change_nothing(cloud):
    report = run_demo(orders=8, seed=6, scenario="duplicates", cloud=cloud)
    assert report.duplicate_deliveries > 0
    assert report.notifications == 8  # one per order, duplicates notwithstanding
    assert report.stock_conserved and report.lake_matches_store
    assert report.captured_minus_refunded == report.confirmed_total


def test_a_payment_outage_cancels_cleanly_with_no_money_held(cloud):
    report = run_demo(orders=8, seed=8, scenario="payment-outage", cloud=cloud)
    assert report.retries > 0
    assert set(report.by_status) <= {"CONFIRMED", "CANCELLED"}
    assert report.captured_minus_refunded == report.confirmed_total
    assert report.stock_conserved


def test_the_same_seed_gives_the_same_run(cloud):
    first = run_demo(orders=6, seed=9, scenario="default", cloud=cloud)
    again = run_demo(orders=6, seed=9, scenario="default", cloud=cloud)
    assert (first.by_status, first.retries, first.events, first.captured_minus_refunded) == (
        again.by_status,
        again.retries,
        again.events,
        again.captured_minus_refunded,
    )


def test_dead_lettered_events_are_redriven_by_remediation_and_every_order_finishes(cloud):
    report = run_demo(orders=10, seed=2, scenario="target-outage", cloud=cloud)
    assert report.dead_lettered > 0
    assert report.remediation["received"] == report.dead_lettered
    assert report.remediation["redriven"] == report.dead_lettered
    assert sum(report.dlq_depth.values()) == 0
    assert set(report.by_status) <= {"CONFIRMED", "CANCELLED"} and report.notifications == 10
    assert report.captured_minus_refunded == report.confirmed_total and report.stock_conserved


def test_tasks_timing_out_after_their_work_change_nothing_but_retries(cloud):
    calm = run_demo(orders=10, seed=3, scenario="none", cloud=cloud)
    stormy = run_demo(orders=10, seed=3, scenario="timeouts", cloud=cloud)
    assert stormy.retries > 0 and calm.retries == 0
    assert (stormy.by_status, stormy.events, stormy.captured_minus_refunded) == (
        calm.by_status,
        calm.events,
        calm.captured_minus_refunded,
    )
    assert stormy.one_side_effect_each and calm.one_side_effect_each


def test_on_a_scaled_wall_clock_the_remediation_schedule_redrives_dead_letters(cloud):
    """At 600x a 5-minute schedule fires every half second of real time; events that
    exhausted their delivery retries reach a DLQ, the schedule redrives them, all finish."""
    report = run_demo(orders=6, seed=3, scenario="target-outage", time_scale=600, cloud=cloud)
    assert report.dead_lettered > 0
    assert report.remediation["redriven"] == report.dead_lettered
    assert set(report.by_status) <= {"CONFIRMED", "CANCELLED"}
    assert sum(report.by_status.values()) == 6
    assert report.simulated_s >= 300  # at least one tick of rate(5 minutes) passed
    assert report.money_reconciled and report.stock_conserved and report.lake_matches_store


def test_ctrl_c_stops_cleanly_lists_what_was_in_flight_and_leaves_nothing_half_written():
    """SIGINT mid-run: exit 130, the in-flight work and unfinished orders listed, the lake
    holds exactly the stored events (no partial Parquet object), stock is conserved (every
    reservation is one transaction) and the finished orders' money reconciles."""
    # --verbose: the handlers' output (EMF metrics, flushed every 100 values) reaches stdout,
    # so their first line after the API is up says orders are flowing; no wall-clock wait.
    demo = ["demo", "--verbose", "--orders", "400", "--seed", "3"]
    command = [sys.executable, "-m", "pipeline", *demo]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}  # each line as it is printed
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    ) as process:
        assert process.stdout is not None
        lines: list[str] = []
        serving = False
        for line in process.stdout:  # until a handler speaks after the API is up
            lines.append(line)
            if serving:
                break
            serving = line.startswith("Order API on")
        process.send_signal(signal.SIGINT)  # not sent if the run already ended (then 0 != 130)
        output = "".join(lines) + process.stdout.read()
        assert process.wait(timeout=120) == 130, output[-3000:]
    assert "Interrupted (Ctrl-C)" in output
    assert re.search(r"Orders not finished: \d+", output)
    assert "every stored event, once each after de-duplication: True" in output
    assert "Stock conserved (initial = available + reserved + shipped, per SKU): True" in output
    assert "(reconciled)" in output


@pytest.mark.parametrize("variant", ["choreography"])
def test_a_carrier_outage_window_is_ridden_out_by_some_orders_and_compensated_by_others(
    variant, variant_cloud
):
    """Down for the first 40 s of pipeline time: label retries (at most 62 s of backoff)
    carry some orders past it; orders whose retries run out inside it are compensated."""
    report = run_demo(orders=30, seed=2, scenario="carrier-outage-window", cloud=variant_cloud)
    assert report.by_status["CONFIRMED"] > 0 and report.by_status["CANCELLED"] > 0
    assert report.executions["ShippingStateMachine:FAILED"] == report.by_status["CANCELLED"]
    assert report.retries > 0 and report.stock_conserved and report.stock_settled
    assert report.money_reconciled and report.one_side_effect_each


def test_handlers_imported_before_their_environment_get_a_metrics_namespace(template):
    """Imported before the environment was set, a handler's Metrics had no namespace, and
    every hundredth value of a metric failed its invocation (found by the load test). The
    local runtime gives each function what its own environment says."""
    from pipeline.handlers import payment
    from pipeline.local.functions import LocalFunctions

    env = {
        "POWERTOOLS_METRICS_NAMESPACE": "FromItsEnvironment",
        "EVENTS_TABLE": "events",
        "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    payment.metrics.namespace = None
    functions = LocalFunctions(template, {"PaymentFunction": env})
    try:
        deps = functions.deps("PaymentFunction")
        assert payment.metrics.namespace == "FromItsEnvironment"
        assert deps.store.table == "events"  # built from its environment, not os.environ
        assert "EVENTS_TABLE" not in os.environ
    finally:
        functions.close()
