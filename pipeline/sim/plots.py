"""Plots of simulated runs for the notebooks (matplotlib): quota use, a sweep's figures
against load, the simulator-versus-local-cloud intervals, a run over time (latency
percentiles, throughput against a quota, Lambda concurrency, compensations and dead letters:
``summary["timeline"]``), sweeps by configuration (outcomes by scenario, cost per order),
capacity curves (:func:`pipeline.sim.capacity.search` results) and the design variants as a
table. Each panel function takes an optional ``ax`` and returns it; several panels make a
figure. Axis titles are words with units; shares are drawn as percentages."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any


def _axes(ax: Any | None, size: tuple[float, float] = (7, 3.5)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size, layout="constrained")[1]


def quota_use(summary: dict[str, Any], top: int = 8, ax: Any | None = None) -> Any:
    """Each quota's use (mean demand over its limit; peaks for concurrency), highest first:
    a bar past 100% is a quota that binds."""
    rows = summary["quota_use"][:top][::-1]
    ax = _axes(ax, (7, 0.4 * len(rows) + 1))
    uses = [row["use"] * 100 for row in rows]
    ax.barh(
        [row["quota"] for row in rows],
        uses,
        color=["#c0392b" if u >= 100 else "#2e86c1" for u in uses],
    )
    ax.axvline(100, color="black", linewidth=1, linestyle="--")
    ax.set_xlabel("use of the quota (%)")
    ax.set_title("Which quota binds first")
    return ax


def against(
    frame: Any,
    x: str,
    ys: Sequence[str],
    by: str | None = None,
    logy: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    percent: Sequence[str] = (),
    ncols: int | None = None,
    logx: bool = False,
) -> Any:
    """One panel per figure in ``ys`` against ``x``, one line per value of ``by``.

    ``labels`` names columns in words with units (axis titles, panel titles, the legend's
    title, shown once; a column not in it is shown by its name); ``percent`` lists columns
    that are shares (0..1), drawn as percentages; ``ncols`` panels per row (None: all in one
    row); ``logx`` a log rate axis with plain tick labels (1,000, 2,000, 5,000...)."""
    import matplotlib.pyplot as plt

    names = dict(labels or {})
    ncols = ncols or len(ys)
    nrows = math.ceil(len(ys) / ncols)
    width = 4.0 * ncols if labels is None else min(4.5 * ncols, 9.5)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, 3.2 * nrows), layout="constrained", squeeze=False
    )
    groups = list(frame.groupby(by, sort=False)) if by else [(None, frame)]
    flat = list(axes.flat)
    for ax, y in zip(flat, ys, strict=False):
        scale = 100.0 if y in percent else 1.0
        for name, group in groups:
            group = group.sort_values(x)
            ax.plot(
                group[x],
                group[y] * scale,
                marker="o",
                label=str(name) if name is not None else None,
            )
        ax.set_xlabel(names.get(x, x))
        ax.set_title(names.get(y, y))
        _scales(ax, y in logy, y in percent, logx, worded=labels is not None)
        if by and (labels is None or ax is flat[0]):  # worded: one legend, first panel
            ax.legend(fontsize="small", title=names.get(by, by) if labels is not None else None)
    for ax in flat[len(ys) :]:
        ax.set_visible(False)
    return fig


def _scales(ax: Any, logy: bool, percent: bool, logx: bool, worded: bool) -> None:
    """A panel's axes: a share as a percentage, log scales; ``worded`` (the caller named
    the columns) adds plain tick labels (1,000 and 5 s, not 10^3 and 5x10^0) and a grid."""
    from matplotlib.ticker import PercentFormatter

    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=None))  # 0.1% on a small range
    if logy and worded:
        _log_axis(ax, "y")
    elif logy:
        ax.set_yscale("log")
    if logx:
        _rate_axis(ax)
    elif worded:
        ax.xaxis.set_major_formatter(_thousands())
    if worded:
        ax.grid(alpha=0.3)


def _thousands() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:,.0f}")


def _rate_axis(ax: Any, which: str = "x") -> None:
    """A log axis of rates with ticks at 1, 2 and 5 of each decade, labelled 1,000 not 10^3."""
    _log_axis(ax, which, "{:,.0f}")


def _log_axis(ax: Any, which: str = "y", fmt: str = "{:g}") -> None:
    """A log axis with ticks at 1, 2 and 5 of each decade, labelled as plain numbers (5, 10,
    20 s; 1,000 orders/min), not as powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: fmt.format(value)))
    axis.set_minor_formatter(NullFormatter())


