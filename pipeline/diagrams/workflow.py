"""A state machine drawn from its ASL (Graphviz), with an execution overlaid on it: the states
it entered, the retries of each, the errors it caught, where it failed. The picture the Step
Functions console gives, for an execution of the local cloud (``pipeline.asl.Execution``) or a
simulated path (``pipeline.sim.replay.run_with_outcomes``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.asl import Execution

SHAPES = {"Task": "box", "Choice": "diamond", "Succeed": "doublecircle", "Fail": "doubleoctagon"}
TAKEN, CAUGHT, FAILED, VISITED = "#1e7b34", "#d9822b", "#c0392b", "#d4edda"


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
        trace = cls(status=execution.status, error=execution.error)
        trace.retries = execution.retries_by_state()
        previous, failing = None, False
        for event in execution.history:
            kind = event["type"]
            if kind.endswith("StateEntered"):
                name = event[kind[0].lower() + kind[1:] + "EventDetails"]["name"]
                trace.entered[name] += 1
                if previous is not None:
                    (trace.caught if failing else trace.taken).add((previous, name))
                previous, failing = name, False
            elif kind in ("TaskFailed", "TaskTimedOut") and previous is not None:
                trace.errors[previous] += 1
                failing = True
            elif kind in ("TaskSucceeded", "TaskScheduled"):
                failing = False
        trace.last = previous
        return trace


def workflow_graph(
    definition: Mapping[str, Any], trace: Trace | None = None, title: str = ""
) -> Any:
    """A ``graphviz.Digraph`` of ``definition``: states (a box per Task, a diamond per Choice),
    ``Next`` and ``Default`` edges, each Choice rule's condition, each Catch (dashed, with its
    errors). With ``trace``: entered states filled, retries counted, taken edges bold, caught
    ones orange, the state an execution failed in red."""
    import graphviz

    graph = graphviz.Digraph(title or "workflow", graph_attr={"rankdir": "TB", "label": title})
    graph.attr("node", fontname="Helvetica", fontsize="11", style="rounded,filled")
    graph.attr("node", fillcolor="white")
    graph.attr("edge", fontname="Helvetica", fontsize="9", color="#7b8794")
    graph.node("__start", "", shape="circle", width="0.2", fillcolor="black")
    graph.node("__end", "", shape="doublecircle", width="0.18", fillcolor="black")
    _edge(graph, trace, "__start", definition["StartAt"], "", False)
    for name, state in definition["States"].items():
        graph.node(name, _label(name, state, trace), **_node_style(name, state, trace))
        for target, label, caught in _transitions(state):
            _edge(graph, trace, name, target, label, caught)
        if state.get("End") or state["Type"] in ("Succeed", "Fail"):
            _edge(graph, trace, name, "__end", "", False)
    return graph


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


def _label(name: str, state: Mapping[str, Any], trace: Trace | None) -> str:
    lines = [name]
    if trace is not None and trace.entered[name]:
        detail = []
        if trace.entered[name] > 1:
            detail.append(f"entered {trace.entered[name]}x")
        if trace.retries[name]:
            count = trace.retries[name]
            detail.append(f"{count} {'retry' if count == 1 else 'retries'}")
        if detail:
            lines.append(", ".join(detail))
    return "\n".join(lines)


def _node_style(name: str, state: Mapping[str, Any], trace: Trace | None) -> dict[str, str]:
    style = {"shape": SHAPES.get(state["Type"], "ellipse")}
    if trace is None or not trace.entered[name]:
        return style
    failed_here = trace.status != "SUCCEEDED" and trace.last == name
    style.update(fillcolor="#f8d7da" if failed_here else VISITED)
    style.update(color=FAILED if failed_here else TAKEN, penwidth="2")
    return style


def _edge(graph: Any, trace: Trace | None, source: str, target: str, label: str, caught: bool):
    attrs = {"label": label, "style": "dashed" if caught else "solid"}
    if trace is not None:
        hop = (source, target)
        start = source == "__start" and trace.entered[target] > 0
        end = target == "__end" and trace.last == source
        if hop in trace.caught:
            attrs.update(color=CAUGHT, penwidth="2.5", fontcolor=CAUGHT)
        elif hop in trace.taken or start or end:
            attrs.update(color=TAKEN, penwidth="2.5")
    graph.edge(source, target, **attrs)
