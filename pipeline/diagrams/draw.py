"""Draw the architecture graph with the ``diagrams`` package (AWS icons, Graphviz layout):
the whole pipeline, and one diagram per state machine with what it touches."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pipeline.diagrams.graph import Edge as GraphEdge
from pipeline.diagrams.graph import Graph, from_template, pipeline_view
from pipeline.template import Template

TIER_TITLES = {
    "ingress": "Order API",
    "events": "EventBridge",
    "orchestration": "Step Functions (saga steps)",
    "data": "Data stores",
    "streams": "DynamoDB Streams consumers",
    "audit": "Audit lake: Firehose, S3, Glue, Athena",
    "failures": "Failures: remediation, alerts",
}
FLOW = list(TIER_TITLES)
GRAPH_ATTRS = {
    "rankdir": "LR",
    "splines": "spline",
    "nodesep": "0.35",
    "ranksep": "1.1",
    "fontsize": "20",
    "pad": "0.4",
    "newrank": "true",
}
NODE_ATTRS: dict[str, str] = {}
EDGE_ATTRS: dict[str, str] = {}


def _icon(kind: str):
    from diagrams.aws import analytics, compute, database, integration, network, storage

    return {
        "AWS::Serverless::Api": network.APIGateway,
        "AWS::Serverless::Function": compute.Lambda,
        "AWS::Events::EventBus": integration.EventbridgeCustomEventBusResource,
        "AWS::Events::Rule": integration.EventbridgeRule,
        "AWS::Serverless::StateMachine": integration.StepFunctions,
        "AWS::DynamoDB::Table": database.Dynamodb,
        "AWS::SQS::Queue": integration.SQS,
        "AWS::SNS::Topic": integration.SNS,
        "AWS::KinesisFirehose::DeliveryStream": analytics.KinesisDataFirehose,
        "AWS::S3::Bucket": storage.S3,
        "AWS::Glue::Table": analytics.GlueDataCatalog,
        "AWS::Athena::WorkGroup": analytics.Athena,
    }[kind]


def label(logical_id: str) -> str:
    """``PaymentTargetDLQAlarm`` -> ``Payment Target\\nDLQ Alarm``: words, two lines at most."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", logical_id)
    if len(words) <= 2:
        return " ".join(words)
    half = (len(words) + 1) // 2
    return " ".join(words[:half]) + "\n" + " ".join(words[half:])


def _is_back(graph: Graph, edge: GraphEdge) -> bool:
    """An edge against the flow: from a later tier to an earlier one (a stream consumer
    publishing to the bus, the remediation function redriving a state machine)."""
    return FLOW.index(graph.tier(edge.source)) > FLOW.index(graph.tier(edge.target))


def _drains(graph: Graph, edge: GraphEdge) -> bool:
    """A function reading a dead-letter queue (another resource's DLQ): drawn, but not used
    to place the function, which follows what it redrives instead."""
    dlqs = {e.target for e in graph.edges if e.label == "DLQ" and e.source != edge.source}
    return graph.nodes[edge.source] == "AWS::Serverless::Function" and edge.target in dlqs


def columns(graph: Graph) -> dict[str, int]:
    """The column each node is drawn in: tiers one after another in the order an order flows,
    each node one column after what feeds it within its tier. A node off the flow (failures)
    sits one column after the flow node that feeds it, or is left to Graphviz."""
    forward = [e for e in graph.edges if e.label != "alarm" and not _is_back(graph, e)]
    col: dict[str, int] = {}
    start = 0
    for tier in FLOW:
        members = sorted(n for n in graph.nodes if graph.tier(n) == tier)
        if tier == FLOW[-1]:
            for node in members:
                feeds = [col[e.source] + 1 for e in forward if e.target == node and e.source in col]
                if feeds:
                    col[node] = max(feeds)
            break
        for node in members:
            col[node] = start
        for _ in members:  # longest path within the tier (relaxed, bounded: no cycles assumed)
            for e in forward:
                if e.source in members and e.target in members and e.source != e.target:
                    step = 0 if e.label == "DLQ" else 1  # a DLQ sits beside its producer
                    col[e.target] = max(col[e.target], col[e.source] + step)
        if members:
            start = max(col[n] for n in members) + 1
    return col


def _secondary(graph: Graph, edge: GraphEdge) -> bool:
    """Edges off the flow: alarms, a function draining DLQs, and what it redrives. They do
    not constrain the columns (``constraint=false``) and are written last."""
    failures_back = graph.tier(edge.source) == "failures" and _is_back(graph, edge)
    return edge.label == "alarm" or _drains(graph, edge) or failures_back