def agreement(rows: Sequence[Any], ax: Any | None = None) -> Any:
    """Each measure's mean per order with its 95% interval: local cloud and simulator."""
    ax = _axes(ax, (7, 0.45 * len(rows) + 1.2))
    for offset, (label, side, color) in enumerate(
        (("local cloud", "local", "#2e86c1"), ("simulator", "sim", "#e67e22"))
    ):
        for n, row in enumerate(rows):
            est = getattr(row, side)
            y = n + (offset - 0.5) * 0.3
            ax.errorbar(
                est.mean,
                y,
                xerr=[[est.mean - est.low], [est.high - est.mean]],
                fmt="o",
                color=color,
                capsize=3,
                label=label if n == 0 else None,
            )
    ax.set_yticks(range(len(rows)), [row.measure for row in rows])
    ax.set_xlabel("per order (mean, 95% interval)")
    ax.legend(fontsize="small")
    return ax


QUOTA_NAMES = {
    "api_gateway": "API Gateway",
    "put_events": "EventBridge PutEvents",
    "invocations": "EventBridge invocations",
    "state_transitions": "StateTransition",
    "start_execution_standard": "StartExecution (Standard)",
    "start_execution_express": "StartExecution (Express)",
}


def _timeline(source: Any) -> Any:
    """A run's timeline as a DataFrame: from a summary, its rows, or a DataFrame of them."""
    import pandas as pd

    if isinstance(source, dict):
        source = source["timeline"]
    return source if isinstance(source, pd.DataFrame) else pd.DataFrame(list(source))


def _over_time(ax: Any, source: Any, ylabel: str, title: str) -> None:
    """Time axis, labels, and a line where arrivals stop (when ``source`` is a summary)."""
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if isinstance(source, dict) and "spec" in source:
        ax.axvline(source["spec"]["duration_s"], color="grey", linestyle=":", label="arrivals stop")
    ax.grid(alpha=0.3)


def _midpoints(frame: Any) -> Any:
    return frame["start_s"] + frame["seconds"] / 2


def latency_over_time(source: Any, ax: Any | None = None) -> Any:
    """p50, p95 and p99 of order latency (placed to terminal status) per window, for the
    orders that ended in it: a queue builds where the lines climb."""
    frame, ax = _timeline(source), _axes(ax)
    x = _midpoints(frame)
    for q, color in (("p50", "#2e86c1"), ("p95", "#e67e22"), ("p99", "#c0392b")):
        ax.plot(x, frame[f"{q}_s"], marker=".", color=color, label=q)
    _log_axis(ax, "y")
    _over_time(ax, source, "order latency (s)", "Latency percentiles over time")
    ax.legend(fontsize="small")
    return ax


def _busiest_start_quota(frame: Any) -> str:
    suffix = "_limit_per_s"
    quotas = [
        c.removesuffix(suffix)
        for c in frame.columns
        if c.startswith("start_execution_") and c.endswith(suffix)
    ]
    if not quotas:
        raise ValueError("no StartExecution demand in this timeline")
    return max(quotas, key=lambda q: frame[f"{q}_per_s"].sum())


def throughput_vs_quota(source: Any, quota: str | None = None, ax: Any | None = None) -> Any:
    """Orders accepted per second against one quota's demand, limit (its refill rate) and
    throttles per second; ``quota`` is a timeline quota (``start_execution_standard``,
    ``state_transitions``, ``put_events``, ``api_gateway``...), by default the
    StartExecution bucket with the most demand. Demand above the limit is throttled once the
    burst is spent."""
    frame, ax = _timeline(source), _axes(ax)
    quota = quota or _busiest_start_quota(frame)
    name = QUOTA_NAMES.get(quota, quota)
    x = _midpoints(frame)
    ax.plot(x, frame["orders_per_s"], marker=".", color="#27ae60", label="orders accepted/s")
    ax.plot(x, frame[f"{quota}_per_s"], marker=".", color="#2e86c1", label=f"{name} requests/s")
    ax.plot(
        x,
        frame[f"{quota}_limit_per_s"],
        drawstyle="steps-mid",
        color="black",
        linestyle="--",
        label=f"{name} limit/s",
    )
    ax.plot(x, frame[f"{quota}_throttled_per_s"], marker=".", color="#c0392b", label="throttled/s")
    _over_time(ax, source, "per second", f"Throughput against the {name} quota")
    _legend(ax)
    return ax


