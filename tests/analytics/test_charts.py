"""The lake's charts (notebook 05): their numbers agree with the named queries and with the
simulator's own counts, and each picture has a title, axis labels and a legend."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

from pipeline.analytics import charts
from pipeline.analytics.athena import LocalAthena
from pipeline.analytics.lake import Lake
from pipeline.sim.run import RunSpec, simulate

matplotlib.use("Agg")


def _lake(root: Path, scenario: str) -> tuple[LocalAthena, dict]:
    spec = RunSpec(
        rate_per_min=600,
        duration_s=20,
        drain_s=1_800,
        scenario=scenario,
        seed=5,
        lake_dir=str(root),
    )
    summary = simulate(spec)
    return LocalAthena(Lake.open(str(root))), summary


@pytest.fixture(scope="module")
def carrier(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalAthena, dict]:
    return _lake(tmp_path_factory.mktemp("carrier"), "carrier-outage-window")


@pytest.fixture(scope="module")
def target_outage(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalAthena, dict]:
    return _lake(tmp_path_factory.mktemp("target"), "target-outage")


def _labelled(ax) -> None:
    assert ax.get_title() or ax.figure._suptitle is not None
    assert ax.get_xlabel()
    assert ax.get_legend() is not None or ax.figure.legends


def test_funnel_counts_every_order_once_and_the_cancelled_apart(carrier) -> None:
    athena, summary = carrier
    frame = charts.funnel_frame(athena).set_index("event")["orders"]
    statuses = summary["orders"]["by_status"]
    assert frame["OrderPlaced"] == summary["orders"]["arrived"]
    assert frame["OrderConfirmed"] == statuses.get("CONFIRMED", 0)
    assert frame["OrderCancelled"] == statuses.get("CANCELLED", 0) > 0
    assert frame["OrderConfirmed"] + frame["OrderCancelled"] == frame["OrderPlaced"]
    _labelled(charts.funnel(athena))


def test_outcomes_by_placement_add_up_to_the_funnel(carrier) -> None:
    athena, _ = carrier
    frame = charts.outcomes_by_placement_frame(athena, bucket_s=5)
    funnel = charts.funnel_frame(athena).set_index("event")["orders"]
    assert frame["confirmed"].sum() == funnel["OrderConfirmed"]
    assert frame["cancelled"].sum() == funnel["OrderCancelled"]
    _labelled(charts.outcomes_by_placement(athena, shade=(0, 40, "carrier down")))


def test_stage_latencies_are_the_named_query_in_seconds(carrier, target_outage) -> None:
    athena, _ = carrier
    seconds = charts.stage_latency_frame(athena)
    query = athena.query("stage_latency_percentiles").set_index("stage")
    assert seconds.loc["shipping", "p95_s"] == pytest.approx(query.loc["shipping", "p95_ms"] / 1000)
    axes = charts.stage_latencies({"carrier": athena, "target": target_outage[0]})
    assert len(axes) == 2
    for ax in axes:
        _labelled(ax)


def test_the_lake_shows_as_many_redriven_starts_as_the_remediation_made(target_outage) -> None:
    athena, summary = target_outage
    frame = charts.saga_starts_frame(athena, remediation_every_s=300)
    assert summary["dlq"]["redriven"] > 0
    assert int(frame["after_remediation"].sum()) == summary["dlq"]["redriven"]
    _labelled(charts.saga_starts(athena, 300))
