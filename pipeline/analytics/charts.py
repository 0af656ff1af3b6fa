"""Charts of the audit lake (notebook 05, the design report): each one a DuckDB query over
``audit_events`` (:class:`~pipeline.analytics.athena.LocalAthena`, so a deployed lake charts
the same) and a matplotlib picture of it with a title in words, units and a legend.

- :func:`funnel`: how far the orders got, placed to confirmed, and how many were cancelled;
- :func:`stage_latencies`: p50/p95/p99 of each stage, from the ``stage_latency_percentiles``
  named query, one panel per lake;
- :func:`outcomes_by_placement`: orders by when they were placed, confirmed or cancelled (a
  compensated saga), with an outage shaded;
- :func:`saga_starts`: when each order's saga started against when it was placed: a start
  that was dead-lettered and redriven by the DLQ remediation sits on the line of its run.

Every chart's data is a ``*_frame`` function too, so a notebook can show the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The funnel's stages: (event that marks reaching it, label).
FUNNEL = (
    ("OrderPlaced", "placed"),
    ("PaymentCaptured", "paid (payment captured)"),
    ("InventoryReserved", "stock reserved"),
    ("LabelCreated", "shipping label created"),
    ("OrderConfirmed", "confirmed"),
)
CANCELLED = ("OrderCancelled", "cancelled (saga compensated)")
STAGES = ("payment", "inventory", "shipping", "confirmation", "end_to_end")
STAGE_LABELS = {
    "payment": "payment\n(placed → captured)",
    "inventory": "inventory\n(captured → reserved)",
    "shipping": "shipping\n(reserved → label)",
    "confirmation": "confirmation\n(label → confirmed)",
    "end_to_end": "end to end\n(placed → confirmed)",
}
BLUE, ORANGE, GREEN, GREY = "#2e86c1", "#e67e22", "#27ae60", "#7f8c8d"


def _axes(ax: Any | None, size: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size, layout="constrained")[1]


def funnel_frame(athena: Any) -> Any:
    """Orders that reached each stage of the happy path, and those cancelled (each event
    counted once per order, so copies in the lake change nothing)."""
    import pandas as pd

    types = [event for event, _ in (*FUNNEL, CANCELLED)]
    counts = athena.sql(
        "SELECT event_type, count(DISTINCT order_id) AS orders FROM audit_events"
        " WHERE event_type IN (SELECT unnest(?)) GROUP BY event_type",
        [types],
    )
    reached = dict(zip(counts["event_type"], counts["orders"], strict=True))
    rows = [(label, event, int(reached.get(event, 0))) for event, label in (*FUNNEL, CANCELLED)]
    return pd.DataFrame(rows, columns=["stage", "event", "orders"])


def funnel(athena: Any, ax: Any | None = None, title: str = "") -> Any:
    """The funnel as horizontal bars, placed at the top: each stage's orders, the drop from
    the stage before, and the cancelled orders (the sagas that compensated) apart."""
    frame = funnel_frame(athena)
    ax = _axes(ax, (7.5, 3.4))
    stages = frame.iloc[: len(FUNNEL)]
    cancelled = int(frame.iloc[-1]["orders"])
    positions = list(range(len(stages)))[::-1]
    ax.barh(positions, stages["orders"], color=BLUE, label="orders that reached the stage")
    ax.barh([-1.2], [cancelled], color=ORANGE, label=CANCELLED[1])
    placed = max(1, int(stages["orders"].iloc[0]))
    previous = None
    for y, count in zip(positions, stages["orders"], strict=True):
        note = f" {count:,} ({count / placed:.0%})"
        if previous is not None and previous > count:
            note += f", {previous - count:,} dropped"
        ax.text(count, y, note, va="center", fontsize="small")
        previous = count
    ax.text(cancelled, -1.2, f" {cancelled:,} ({cancelled / placed:.0%})", va="center")
    ax.set_yticks([*positions, -1.2], [*stages["stage"], "cancelled"])
    ax.set_xlim(0, placed * 1.35)
    ax.set_xlabel("orders")
    ax.set_title(title or "Order funnel: how far the orders got")
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return ax


def stage_latency_frame(athena: Any) -> Any:
    """The ``stage_latency_percentiles`` named query, in seconds, in the pipeline's order."""
    frame = athena.query("stage_latency_percentiles").set_index("stage")
    frame = frame.reindex([s for s in STAGES if s in frame.index])
    seconds = frame[["p50_ms", "p95_ms", "p99_ms"]].astype(float) / 1000
    seconds.columns = ["p50_s", "p95_s", "p99_s"]
    return seconds.assign(orders=frame["orders"])