def concurrency_over_time(source: Any, ax: Any | None = None) -> Any:
    """The busiest Lambda function's peak concurrency per window against its limit, and its
    throttled invocations per second (right axis)."""
    frame, ax = _timeline(source), _axes(ax)
    function = frame["lambda_function"].dropna().iloc[0]
    x = _midpoints(frame)
    ax.plot(x, frame["lambda_peak"], marker=".", color="#2e86c1", label="peak concurrency")
    ax.plot(
        x,
        frame["lambda_limit"],
        drawstyle="steps-mid",
        color="black",
        linestyle="--",
        label="limit",
    )
    _over_time(ax, source, "concurrent executions", f"Lambda concurrency: {function}")
    column = f"throttled:lambda:{function}"
    if column in frame:
        right = ax.twinx()
        right.plot(
            x,
            frame[column] / frame["seconds"],
            color="#c0392b",
            marker=".",
            label="throttled/s",
        )
        right.set_ylabel("throttled invocations/s")
        _legend(ax, right)
    else:
        _legend(ax)
    return ax


def _legend(ax: Any, right: Any | None = None) -> None:
    """One legend for a panel (and its twin axis), under it, clear of the lines."""
    lines, labels = ax.get_legend_handles_labels()
    if right is not None:
        more, more_labels = right.get_legend_handles_labels()
        lines, labels = lines + more, labels + more_labels
    ax.legend(
        lines,
        labels,
        fontsize="small",
        loc="upper center",
        bbox_to_anchor=(0.5, -0.18),
        ncols=min(len(labels), 3),
        frameon=False,
    )


def compensation_and_dlq(source: Any, min_finished: int = 20, ax: Any | None = None) -> Any:
    """Per window: the share of orders finishing in it that were compensated (left axis;
    not drawn for windows with fewer than ``min_finished`` orders finished, too few for a
    rate) and the deliveries dead-lettered in it (bars, right axis)."""
    frame, ax = _timeline(source), _axes(ax)
    x = _midpoints(frame)
    enough = frame["finished"] >= min_finished
    ax.plot(
        x,
        (frame["compensation_rate"] * 100).where(enough),
        marker=".",
        color="#8e44ad",
        label="compensated (% of finished)",
    )
    ax.set_ylim(bottom=0)
    right = ax.twinx()
    right.bar(
        x,
        frame["dead_lettered"],
        width=frame["seconds"] * 0.8,
        color="#c0392b",
        alpha=0.4,
        label="dead-lettered deliveries",
    )
    right.set_ylabel("dead-lettered per window")
    right.set_ylim(bottom=0)
    _over_time(ax, source, "compensated (%)", "Compensations and dead letters over time")
    _legend(ax, right)
    return ax


def _labels(frame: Any, by: str | Sequence[str]) -> list[str]:
    """A name per row of a sweep: its values of the ``by`` columns."""
    columns = [by] if isinstance(by, str) else list(by)
    return [" · ".join(_shown(row[c]) for c in columns) for _, row in frame.iterrows()]


def _shown(value: Any) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"
    return str(value)


def outcomes_by(frame: Any, by: str | Sequence[str] = "scenario") -> Any:
    """A sweep's compensation rate and dead-lettered deliveries per 1,000 orders, one bar
    per configuration (``by``: the sweep's columns that name it)."""
    import matplotlib.pyplot as plt

    labels = _labels(frame, by)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(9, 0.35 * len(frame) + 1.5), layout="constrained", sharey=True
    )
    left.barh(labels, frame["compensation_rate"] * 100, color="#8e44ad")
    left.set_xlabel("compensated (% of orders)")
    left.set_title("Compensation rate")
    per_k = frame["dead_lettered"] / frame["orders"].clip(lower=1) * 1000
    right.barh(labels, per_k, color="#c0392b")
    right.set_xlabel("dead-lettered deliveries per 1,000 orders")
    right.set_title("Dead letters")
    right.set_xlim(0, max(1.0, per_k.max() * 1.1))
    if not per_k.any():
        right.text(0.5, 0.5, "none dead-lettered", transform=right.transAxes, ha="center")
    left.invert_yaxis()
    return fig


