"""Plots of simulated runs for the notebooks (matplotlib): quota use, a sweep's figures
against load, and the simulator-versus-local-cloud intervals."""

from __future__ import annotations

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
