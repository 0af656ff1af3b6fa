"""Plots of simulated runs for the notebooks (matplotlib): quota use, a sweep's figures
against load, the simulator-versus-local-cloud intervals, a run over time (latency
percentiles, throughput against a quota, Lambda concurrency, compensations and dead letters:
``summary["timeline"]``), and sweeps by configuration (outcomes by scenario, cost per order).
Each panel function takes an optional ``ax`` and returns it; several panels make a figure."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
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
) -> Any:
    """One panel per figure in ``ys`` against ``x``, one line per value of ``by``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(ys), figsize=(4 * len(ys), 3.2), layout="constrained", squeeze=False
    )
    groups = frame.groupby(by) if by else [(None, frame)]
    for ax, y in zip(axes[0], ys, strict=True):
        for name, group in groups:
            group = group.sort_values(x)
            ax.plot(group[x], group[y], marker="o", label=str(name) if name is not None else None)
        ax.set_xlabel(x)
        ax.set_title(y)
        if y in logy:
            ax.set_yscale("log")
        if by:
            ax.legend(fontsize="small")
    return fig


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
    ax.set_yscale("log")
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
    labels = _labels(frame, by)
    ax = _axes(ax, (7, 0.4 * len(frame) + 1.2))
    services = [c for c in frame.columns if c.startswith("cost_per_1000_usd:")]
    if not services:
        ax.barh(labels, frame["cost_per_1000_usd"], color="#2e86c1")
    else:
        services.sort(key=lambda c: frame[c].fillna(0).sum(), reverse=True)
        left = [0.0] * len(frame)
        for column in services:
            values = frame[column].fillna(0).tolist()
            ax.barh(labels, values, left=left, label=column.split(":", 1)[1])
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    for y, total in enumerate(frame["cost_per_1000_usd"]):
        ax.annotate(f" ${total:.3f}", (total, y), va="center", fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("USD per 1,000 orders")
    ax.set_title("Cost per 1,000 orders by configuration")
    ax.set_xlim(0, frame["cost_per_1000_usd"].max() * 1.18)
    return ax