def cost_per_order(frame: Any, by: str | Sequence[str], ax: Any | None = None) -> Any:
    """Cost per 1,000 orders for each configuration of a sweep (``by``: the columns naming
    it), split by service when the sweep has ``cost_per_1000_usd:<service>`` columns."""
    return _stacked_cost(
        frame,
        by,
        "cost_per_1000_usd",
        "USD per 1,000 orders",
        "Cost per 1,000 orders by configuration",
        ax,
    )


def cost_per_confirmed(
    frame: Any,
    by: str | Sequence[str],
    ax: Any | None = None,
    title: str = "Cost per 1,000 confirmed orders, by service",
) -> Any:
    """Cost per 1,000 CONFIRMED orders (what the business pays per sale: the work of the
    cancelled orders is in it) for each row of ``frame`` (``by``: the columns naming it),
    stacked by service from its ``cost_per_1000_confirmed_usd:<service>`` columns (a
    capacity curve's rows, :func:`pipeline.sim.capacity.curve_row`)."""
    return _stacked_cost(
        frame, by, "cost_per_1000_confirmed_usd", "USD per 1,000 confirmed orders", title, ax
    )


def _stacked_cost(
    frame: Any, by: str | Sequence[str], total: str, xlabel: str, title: str, ax: Any | None
) -> Any:
    """One horizontal bar per row of ``frame``: its ``total`` column, split into the
    ``<total>:<service>`` columns when there are any (largest service first), the total
    written at the bar's end."""
    labels = _labels(frame, by)
    ax = _axes(ax, (7, 0.4 * len(frame) + 1.2))
    services = [c for c in frame.columns if c.startswith(f"{total}:")]
    if not services:
        ax.barh(labels, frame[total], color="#2e86c1")
    else:
        services.sort(key=lambda c: frame[c].fillna(0).sum(), reverse=True)
        left = [0.0] * len(frame)
        for column in services:
            values = frame[column].fillna(0).tolist()
            ax.barh(labels, values, left=left, label=column.split(":", 1)[1])
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    for y, value in enumerate(frame[total]):
        ax.annotate(f" ${value:.3f}", (value, y), va="center", fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.set_xlim(0, frame[total].max() * 1.18)
    return ax


# ----------------------------------------------------------------------------- capacity

COLORS = ("#2e86c1", "#c0392b", "#27ae60", "#8e44ad", "#e67e22", "#7f8c8d")


def _by_rate(curve: Any) -> Any:
    """A capacity curve with its seeds merged, one row per offered rate: mean confirmed
    throughput, the worst seed's p99, and whether every seed held."""
    return (
        curve.groupby("offered_per_min", sort=True)
        .agg(
            confirmed_per_min=("confirmed_per_min", "mean"),
            p99_s=("p99_s", "max"),
            holds=("holds", "all"),
        )
        .reset_index()
    )


def capacity_curves(results: Mapping[str, Any], title: str | None = None) -> Any:
    """Capacity curves of one or more designs side by side: confirmed orders per minute
    against the offered rate (left), p99 order latency against it (right, with each
    design's SLO bound: ``slo.p99_factor`` x its unloaded p99), on log rate axes. Filled
    markers hold every SLO, open ones fail; a dotted line marks each knee (the lowest
    failing rate). ``results``: name -> :class:`pipeline.sim.capacity.CapacityResult`;
    the legend under the panels says each design's capacity, knee and binding quota."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.5), layout="constrained")
    designs: list[Any] = []
    highest = 0.0
    for (name, result), color in zip(results.items(), COLORS, strict=False):
        rows = _by_rate(result.curve)
        rates = rows["offered_per_min"]
        highest = max(highest, float(rates.max()))
        for ax, column in ((left, "confirmed_per_min"), (right, "p99_s")):
            ax.plot(rates, rows[column], color=color, linewidth=1.5)
            ax.scatter(
                rates,
                rows[column],
                color=color,
                facecolors=[color if held else "white" for held in rows["holds"]],
                zorder=3,
                s=30,
            )
            if result.knee_per_min is not None:
                ax.axvline(result.knee_per_min, color=color, linestyle=":", linewidth=1.2)
        if result.unloaded_p99_s is not None:
            bound = result.slo.p99_factor * result.unloaded_p99_s
            right.axhline(bound, color=color, linestyle="--", linewidth=1)
        knee = result.knee_per_min
        designs.append(
            Line2D(
                [],
                [],
                color=color,
                marker="o",
                label=f"{name}: holds {result.max_per_min:,.0f}/min"
                + (
                    f"; knee {knee:,.0f}/min, binding: {result.binding_quota}"
                    if knee is not None
                    else f"; no knee up to {highest:,.0f}/min"
                ),
            )
        )
    lowest = min(float(r.curve["offered_per_min"].min()) for r in results.values())
    left.plot([lowest, highest], [lowest, highest], color="grey", linewidth=0.8, linestyle="-.")
    left.set_ylabel("confirmed orders per minute")
    left.set_title("Throughput")
    right.set_ylabel("p99 order latency (s)")
    _log_axis(right, "y")
    right.set_title("Latency (dashed: SLO bound)")
    for ax in (left, right):
        ax.set_xlabel("offered orders per minute")
        _rate_axis(ax)
        ax.grid(alpha=0.3)
    _rate_axis(left, "y")
    keys = [
        Line2D([], [], color="grey", marker="o", linestyle="", label="holds the SLOs"),
        Line2D(
            [],
            [],
            color="grey",
            marker="o",
            markerfacecolor="white",
            linestyle="",
            label="fails them",
        ),
        Line2D([], [], color="grey", linestyle=":", label="knee (lowest failing rate)"),
        Line2D([], [], color="grey", linestyle="-.", label="confirmed = offered"),
    ]
    left.legend(handles=keys, fontsize="small", loc="lower right")
    fig.legend(handles=designs, loc="outside lower center", ncols=1)
    if title:
        fig.suptitle(title)
    return fig


def outcome(summary: dict[str, Any]) -> str:
    """What happened to a run's orders, in one sentence: accepted and shed, then the share
    confirmed, stuck or unfinished (no terminal status), cancelled by an internal cause
    (a throttle, a timeout: valid orders the pipeline lost) and the p99 latency."""
    orders = summary["orders"]
    accepted = max(orders["accepted"], 1)
    confirmed = orders["by_status"].get("CONFIRMED", 0)
    stuck = orders["stuck"] + orders["unfinished"]
    internal = orders["throttle_cancelled"]
    p99 = summary["latency_s"]["p99"]
    return (
        f"{orders['accepted']:,} orders accepted, {orders['rejected_429']:,} shed with 429: "
        f"{confirmed / accepted:.1%} confirmed, {stuck / accepted:.1%} stuck or unfinished "
        f"({stuck:,}), {internal / accepted:.1%} cancelled by throttles or timeouts "
        f"({internal:,}); p99 latency {'-' if p99 is None else f'{p99:,.1f} s'}"
    )


def variants_table(names: Sequence[str] | None = None) -> Any:
    """The design variants (:data:`pipeline.variants.VARIANTS`) as a DataFrame, one row
    each: how the saga is coordinated, the workflow types, the functions' reserved
    concurrency and the intake's throttle, read from the template with the variant's
    parameters (so a default changed in the template shows here)."""
    import pandas as pd

    from pipeline.template import Template
    from pipeline.variants import PIPELINES, STEP_FUNCTIONS, VARIANTS

    base = Template.load()
    rows = []
    for name in names or list(VARIANTS):
        values = base.with_parameters(VARIANTS[name]).parameters
        orchestrated = values["Coordination"] == "orchestration"
        types = (
            {values["OrderSagaWorkflowType"]}
            if orchestrated
            else {values[f"{p}WorkflowType"] for p in PIPELINES}
        )
        reserved = {int(values[f"{f}Concurrency"]) for f in STEP_FUNCTIONS}
        rows.append(
            {
                "variant": name,
                "coordination": (
                    "orchestrated: one saga execution per order"
                    if orchestrated
                    else "choreography: four pipelines started by events"
                ),
                "workflow type": " / ".join(sorted(types)),
                "reserved concurrency per function": ", ".join(
                    "unreserved" if r == 0 else f"{r:,}" for r in sorted(reserved)
                ),
                "intake throttle (requests/s, burst)": (
                    f"{int(values['ApiThrottleRate']):,} / {int(values['ApiThrottleBurst']):,}"
                ),
            }
        )
    return pd.DataFrame(rows).set_index("variant")
