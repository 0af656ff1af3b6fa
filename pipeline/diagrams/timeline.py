"""One order's saga over time, as the Step Functions console's timeline draws an execution:
every state each of the order's executions entered is a horizontal bar from when it was entered
to when it was left, on the pipeline's clock, coloured by how it went (succeeded, retried,
caught and compensated, failed), each failed attempt marked, the compensation steps hatched.

The default design runs one saga execution per order (``OrderSagaStateMachine``); the
choreography runs one per pipeline hop (payment, inventory, shipping, notification), and a
compensation is another machine's execution started by a failure event. Both are drawn the same
way from the executions' histories (``pipeline.asl.Execution``, GetExecutionHistory's shape).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.asl import Execution
from pipeline.domain.order import COMPENSATION_STARTING_EVENTS

SUCCEEDED, RETRIED, CAUGHT, FAILED = "#2e7d32", "#f2c12e", "#e67e22", "#c0392b"
COLOURS = {"succeeded": SUCCEEDED, "retried": RETRIED, "caught": CAUGHT, "failed": FAILED}
# Events of an order already being undone: an execution they start is a compensation.
COMPENSATING_EVENTS = COMPENSATION_STARTING_EVENTS | {
    "InventoryReleased",
    "PaymentRefunded",
    "OrderCancelled",
    "CompensationFailed",
}
XLABEL = "seconds since the order was placed (pipeline clock)"


@dataclass
class Span:
    """One entry into one state: when, how it went, its failed attempts."""

    machine: str
    run: int  # which execution of this machine for the order (1 = first, 2 = a duplicate …)
    state: str
    kind: str  # the state's type: Task, Choice, Succeed, Fail, …
    start: datetime
    end: datetime | None = None
    failures: list[tuple[datetime, str]] = field(default_factory=list)  # (when, error)
    caught: bool = False  # its error was caught: the execution went on to a Catch's Next
    failed: bool = False  # the execution failed here (or it is a Fail state)
    compensation: bool = False  # a step undoing earlier ones

    @property
    def outcome(self) -> str:
        if self.failed:
            return "failed"
        if self.caught:
            return "caught"
        return "retried" if self.failures else "succeeded"


def spans(executions: Iterable[tuple[str, Execution]]) -> list[Span]:
    """Every state entry of ``executions`` (machine, execution): execution by execution in
    the order they started, each one's states in the order entered (as the console lists
    an execution's events)."""
    ordered = sorted(executions, key=lambda run: run[1].start or _first_moment(run[1]))
    result: list[Span] = []
    seen: dict[str, int] = {}
    for machine, execution in ordered:
        seen[machine] = seen.get(machine, 0) + 1
        result += spans_of(execution, machine, seen[machine])
    return result


def _first_moment(execution: Execution) -> datetime:
    return execution.history[0]["timestamp"] if execution.history else datetime.max


def spans_of(execution: Execution, machine: str = "", run: int = 1) -> list[Span]:
    """One execution's state entries, in the order entered: a state left while its last
    attempt was failing was left through a Catch (``caught``)."""
    history = execution.history
    trigger = str((execution.input or {}).get("detail-type", ""))
    compensating = trigger in COMPENSATING_EVENTS
    out: list[Span] = []
    current: Span | None = None
    failing = False  # the current state's last attempt failed
    for event in history:
        kind, moment = event["type"], event["timestamp"]
        if kind.endswith("StateEntered"):
            if current is not None and failing:  # left through a Catch
                current.caught, compensating = True, True
            details = event[kind[0].lower() + kind[1:] + "EventDetails"]
            current = Span(
                machine,
                run,
                details["name"],
                kind.removesuffix("StateEntered"),
                moment,
                compensation=compensating,
                failed=kind == "FailStateEntered",
            )
            out.append(current)
            failing = False
        elif kind.endswith("StateExited") and current is not None:
            current.end = moment
        elif kind in ("TaskFailed", "TaskTimedOut") and current is not None:
            details = event.get(kind[0].lower() + kind[1:] + "EventDetails", {})
            current.failures.append((moment, str(details.get("error", kind))))
            failing = True
        elif kind in ("TaskScheduled", "TaskSucceeded"):
            failing = False
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted") and current:
            current.failed = True
            current.end = current.end or moment
    end = execution.stop
    for span in out:
        span.end = span.end or end or span.start
    return out


