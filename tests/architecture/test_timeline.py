"""One order's saga over time: each state entry a bar on the pipeline clock, coloured by how
it went, failed attempts marked, compensation steps hatched."""

from __future__ import annotations

from datetime import timedelta

import matplotlib
import pytest

from pipeline.diagrams.timeline import COLOURS, XLABEL, saga_timeline, spans
from pipeline.sim.engine import envelope
from pipeline.sim.replay import run_with_outcomes
from pipeline.template import Template
from pipeline.variants import VARIANTS

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def machines():
    template = Template.load(parameters=VARIANTS["choreography"])
    return {
        m: template.state_machine_definition(m)
        for m, _ in template.of_type("AWS::Serverless::StateMachine")
    }


def run(definition, event_type: str, outcomes: list[str]):
    return run_with_outcomes(definition, envelope(event_type), outcomes).result


def test_a_retried_state_then_a_caught_one_and_the_compensation_after_it(machines):
    payment = machines["PaymentStateMachine"]
    execution = run(payment, "OrderPlaced", ["ok"] + ["GatewayUnavailable"] * 5)
    entries = spans([("PaymentStateMachine", execution)])
    by_state = {e.state: e for e in entries}
    capture = by_state["Capture"]
    assert capture.outcome == "caught" and len(capture.failures) == 5
    assert capture.end is not None and capture.end >= capture.start
    assert by_state["Authorize"].outcome == "succeeded" and not by_state["Authorize"].compensation
    after = entries[entries.index(capture) + 1 :]
    assert after and all(e.compensation for e in after)
    retried = spans(
        [("PaymentStateMachine", run(payment, "OrderPlaced", ["GatewayUnavailable", "ok", "ok"]))]
    )
    assert {e.state: e.outcome for e in retried}["Authorize"] == "retried"


def test_an_execution_started_by_a_failure_event_is_a_compensation(machines):
    refund = run(machines["PaymentStateMachine"], "InventoryReservationFailed", ["ok", "ok", "ok"])
    assert all(e.compensation for e in spans([("PaymentStateMachine", refund)]))


def test_the_picture_has_a_title_in_words_axis_units_a_legend_and_a_bar_per_state(machines):
    payment = run(
        machines["PaymentStateMachine"], "OrderPlaced", ["ok"] + ["GatewayUnavailable"] * 5
    )
    again = run(machines["PaymentStateMachine"], "OrderPlaced", ["ok", "ok"])
    executions = [("PaymentStateMachine", payment), ("PaymentStateMachine", again)]
    placed = payment.history[0]["timestamp"] - timedelta(seconds=2)
    figure = saga_timeline(executions, placed=placed)
    ax = figure.axes[0]
    assert ax.get_xlabel() == XLABEL == "seconds since the order was placed (pipeline clock)"
    assert ax.get_title().startswith("One order's saga over time: 2 executions of Payment")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "Payment · Capture" in labels and "Payment #2 · Authorize" in labels
    assert len(ax.patches) == len(spans(executions))
    assert min(p.get_x() for p in ax.patches) == pytest.approx(2.0)  # placed 2 s before
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for words in ("succeeded", "retried, then succeeded", "error caught → compensation", "failed"):
        assert words in legend
    colours = {matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches}
    assert COLOURS["caught"] in colours and COLOURS["succeeded"] in colours


def test_a_failed_execution_ends_red(machines):
    shipping = machines["ShippingStateMachine"]
    failed = run(shipping, "InventoryReserved", ["CarrierUnavailable"] * 6 + ["ok"] * 6)
    entries = spans([("ShippingStateMachine", failed)])
    if failed.status == "FAILED":
        assert entries[-1].outcome == "failed"
    else:  # the machine caught it and compensated: something was caught on the way
        assert any(e.outcome == "caught" for e in entries)


def test_nothing_to_draw_is_refused():
    with pytest.raises(ValueError):
        saga_timeline([])