def stage_latencies(lakes: Mapping[str, Any], axes: Sequence[Any] | None = None) -> Any:
    """p50, p95 and p99 of each stage's latency (seconds, log scale), one panel per lake
    (``{"label": athena}``), on one scale so the panels compare."""
    import matplotlib.pyplot as plt

    if axes is None:
        figure, axes = plt.subplots(
            1, len(lakes), figsize=(5.2 * len(lakes), 3.8), sharex=True, layout="constrained"
        )
        axes = [axes] if len(lakes) == 1 else list(axes)
        figure.suptitle("Stage latency percentiles: where orders spend their time")
    colors = {"p50_s": "#aed6f1", "p95_s": BLUE, "p99_s": "#1b4f72"}
    for ax, (label, athena) in zip(axes, lakes.items(), strict=True):
        frame = stage_latency_frame(athena)
        positions = range(len(frame))[::-1]
        for offset, column in enumerate(colors):
            ax.barh(
                [y + (1 - offset) * 0.27 for y in positions],
                frame[column],
                height=0.26,
                color=colors[column],
                label=column.removesuffix("_s"),
            )
        ax.set_yticks(list(positions), [STAGE_LABELS[s] for s in frame.index], fontsize="small")
        ax.set_xscale("log")
        ax.set_xlabel("seconds (log scale)")
        ax.set_title(label, fontsize="medium")
        ax.grid(axis="x", alpha=0.3, which="both")
    from matplotlib.ticker import FuncFormatter

    for ax in axes:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].figure.legend(
        handles, labels, title="percentile", fontsize="small", loc="outside lower center", ncols=3
    )
    return axes


def outcomes_by_placement_frame(athena: Any, bucket_s: float = 5.0) -> Any:
    """Orders by when they were placed (``bucket_s`` windows, seconds since the first order)
    and how they ended: confirmed, cancelled, or neither yet."""
    return athena.sql(
        """
        WITH orders AS (
            SELECT order_id,
                   min(occurred_at) FILTER (WHERE event_type = 'OrderPlaced') AS placed,
                   bool_or(event_type = 'OrderConfirmed') AS confirmed,
                   bool_or(event_type = 'OrderCancelled') AS cancelled
            FROM audit_events GROUP BY order_id
        ), start AS (SELECT min(placed) AS t0 FROM orders)
        SELECT floor(date_diff('millisecond', t0, placed) / 1000 / ?) * ? AS placed_s,
               count(*) FILTER (WHERE confirmed) AS confirmed,
               count(*) FILTER (WHERE cancelled) AS cancelled,
               count(*) FILTER (WHERE NOT confirmed AND NOT cancelled) AS unfinished
        FROM orders, start WHERE placed IS NOT NULL
        GROUP BY 1 ORDER BY 1
        """,
        [bucket_s, bucket_s],
    )


def outcomes_by_placement(
    athena: Any,
    bucket_s: float = 5.0,
    shade: tuple[float, float, str] | None = None,
    ax: Any | None = None,
    title: str = "",
) -> Any:
    """Stacked bars of the orders placed in each window, confirmed or cancelled (their saga
    compensated); ``shade`` = (from_s, to_s, label) marks a fault's window."""
    frame = outcomes_by_placement_frame(athena, bucket_s)
    ax = _axes(ax, (7.5, 3.4))
    x, width = frame["placed_s"] + bucket_s / 2, bucket_s * 0.9
    ax.bar(x, frame["confirmed"], width, color=BLUE, label="confirmed")
    ax.bar(
        x, frame["cancelled"], width, bottom=frame["confirmed"], color=ORANGE, label=CANCELLED[1]
    )
    if frame["unfinished"].any():
        bottom = frame["confirmed"] + frame["cancelled"]
        ax.bar(x, frame["unfinished"], width, bottom=bottom, color=GREY, label="not finished")
    if shade:
        ax.axvspan(shade[0], shade[1], color="#f5b7b1", alpha=0.35, zorder=0, label=shade[2])
    total = frame["confirmed"] + frame["cancelled"] + frame["unfinished"]
    ax.set_ylim(0, max(1, int(total.max())) * 1.1)
    ax.set_xlabel(f"when the order was placed (seconds since the first order, {bucket_s:g} s bins)")
    ax.set_ylabel("orders placed")
    ax.set_title(title or "How the orders ended, by when they were placed")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(axis="y", alpha=0.3)
    return ax