def draw(graph: Graph, title: str, path: Path, formats: tuple[str, ...] = ("png", "svg")) -> None:
    """Render ``graph`` to ``path`` + each format's suffix, tiers in fixed columns. Graphviz
    (2.43) can crash or lose an edge on rank constraints across clusters: then the graph is
    drawn again with the columns left to Graphviz."""
    from graphviz.backend import CalledProcessError

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _draw(graph, title, path, formats, ranks=True)
    except CalledProcessError:
        path.unlink(missing_ok=True)  # the DOT source the failed render leaves behind
        _draw(graph, title, path, formats, ranks=False)


ALARM_COLOR = "#C0392B"


def alarm_badge(count: int) -> str:
    """The line under a watched resource's name: ``⚠ alarm``, ``⚠ 2 alarms``."""
    return "\u26a0 alarm" if count == 1 else f"\u26a0 {count} alarms"


def alarm_summary(count: int) -> str:
    """The junction the alarms of a topic reach it through: ``⚠ 10 alarms``."""
    return f"\u26a0 {count} alarm" + ("" if count == 1 else "s")


def _noun(graph: Graph, nodes: list[str]) -> str:
    """What a bundle of edges reaches, counted: ``4 DLQs``, ``4 state machines``."""
    if all(any(e.label == "DLQ" and e.target == n for e in graph.edges) for n in nodes):
        return f"{len(nodes)} DLQs"
    kinds = {re.sub(r"(?<=[a-z])(?=[A-Z])", " ", graph.nodes[n].split("::")[-1]) for n in nodes}
    kind = kinds.pop().lower() if len(kinds) == 1 else "resource"
    return f"{len(nodes)} {kind}s"


def bundles(graph: Graph) -> dict[tuple[str, str], list[str]]:
    """Secondary edges (not alarms) from one node to two or more nodes of one kind in one tier
    (the remediation function draining the EventBridge DLQs, redriving the state machines):
    each group is drawn as one edge to that tier's cluster. Keyed by (source, target tier)."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for e in graph.edges:
        if e.label != "alarm" and _secondary(graph, e):
            key = (e.source, graph.tier(e.target), graph.nodes[e.target])
            groups.setdefault(key, []).append(e.target)
    return {(s, t): sorted(ns) for (s, t, _), ns in groups.items() if len(ns) > 1}


def _node_label(logical_id: str, alarms: int) -> tuple[str, dict[str, str]]:
    """A node's label and attributes: its name, and a red alarm badge when it is watched."""
    text = label(logical_id)
    if not alarms:
        return text, {}
    lines = "<br/>".join(text.split("\n"))
    badge = f'<font color="{ALARM_COLOR}"><b>{alarm_badge(alarms)}</b></font>'
    height = 1.9 + 0.4 * text.count("\n") + 0.2  # as ``diagrams`` pads, the badge line less
    return f"<{lines}<br/>{badge}>", {"height": f"{height:.1f}"}


def _draw(graph: Graph, title: str, path: Path, formats: tuple[str, ...], ranks: bool) -> None:
    from diagrams import Diagram, getdiagram

    bundled = bundles(graph)
    with Diagram(
        title,
        filename=str(path),
        outformat=list(formats),
        show=False,
        graph_attr={**GRAPH_ATTRS, "compound": "true"} if bundled else GRAPH_ATTRS,
        node_attr=NODE_ATTRS,
        edge_attr=EDGE_ATTRS,
    ):
        dot = getdiagram().dot
        nodes, clusters = _draw_tiers(graph, dot)
        if ranks:
            _draw_columns(graph, dot)
        _draw_edges(graph, nodes, bundled)
        if bundled:
            _draw_bundles(graph, dot, nodes, clusters, bundled)


