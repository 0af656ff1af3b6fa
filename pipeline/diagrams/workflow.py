"""A state machine drawn from its ASL (Graphviz), with an execution overlaid on it: the states
it entered, the retries of each, the errors it caught, where it failed. The picture the Step
Functions console gives, for an execution of the local cloud (``pipeline.asl.Execution``) or a
simulated path (``pipeline.sim.replay.run_with_outcomes``), coloured as the console colours it:
succeeded green, caught error orange, failed red, in progress blue, not entered white. Every
Task shows its retry policy (errors → attempts, interval, backoff rate, jitter); a legend says
what the colours and edges mean.
"""

from __future__ import annotations

import html
import itertools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.asl import Execution
from pipeline.diagrams.timeline import spans_of

SHAPES = {"Task": "box", "Choice": "diamond", "Succeed": "doublecircle", "Fail": "doubleoctagon"}
TAKEN, CAUGHT, FAILED, VISITED = "#1e7b34", "#d9822b", "#c0392b", "#d4edda"
RUNNING, UNTAKEN = "#1f6feb", "#7b8794"
# (fill, border) of a state, by how the execution went there (the console's colours)
STATE_COLOURS = {
    "succeeded": (VISITED, TAKEN),
    "caught": ("#fde2c4", CAUGHT),
    "failed": ("#f8d7da", FAILED),
    "in progress": ("#d6e4ff", RUNNING),
    "not entered": ("white", "#9aa5b1"),
}


@dataclass
class Trace:
    """What one execution did, per state and per transition."""

    entered: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # task failures, retried or not
    taken: set[tuple[str, str]] = field(default_factory=set)
    caught: set[tuple[str, str]] = field(default_factory=set)  # transitions through a Catch
    status: str = ""
    error: str | None = None
    last: str | None = None  # the state it was in when it ended

    @classmethod
    def of(cls, execution: Execution) -> Trace:
        """Read from the execution's state entries (the timeline's, one walk of its history)."""
        trace = cls(status=execution.status, error=execution.error)
        trace.retries = execution.retries_by_state()
        entries = spans_of(execution)
        for span, after in itertools.pairwise(entries):
            (trace.caught if span.caught else trace.taken).add((span.state, after.state))
        for span in entries:
            trace.entered[span.state] += 1
            if span.failures:
                trace.errors[span.state] += len(span.failures)
        trace.last = entries[-1].state if entries else None
        return trace


def workflow_graph(
    definition: Mapping[str, Any],
    trace: Trace | None = None,
    title: str = "",
    *,
    legend: bool = True,
    retry_policies: bool = True,
) -> Any:
    """A ``graphviz.Digraph`` of ``definition``: states (a box per Task, a diamond per Choice),
    ``Next`` and ``Default`` edges, each Choice rule's condition, each Catch (dashed, with its
    errors), each Task's retry policy (small text; every error named in its tooltip). With
    ``trace``, coloured as the console colours an execution: entered states green, a state
    whose error was caught orange (and the dashed Catch edge it took), the state it failed in
    red, the one it is in blue while it runs; retries counted, taken edges bold. ``legend``
    adds a key (and ``title``) under the graph."""
    import graphviz

    graph = graphviz.Digraph(
        title or "workflow",
        graph_attr={"rankdir": "TB", "fontname": "Helvetica", "nodesep": "0.2", "ranksep": "0.4"},
    )
    if legend:
        graph.attr(label=_legend(title, trace is not None), labelloc="b", labeljust="l")
    elif title:
        graph.attr(label=title)
    graph.attr("node", fontname="Helvetica", fontsize="11", style="rounded,filled")
    graph.attr("node", fillcolor="white")
    graph.attr("edge", fontname="Helvetica", fontsize="9", color=UNTAKEN)
    graph.node("__start", "", shape="circle", width="0.2", fillcolor="black")
    graph.node("__end", "", shape="doublecircle", width="0.18", fillcolor="black")
    _edge(graph, trace, "__start", definition["StartAt"], "", False)
    for name, state in definition["States"].items():
        label = _label(name, state, trace, retry_policies)
        graph.node(name, label, **_node_style(name, state, trace))
        for target, text, caught in _transitions(state):
            _edge(graph, trace, name, target, text, caught)
        if state.get("End") or state["Type"] in ("Succeed", "Fail"):
            _edge(graph, trace, name, "__end", "", False)
    return graph


def outcome(name: str, trace: Trace) -> str:
    """How ``trace``'s execution went in state ``name``, as the console colours it:
    "not entered", "in progress", "failed", "caught" (an error caught) or "succeeded"."""
    if not trace.entered[name]:
        return "not entered"
    if trace.last == name and trace.status == "RUNNING":
        return "in progress"
    if trace.last == name and trace.status not in ("SUCCEEDED", "RUNNING"):
        return "failed"
    if any(source == name for source, _ in trace.caught):
        return "caught"
    return "succeeded"