def saga_timeline(
    executions: Sequence[tuple[str, Execution]],
    placed: datetime | None = None,
    ax: Any = None,
    title: str | None = None,
) -> Any:
    """A matplotlib ``Figure``: each state entry of an order's ``executions`` (machine,
    execution) as a bar over seconds since ``placed`` (the order's placing on the pipeline
    clock; its first execution's start when not given). Drawn on ``ax`` when given."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    entries = spans(executions)
    if not entries:
        raise ValueError("no executions to draw")
    zero = placed or min(e.start for e in entries)
    seconds = [(_s(e.start, zero), _s(e.end or e.start, zero)) for e in entries]
    horizon = max(max(end for _, end in seconds), 1.0)
    least = horizon / 90  # a state that took no pipeline time still shows as a sliver
    if ax is None:
        fig, ax = plt.subplots(figsize=(11, 1.3 + 0.28 * len(entries)), layout="constrained")
    else:
        fig = ax.figure
    for row, (entry, (start, end)) in enumerate(zip(entries, seconds, strict=True)):
        ax.barh(
            row,
            max(end - start, least),
            left=start,
            height=0.62,
            color=COLOURS[entry.outcome],
            edgecolor="#333333" if entry.compensation else "none",
            hatch="///" if entry.compensation else None,
            linewidth=0.6,
        )
        for moment, _error in entry.failures:
            ax.plot(_s(moment, zero), row, marker="x", color="black", markersize=6, mew=1.5)
        if entry.caught and entry.failures:
            ax.annotate(
                entry.failures[-1][1],
                (end, row),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color=CAUGHT,
            )
    several = len(executions) > 1  # name the machine (and which of its runs) on each row
    labels = [_row_label(e, several) for e in entries]
    ax.set_yticks(range(len(entries)), labels, fontsize=8)
    ax.invert_yaxis()  # first state on top, as the console lists them
    caught_late = any(
        e.caught and end > horizon * 0.6 for e, (_, end) in zip(entries, seconds, strict=True)
    )
    ax.set_xlim(-horizon * 0.02, horizon * (1.35 if caught_late else 1.12))  # room for the error
    ax.axvline(0, color="#7b8794", linestyle=":", linewidth=1)
    ax.set_xlabel(XLABEL)
    ax.set_ylabel("state entered" + (" (machine · state)" if several else ""))
    ax.set_title(title or _title(executions))
    ax.grid(axis="x", color="#e5e5e5")
    ax.set_axisbelow(True)
    legend = [
        Patch(color=SUCCEEDED, label="succeeded"),
        Patch(color=RETRIED, label="retried, then succeeded"),
        Patch(color=CAUGHT, label="error caught → compensation"),
        Patch(color=FAILED, label="failed"),
        Patch(facecolor="white", edgecolor="#333333", hatch="///", label="compensation step"),
        plt.Line2D([], [], marker="x", color="black", linestyle="none", label="failed attempt"),
        plt.Line2D([], [], color="#7b8794", linestyle=":", label="order placed"),
    ]
    ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig


def _title(executions: Sequence[tuple[str, Execution]]) -> str:
    machines = sorted({m.removesuffix("StateMachine") for m, _ in executions})
    count = len(executions)
    return (
        f"One order's saga over time: {count} execution{'s' if count > 1 else ''} "
        f"of {', '.join(machines)}"
    )


def _row_label(span: Span, several: bool) -> str:
    machine = span.machine.removesuffix("StateMachine")
    again = f" #{span.run}" if span.run > 1 else ""
    return f"{machine}{again} · {span.state}" if several else span.state


def _s(moment: datetime, zero: datetime) -> float:
    return (moment - zero).total_seconds()