def saga_starts_frame(athena: Any, remediation_every_s: float | None = None) -> Any:
    """Per order, when it was placed and when its saga's first step (``PaymentAuthorized`` or
    ``PaymentFailed``) happened, in seconds since the first order; with the remediation
    function's schedule, whether that step came at one of its runs (within
    ``REDRIVE_WINDOW_S``): the order's start was dead-lettered and redriven."""
    frame = athena.sql(
        """
        WITH orders AS (
            SELECT order_id,
                   min(occurred_at) FILTER (WHERE event_type = 'OrderPlaced') AS placed,
                   min(occurred_at) FILTER (WHERE event_type IN
                       ('PaymentAuthorized', 'PaymentFailed')) AS started
            FROM audit_events GROUP BY order_id
        ), first AS (SELECT min(placed) AS t0 FROM orders)
        SELECT order_id,
               date_diff('millisecond', t0, placed) / 1000.0 AS placed_s,
               date_diff('millisecond', t0, started) / 1000.0 AS started_s
        FROM orders, first WHERE started IS NOT NULL ORDER BY placed_s
        """
    )
    frame["waited_s"] = frame["started_s"] - frame["placed_s"]
    if remediation_every_s:
        # within the window either side of a run: the times count from the first order,
        # which came a little after the schedule's start
        near = (frame["started_s"] + REDRIVE_WINDOW_S) % remediation_every_s
        frame["after_remediation"] = (frame["started_s"] >= remediation_every_s / 2) & (
            near < 2 * REDRIVE_WINDOW_S
        )
    return frame


REDRIVE_WINDOW_S = 5.0  # a redriven start runs within seconds of the remediation run


def saga_starts(
    athena: Any, remediation_every_s: float, ax: Any | None = None, title: str = ""
) -> Any:
    """Each order as a point: when it was placed against when its saga started. Starts the
    bus delivered lie just above the diagonal (EventBridge's own retries lift them); starts
    that exhausted those retries waited in the DLQ and lie on the line of a remediation run."""
    frame = saga_starts_frame(athena, remediation_every_s)
    ax = _axes(ax, (8.5, 3.8))
    redriven = frame[frame["after_remediation"]]
    direct = frame[~frame["after_remediation"]]
    ax.scatter(
        direct["placed_s"],
        direct["started_s"],
        s=9,
        color=BLUE,
        label=f"delivered by EventBridge,\nwith its retries ({len(direct):,} orders)",
    )
    ax.scatter(
        redriven["placed_s"],
        redriven["started_s"],
        s=9,
        color=ORANGE,
        label=f"dead-lettered, redriven by\nDLQ remediation ({len(redriven):,} orders)",
    )
    top = max(float(frame["started_s"].max()), remediation_every_s) * 1.08
    runs = [remediation_every_s * k for k in range(1, int(top // remediation_every_s) + 1)]
    for n, at in enumerate(runs):
        ax.axhline(
            at,
            color=GREY,
            linestyle="--",
            linewidth=1,
            label=f"remediation runs (every {remediation_every_s:g} s)" if n == 0 else None,
        )
    ax.set_ylim(0, top)
    ax.set_xlabel("when the order was placed (seconds since the first order)")
    ax.set_ylabel("when its saga started (s)")
    ax.set_title(title or "When each order's saga started: at once, after retries, or redriven")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(alpha=0.3)
    return ax