def retry_policy(state: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Each retrier of a state as (short, full): ``ErrorEquals → MaxAttempts, IntervalSeconds,
    BackoffRate[, MaxDelaySeconds][, JitterStrategy]``; the short form names the first error
    and how many more, and puts the policy on a second line (so a node is no wider than
    its name)."""
    policies = []
    for retrier in state.get("Retry", []):
        errors = list(retrier.get("ErrorEquals", []))
        short = errors[0] + (f" +{len(errors) - 1}" if len(errors) > 1 else "")
        terms = [
            f"{retrier.get('MaxAttempts', 3)}x",
            f"{retrier.get('IntervalSeconds', 1):g} s",
            f"x{float(retrier.get('BackoffRate', 2.0)):g}",
        ]
        if "MaxDelaySeconds" in retrier:
            terms.append(f"≤{retrier['MaxDelaySeconds']:g} s")
        if retrier.get("JitterStrategy"):
            terms.append(retrier["JitterStrategy"].lower())
        policy = ", ".join(terms)
        policies.append((f"{short} →\n{policy}", f"{', '.join(errors)} → {policy}"))
    return policies


def _legend(title: str, overlay: bool) -> str:
    """An HTML-table label: the title, then what the colours and edges mean."""
    cells = []
    if overlay:
        for name, (fill, border) in STATE_COLOURS.items():
            cells.append(
                f'<TD BGCOLOR="{fill}" COLOR="{border}" BORDER="2" CELLPADDING="3">'
                f"{'caught error' if name == 'caught' else name}</TD>"
            )
        cells.append(f'<TD><FONT COLOR="{TAKEN}"><B>━━</B> taken</FONT></TD>')
        cells.append(f'<TD><FONT COLOR="{CAUGHT}"><B>╍╍</B> Catch taken</FONT></TD>')
    cells.append(f'<TD><FONT COLOR="{UNTAKEN}">╍╍ Catch (dashed)</FONT></TD>')
    cells.append(
        '<TD><FONT POINT-SIZE="9" COLOR="#52606d">small text: Retry errors →<BR/>'
        "attempts, interval, backoff rate, max delay, jitter</FONT></TD>"
    )
    key = "".join(cells)
    heading = (
        f'<TR><TD ALIGN="LEFT" COLSPAN="{len(cells)}" BORDER="0"><B>{html.escape(title)}</B>'
        "</TD></TR>"
        if title
        else ""
    )
    return (
        '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="4" CELLPADDING="3">'
        f"{heading}<TR>{key}</TR></TABLE>>"
    )


def _transitions(state: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    out = []
    for rule in state.get("Choices", []):
        out.append((rule["Next"], _condition(rule), False))
    if "Default" in state:
        out.append((state["Default"], "default", False))
    if "Next" in state:
        out.append((state["Next"], "", False))
    for catcher in state.get("Catch", []):
        out.append((catcher["Next"], "catch " + ", ".join(catcher["ErrorEquals"]), True))
    return out


def _condition(rule: Mapping[str, Any]) -> str:
    """A Choice rule in a few words: ``detail-type = OrderPlaced``, ``or`` of several; a
    JSONata rule's Condition as its expression, without ``{% %}`` and ``$states.input.``."""
    if "Condition" in rule:
        text = str(rule["Condition"]).removeprefix("{%").removesuffix("%}").strip()
        text = text.replace("$states.input.", "").replace("`", "")
        return text if len(text) <= 40 else text[:39] + "…"
    for combinator in ("And", "Or"):
        if combinator in rule:
            parts = [_condition(r) for r in rule[combinator]]
            return f"\n{combinator.lower()} ".join(parts)
    if "Not" in rule:
        return "not " + _condition(rule["Not"])
    variable = str(rule.get("Variable", "")).removeprefix("$.")
    for key, value in rule.items():
        if key not in ("Variable", "Next", "Assign", "Comment"):
            operator = "=" if key.endswith("Equals") else key
            return f"{variable} {operator} {value}"
    return variable


def _label(
    name: str, state: Mapping[str, Any], trace: Trace | None, retry_policies: bool = True
) -> str:
    """An HTML-like label: the name; the execution's retries; the Task's retry policy."""
    lines = [html.escape(name)]
    if trace is not None and trace.entered[name]:
        detail = []
        if trace.entered[name] > 1:
            detail.append(f"entered {trace.entered[name]}x")
        if trace.retries[name]:
            count = trace.retries[name]
            detail.append(f"{count} {'retry' if count == 1 else 'retries'}")
        if detail:
            lines.append(f'<FONT POINT-SIZE="10"><B>{", ".join(detail)}</B></FONT>')
    if retry_policies and state["Type"] == "Task":
        for short, _full in retry_policy(state):
            for part in short.split("\n"):
                lines.append(f'<FONT POINT-SIZE="8" COLOR="#52606d">{html.escape(part)}</FONT>')
    return "<" + "<BR/>".join(lines) + ">"


def _node_style(name: str, state: Mapping[str, Any], trace: Trace | None) -> dict[str, str]:
    style = {"shape": SHAPES.get(state["Type"], "ellipse")}
    policies = retry_policy(state)
    if policies:
        style["tooltip"] = f"{name}: Retry " + "; ".join(full for _, full in policies)
    if trace is None:
        return style
    went = outcome(name, trace)
    fill, border = STATE_COLOURS[went]
    style.update(fillcolor=fill, color=border)
    if went != "not entered":
        style.update(penwidth="2")
    else:
        style.update(fontcolor="#52606d")
    return style


def _edge(graph: Any, trace: Trace | None, source: str, target: str, label: str, caught: bool):
    attrs = {"label": label, "style": "dashed" if caught else "solid"}
    if trace is not None:
        hop = (source, target)
        start = source == "__start" and trace.entered[target] > 0
        end = target == "__end" and trace.last == source
        if hop in trace.caught:
            attrs.update(color=CAUGHT, penwidth="2.5", fontcolor=CAUGHT)
        elif end and trace.status not in ("SUCCEEDED", "RUNNING"):
            attrs.update(color=FAILED, penwidth="2.5")
        elif hop in trace.taken or start or (end and trace.status == "SUCCEEDED"):
            attrs.update(color=TAKEN, penwidth="2.5")
    graph.edge(source, target, **attrs)