def _draw_tiers(graph: Graph, dot: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Each tier as a cluster of its nodes (a watched one with its alarm badge), a topic with
    the junction its alarms reach it through; returns the nodes drawn and each tier's cluster."""
    from diagrams import Cluster

    watched: dict[str, set[str]] = {}
    notified: dict[str, set[str]] = {}
    for alarm in graph.alarms:
        watched.setdefault(alarm.watched, set()).add(alarm.name)
        notified.setdefault(alarm.topic, set()).add(alarm.name)
    nodes: dict[str, Any] = {}
    clusters: dict[str, str] = {}
    for tier, tier_title in TIER_TITLES.items():
        members = sorted(n for n in graph.nodes if graph.tier(n) == tier)
        if not members:
            continue
        with Cluster(tier_title) as cluster:
            clusters[tier] = cluster.name
            for logical_id in members:
                kind = _icon(graph.nodes[logical_id])
                text, attrs = _node_label(logical_id, len(watched.get(logical_id, ())))
                nodes[logical_id] = kind(text, nodeid=logical_id, **attrs)
                if logical_id in notified:  # the alarms reach their topic through one edge
                    _draw_junction(cluster, dot, logical_id, len(notified[logical_id]))
    return nodes, clusters


def _draw_junction(cluster: Any, dot: Any, topic: str, alarms: int) -> None:
    """The box a topic's ``alarms`` reach it through, in the topic's cluster."""
    junction = f"{topic}Alarms"
    cluster.node(
        junction,
        alarm_summary(alarms),
        shape="box",
        style="rounded,dashed",
        fixedsize="false",
        width="0",
        height="0",
        margin="0.15,0.08",
        labelloc="c",
        color=ALARM_COLOR,
        fontcolor=ALARM_COLOR,
        fontname="Sans-Serif",
        fontsize="13",
    )
    dot.edge(junction, topic, style="dashed", color=ALARM_COLOR)


def _draw_columns(graph: Graph, dot: Any) -> None:
    """The tiers' fixed columns, as one ``rank=same`` group per column."""
    by_col: dict[int, list[str]] = {}
    for node, c in columns(graph).items():
        by_col.setdefault(c, []).append(node)
    for _, members in sorted(by_col.items()):
        names = "; ".join(f'"{m}"' for m in sorted(members))
        dot.body.append(f"{{rank=same; {names}}}\n")


def _draw_edges(
    graph: Graph, nodes: dict[str, Any], bundled: dict[tuple[str, str], list[str]]
) -> None:
    """The edges, the flow's first, except alarms (badges and junctions) and bundled ones."""
    from diagrams import Edge

    in_bundle = {(s, n) for (s, _), ns in bundled.items() for n in ns}
    edges = sorted(graph.edges, key=lambda e: (_secondary(graph, e), e.source, e.target))
    for edge in edges:
        if edge.label == "alarm" or (edge.source, edge.target) in in_bundle:
            continue  # drawn as badges and a summary, or as one edge per bundle
        attrs: dict[str, str] = {}
        if edge.label == "DLQ":
            attrs["style"] = "dashed"
        if _secondary(graph, edge):
            attrs["constraint"] = "false"
        elif _is_back(graph, edge):  # placed as if it ran forward, arrow still its own
            nodes[edge.target] << Edge(label=edge.label, **attrs) << nodes[edge.source]
            continue
        nodes[edge.source] >> Edge(label=edge.label, **attrs) >> nodes[edge.target]


def _draw_bundles(
    graph: Graph,
    dot: Any,
    nodes: dict[str, Any],
    clusters: dict[str, str],
    bundled: dict[tuple[str, str], list[str]],
) -> None:
    """Each bundle as one edge into its tier's cluster, entering at the member nearest its
    source: a layout with a first guess says which that is, and is redone until it agrees."""
    from diagrams import Edge

    heads = {key: targets[len(targets) // 2] for key, targets in bundled.items()}
    mark = len(dot.body)
    for attempt in range(3):
        del dot.body[mark:]
        for (source, tier), targets in sorted(bundled.items()):
            bundle = Edge(
                taillabel=_noun(graph, targets),
                labeldistance="3",
                constraint="false",
                lhead=clusters[tier],
            )
            nodes[source] >> bundle >> nodes[heads[(source, tier)]]
        if attempt == 2:
            break
        where = _positions(dot)
        nearest = {
            (source, tier): min(targets, key=lambda n: _distance(where, source, n))
            for (source, tier), targets in bundled.items()
        }
        if nearest == heads:
            break
        heads = nearest


def _positions(dot: Any) -> dict[str, tuple[float, float]]:
    """Where Graphviz puts each node of ``dot`` as it stands (a first layout)."""
    import json

    layout = json.loads(dot.pipe(format="json", quiet=True))
    return {o["name"]: _point(o["pos"]) for o in layout.get("objects", []) if "pos" in o}


def _point(pos: str) -> tuple[float, float]:
    """A Graphviz ``pos`` attribute, ``"x,y"``, as numbers."""
    x, y = pos.split(",")
    return float(x), float(y)


def _distance(where: dict[str, tuple[float, float]], a: str, b: str) -> float:
    if a not in where or b not in where:
        return 0.0
    return ((where[a][0] - where[b][0]) ** 2 + (where[a][1] - where[b][1]) ** 2) ** 0.5


def draw_all(out: Path, template: Template | None = None) -> list[Path]:
    """The whole pipeline, then one diagram per state machine; returns the files written."""
    template = template or Template.load()
    graph = from_template(template)
    written = []
    draw(graph, "Order pipeline", out / "pipeline")
    written += [out / "pipeline.png", out / "pipeline.svg"]
    for machine in sorted(n for n, k in graph.nodes.items() if k.endswith("StateMachine")):
        name = machine.removesuffix("StateMachine").lower()
        title = f"{label(machine.removesuffix('StateMachine'))} pipeline"
        draw(pipeline_view(graph, machine), title, out / name)
        written += [out / f"{name}.png", out / f"{name}.svg"]
    return written
