"""Draw the architecture graph with the ``diagrams`` package (AWS icons, Graphviz layout):
the whole pipeline, and one diagram per state machine with what it touches.

Drawing is two steps. :func:`picture` *plans* a drawing from a :class:`Graph`: every node with
the text drawn in it and the cluster (tier) it sits in, every line with its label and style,
the rows. It is pure (no Graphviz), so a test compares the committed diagrams with the plan
the template gives today (``tests/architecture/test_diagram_drift.py``): the SVG's node and
edge titles and texts, and the PNG's ``tEXt`` stamp, :data:`DIGEST_KEY`, the plan's digest
written at draw time. :func:`render` then hands the plan to Graphviz.

What a reader sees, top to bottom in the order an order travels (tiers as rows, so the
overview stays readable at notebook width): the client posting to the API, the main flow
numbered along the graph (each step's number is its order on the path from the client to
the state machines and their tasks, the text is per edge kind), names in AWS's spelling
(DLQ, API, SNS, ...), alarms as badges, and a legend of the edge styles.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import mimetypes
import re
import zlib
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.diagrams.graph import CLIENT, Graph, from_template, pipeline_view
from pipeline.diagrams.graph import Edge as GraphEdge
from pipeline.template import Template

TIER_TITLES = {
    "ingress": "Order API",
    "events": "EventBridge",
    "orchestration": "Step Functions",
    "data": "Data stores",
    "streams": "DynamoDB Streams consumers",
    "failures": "Failures: remediation, alerts",
    "audit": "Audit lake: Firehose, S3, Glue, Athena",
}
FLOW = list(TIER_TITLES)
# The SVG attribute that names an embedded raster (Graphviz writes xlink:href, others href).
_SVG_IMAGE = re.compile(r'((?:xlink:)?href=")([^"#][^"]*\.(?:png|jpe?g|gif|svg))(")')
# Graphviz's image: its file, then its size attributes, then where it is placed.
_SVG_PLACED_IMAGE = re.compile(r'<image xlink:href="([^"]+)" (.*?) x="([^"]+)" y="([^"]+)"/>')
# A tier wider than this is split into rows (one per step within the tier).
MAX_ROW = 5
FONT = "Sans-Serif"
GRAPH_ATTRS = {
    "rankdir": "TB",
    "splines": "spline",
    "nodesep": "0.5",
    "ranksep": "0.9",
    "fontsize": "26",
    "pad": "0.3",
    "newrank": "true",
    "compound": "true",
}
NODE_ATTRS = {"fontsize": "20", "width": "1.2", "height": "1.2", "imagepos": "tc"}
LINE_HEIGHT = 0.33  # inches a label line takes at the nodes' font size
WRAP = 12  # characters per label line
EDGE_ATTRS = {"fontsize": "20", "fontname": FONT}
CLUSTER_ATTRS = {"fontsize": "20", "margin": "14"}
ALARM_COLOR = "#C0392B"

# Edge styles: what the legend explains, and how each is drawn.
STYLES: dict[str, dict[str, str]] = {
    "step": {"color": "#232F3E", "fontcolor": "#232F3E", "penwidth": "2.4"},
    "flow": {"color": "#7B8894", "fontcolor": "#4D5656"},
    "failure": {"color": "#D35400", "fontcolor": "#D35400", "style": "dashed", "penwidth": "1.6"},
    "redrive": {"color": "#1E8449", "fontcolor": "#1E8449", "penwidth": "2.4"},
    "alarm": {"color": ALARM_COLOR, "fontcolor": ALARM_COLOR, "style": "dashed"},
    "audit": {"color": "#2471A3", "fontcolor": "#2471A3"},
}
LEGEND = {
    "step": "the order's path, numbered",
    "flow": "calls and data (arrow: where it goes)",
    "failure": "failure: into a DLQ, drained from one",
    "redrive": "redrive: a failure sent back",
    "alarm": "alarm or alert",
    "audit": "audit lake feed",
}
# The text an edge of each graph label (see ``pipeline.diagrams.graph``) is drawn with; a
# write needs none (the arrow into a store says it).
TEXT = {
    "write": "",
    "send": "",
    "read": "read",
    "publish": "PutEvents",
    "notify": "publish",
    "start": "start",
    "task": "task",
    "stream": "stream",
    "drain": "drain",
    "redrive": "redrive",
    "DLQ": "DLQ",
    "queries": "queries",
}
# ...and on the order's path, numbered.
STEP_TEXT = {
    "outbox": "write order + event (outbox)",
    "stream": "stream",
    "publish": "PutEvents to the bus",
    "start": "start execution",
    "task": "task",
}
DIGEST_KEY = "order-pipeline-diagram"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# AWS's spelling of the acronyms a logical id spells as a word.
ACRONYMS = {"Api": "API", "Dlq": "DLQ", "Sns": "SNS", "Sqs": "SQS", "Arn": "ARN", "Kms": "KMS"}


def label(logical_id: str) -> str:
    """``PaymentTargetDLQAlarm`` -> ``Payment Target\nDLQ Alarm``: words in AWS's spelling
    (``DlqRemediation`` -> ``DLQ Remediation``, ``OrderApi`` -> ``Order API``), wrapped at
    about ``WRAP`` characters a line so a name stays about as wide as its icon."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", logical_id)
    lines: list[str] = []
    for word in (ACRONYMS.get(w, w) for w in words):
        if lines and len(lines[-1]) + 1 + len(word) <= WRAP:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def alarm_badge(count: int) -> str:
    """The line under a watched resource's name: ``⚠ alarm``, ``⚠ 2 alarms``."""
    return "\u26a0 alarm" if count == 1 else f"\u26a0 {count} alarms"


def alarm_summary(count: int) -> str:
    """The junction the alarms of a topic reach it through: ``⚠ 10 alarms``."""
    return f"\u26a0 {count} alarm" + ("" if count == 1 else "s")


# ------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Node:
    """A node as drawn: ``id`` is its Graphviz name (the logical id), ``text`` its label,
    ``badge`` a red line under it (its alarms), ``kind`` its icon (a resource type) or
    ``junction``/``legend``, ``tier`` the cluster it sits in ("" for none)."""

    id: str
    text: str
    kind: str
    tier: str
    badge: str = ""

    @property
    def shown(self) -> str:
        return f"{self.text}\n{self.badge}" if self.badge else self.text


@dataclass(frozen=True)
class Line:
    """An edge as drawn, from ``tail`` to ``head`` (Graphviz's names), with its ``text``, its
    legend ``style``, and Graphviz attributes (``lhead``/``ltail`` for a bundle reaching a
    whole cluster; ``constraint`` false for an edge that does not place its ends)."""

    tail: str
    head: str
    text: str
    style: str
    attrs: tuple[tuple[str, str], ...] = ()

    @property
    def visible(self) -> bool:
        return self.style != "invisible"


@dataclass(frozen=True)
class Picture:
    """A planned drawing: its title, nodes, lines and rows (top to bottom)."""

    title: str
    nodes: tuple[Node, ...]
    lines: tuple[Line, ...]
    rows: tuple[tuple[str, ...], ...]

    def digest(self) -> str:
        """SHA-256 of everything the plan draws: the committed PNG carries it."""
        text = json.dumps(asdict(self), sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()


def _is_dlq(graph: Graph, node: str) -> bool:
    return any(e.label == "DLQ" and e.target == node for e in graph.edges)


def style_of(graph: Graph, edge: GraphEdge) -> str:
    """The legend entry an edge is drawn as (the order's path is decided by :func:`steps`)."""
    if edge.label in ("DLQ", "drain"):
        return "failure"
    if edge.label == "redrive":
        return "redrive"
    if edge.label == "alarm" or (edge.label == "notify" and graph.tier(edge.target) == "failures"):
        return "alarm"
    if "audit" in (graph.tier(edge.source), graph.tier(edge.target)) or any(
        e.source == edge.target and graph.tier(e.target) == "audit" for e in graph.edges
    ):
        return "audit"
    return "flow"


FLOW_LABELS = ("", "write", "stream", "publish", "start", "task")


def steps(graph: Graph) -> dict[GraphEdge, str]:
    """The order's path, numbered: the edges from the client to the state machines (through
    the API, the store whose stream is relayed to the bus, the rules) and the machines'
    tasks. Each such edge that first reaches a node is numbered by how far along the path it
    is (breadth first from the client); an edge with no text (the API invoking its function,
    the bus feeding its rules) carries no number and takes none. Returns edge -> text."""
    flow = [e for e in graph.edges if e.label in FLOW_LABELS or e.source == CLIENT]
    machines = {n for n, k in graph.nodes.items() if k.endswith("StateMachine")}
    reaches = set(machines)  # nodes from which a state machine can be reached
    changed = True
    while changed:
        changed = False
        for e in flow:
            if e.target in reaches and e.source not in reaches:
                reaches.add(e.source)
                changed = True
    depth = {CLIENT: 0}
    first: list[tuple[int, GraphEdge]] = []
    queue = deque([CLIENT] if CLIENT in graph.nodes else [])
    while queue:
        node = queue.popleft()
        for e in sorted(flow, key=lambda e: (e.source, e.target)):
            on_path = e.target in reaches or (e.label == "task" and e.source in machines)
            if e.source != node or e.target in depth or not on_path:
                continue
            depth[e.target] = depth[node] + 1
            queue.append(e.target)
            first.append((depth[node], e))
    kinds = {e: _step_kind(graph, e) for _, e in first}
    texted = sorted({d for d, e in first if kinds[e]})
    return {e: f"{texted.index(d) + 1} {kinds[e]}" for d, e in first if kinds[e]}


def _step_kind(graph: Graph, edge: GraphEdge) -> str:
    if edge.source == CLIENT:
        return edge.label
    if edge.label == "write" and any(  # into a store whose stream feeds on: the outbox
        e.source == edge.target and e.label == "stream" for e in graph.edges
    ):
        return STEP_TEXT["outbox"]
    return STEP_TEXT.get(edge.label, "")


def bundles(graph: Graph) -> dict[tuple[str, str, str], list[str]]:
    """Off-path edges (drains, redrives) between one function and two or more resources of
    one kind in one tier (the remediation function draining the four pipelines' DLQs,
    redriving their four state machines): each group is drawn as one line to that tier's
    cluster. Keyed by (function, the other ends' tier, the edges' label)."""
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for e in graph.edges:
        if e.label not in ("drain", "redrive"):
            continue
        hub, other = (e.target, e.source) if e.label == "drain" else (e.source, e.target)
        key = (hub, graph.tier(other), graph.nodes[other], e.label)
        groups.setdefault(key, []).append(other)
    return {(h, t, lbl): sorted(ns) for (h, t, _, lbl), ns in groups.items() if len(ns) > 1}


def _noun(graph: Graph, nodes: list[str]) -> str:
    """What a bundle of edges reaches, counted: ``4 DLQs``, ``4 state machines``."""
    if all(_is_dlq(graph, n) for n in nodes):
        return f"{len(nodes)} DLQs"
    kinds = {re.sub(r"(?<=[a-z])(?=[A-Z])", " ", graph.nodes[n].split("::")[-1]) for n in nodes}
    kind = kinds.pop().lower() if len(kinds) == 1 else "resource"
    return f"{len(nodes)} {kind}s"


def rows(graph: Graph) -> list[list[str]]:
    """The rows, top to bottom: the client alone (where an order starts), then the tiers in
    the order an order flows; within a tier, the steps (the longest path to each node inside
    the tier: the bus, then its rules, then their DLQs), consecutive steps sharing a row while
    it holds at most ``MAX_ROW`` nodes."""
    forward = [e for e in graph.edges if e.label not in ("alarm", "drain", "redrive")]
    out: list[list[str]] = [[CLIENT]] if CLIENT in graph.nodes else []  # where orders start
    for tier in FLOW:
        members = sorted(n for n in graph.nodes if graph.tier(n) == tier and n != CLIENT)
        level = dict.fromkeys(members, 0)
        for _ in members:  # longest path within the tier (relaxed, bounded: no cycles assumed)
            for e in forward:
                if e.source in level and e.target in level and e.source != e.target:
                    level[e.target] = max(level[e.target], level[e.source] + 1)
        row: list[str] = []
        for step in sorted(set(level.values())):
            nodes = [n for n in members if level[n] == step]
            if row and len(row) + len(nodes) > MAX_ROW:
                out.append(row)
                row = []
            row += nodes
        if row:
            out.append(row)
    return out


def _edge_lines(
    graph: Graph, bundled: dict[tuple[str, str, str], list[str]], row_of: dict[str, int]
) -> list[Line]:
    """Every edge not an alarm nor in a bundle, as a line: numbered on the order's path, a
    fan-out's text written once, a step's text once (its number on the others)."""
    lines: list[Line] = []
    numbered = steps(graph)
    said: set[tuple[str, str]] = set()  # a fan-out's text is written on one of its edges
    in_bundle = {frozenset((hub, n)) for (hub, _, _), ns in bundled.items() for n in ns}
    for edge in sorted(graph.edges, key=lambda e: (e.source, e.target)):
        if edge.label == "alarm" or frozenset((edge.source, edge.target)) in in_bundle:
            continue  # alarms are badges and a junction; bundled edges are drawn below
        style = "step" if edge in numbered else style_of(graph, edge)
        text = numbered.get(edge, TEXT.get(edge.label, edge.label))
        if text and (edge.source, text) in said:
            text = ""  # one of a fan-out's edges says it
        elif edge in numbered and ("", text) in said:
            text = text.split(" ", 1)[0]  # a step said elsewhere: its number is enough
        said |= {(edge.source, text), ("", text)}
        if row_of[edge.target] < row_of[edge.source]:  # against the flow: laid out as if it
            # ran forward (Graphviz routes it between the rows), its arrow still its own
            lines.append(Line(edge.target, edge.source, text, style, (("dir", "back"),)))
        else:
            lines.append(Line(edge.source, edge.target, text, style))
    return lines


def picture(graph: Graph, title: str) -> Picture:
    """Plan the drawing of ``graph``: nodes, lines (the order's path numbered, the others by
    kind, drains and redrives of many resources bundled), rows and the legend."""
    watched: dict[str, set[str]] = {}
    notified: dict[str, set[str]] = {}
    for alarm in graph.alarms:
        watched.setdefault(alarm.watched, set()).add(alarm.name)
        notified.setdefault(alarm.topic, set()).add(alarm.name)
    grid = rows(graph)
    row_of = {n: i for i, row in enumerate(grid) for n in row}
    nodes: list[Node] = []
    lines: list[Line] = []
    for node in sorted(graph.nodes):
        count = len(watched.get(node, ()))
        badge = alarm_badge(count) if count else ""
        nodes.append(Node(node, label(node), graph.nodes[node], graph.tier(node), badge))
        if node in notified:  # the alarms reach their topic through one junction
            junction = f"{node}Alarms"
            nodes.append(
                Node(junction, alarm_summary(len(notified[node])), "junction", graph.tier(node))
            )
            lines.append(Line(junction, node, "", "alarm"))
    bundled = bundles(graph)
    lines += _edge_lines(graph, bundled, row_of)
    for (hub, tier, kind), members in sorted(bundled.items()):
        middle = members[len(members) // 2]
        text = f"{TEXT[kind]} {_noun(graph, members)}"
        end = "ltail" if kind == "drain" else "lhead"
        tail, head = (middle, hub) if kind == "drain" else (hub, middle)
        attrs = ((end, f"cluster_{TIER_TITLES[tier]}"), ("constraint", "false"))
        lines.append(Line(tail, head, text, style_of(graph, GraphEdge(tail, head, kind)), attrs))
    used = [line.style for line in lines]
    nodes.append(Node("Legend", _legend_text([s for s in LEGEND if s in used]), "legend", ""))
    for upper, lower in itertools.pairwise(grid):  # the rows' order, top to bottom
        lines.append(Line(_middle(upper), _middle(lower), "", "invisible", _STACK))
    return Picture(title, tuple(nodes), tuple(lines), tuple(tuple(r) for r in grid))


def _middle(row: list[str]) -> str:
    return row[len(row) // 2]


# The invisible edges that stack the rows: heavy, so the rows line up under each other.
_STACK = (("style", "invis"), ("weight", "50"))


def _legend_text(styles: list[str]) -> str:
    return "\n".join(["Legend", *(f"{_sample(s)} {LEGEND[s]}" for s in styles)])


def _sample(style: str) -> str:
    """A line of the legend's style, as text: solid or dashed."""
    return "\u2504\u2504\u2504" if STYLES[style].get("style") == "dashed" else "\u2501\u2501\u2501"


def pictures(template: Template | None = None) -> dict[str, Picture]:
    """The planned drawings of ``template``: ``pipeline`` (the whole) and one per state
    machine (``ordersaga``, ``payment``, ...)."""
    template = template or Template.load()
    graph = from_template(template)
    out = {"pipeline": picture(graph, "Order pipeline")}
    for machine in sorted(n for n, k in graph.nodes.items() if k.endswith("StateMachine")):
        name = machine.removesuffix("StateMachine")
        title = f"{label(name)} pipeline"
        out[name.lower()] = picture(pipeline_view(graph, machine), title)
    return out


# ----------------------------------------------------------------------------- rendering


def _icon(kind: str) -> Any:
    from diagrams.aws import analytics, compute, database, integration, network, storage
    from diagrams.onprem.client import Users

    return {
        "Client": Users,
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


def render(plan: Picture, path: Path, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Render ``plan`` to ``path`` + each format's suffix, stamped with the plan's digest.
    Graphviz (2.43) can crash on rank constraints across clusters: then the plan is drawn
    again with the rows left to Graphviz."""
    from graphviz.backend import CalledProcessError

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _render(plan, path, formats, ranks=True)
    except CalledProcessError:
        path.unlink(missing_ok=True)  # the DOT source the failed render leaves behind
        _render(plan, path, formats, ranks=False)
    written = [path.with_name(f"{path.name}.{fmt}") for fmt in formats]
    for file in written:
        if file.suffix == ".png":
            stamp_png(file, plan.digest())
        elif file.suffix == ".svg":  # Graphviz points at this machine's icon files
            file.write_text(embed_svg_images(file), encoding="utf-8")
    return written


def embed_svg_images(path: Path) -> str:
    """The SVG at ``path`` made self-contained: every raster it references by file path
    (absolute, or relative to the SVG) inlined as a data URI, so it opens on any machine (a
    reference to a missing file is an error). Graphviz's ``<image>`` of one icon, repeated at
    many places, becomes one image in ``<defs>`` and a ``<use>`` at each place."""
    text = path.read_text(encoding="utf-8")
    icons: dict[tuple[str, str], str] = {}  # (file, size attributes) -> id in <defs>

    def data_uri(reference: str) -> str:
        file = Path(reference) if Path(reference).is_absolute() else path.parent / reference
        if not file.is_file():
            raise FileNotFoundError(f"{path}: the image {reference} is missing")
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        return f"data:{kind};base64,{base64.b64encode(file.read_bytes()).decode()}"

    def placed(match: re.Match[str]) -> str:
        reference, size, x, y = match.groups()
        if reference.startswith(("data:", "http://", "https://", "#")):
            return match.group(0)
        icon = icons.setdefault((reference, size), f"icon-{len(icons) + 1}")
        return f'<use xlink:href="#{icon}" x="{x}" y="{y}"/>'

    text = _SVG_PLACED_IMAGE.sub(placed, text)
    defs = "".join(
        f'<image id="{icon}" xlink:href="{data_uri(reference)}" {size}/>'
        for (reference, size), icon in icons.items()
    )
    if defs:
        opening = re.search(r"<svg\b[^>]*>", text)
        assert opening is not None, f"{path} is not an SVG"
        text = f"{text[: opening.end()]}\n<defs>{defs}</defs>{text[opening.end() :]}"

    def inline(match: re.Match[str]) -> str:  # any other reference, in place
        if match.group(2).startswith(("data:", "http://", "https://")):
            return match.group(0)
        return f"{match.group(1)}{data_uri(match.group(2))}{match.group(3)}"

    return _SVG_IMAGE.sub(inline, text)


def draw(graph: Graph, title: str, path: Path, formats: tuple[str, ...] = ("png", "svg")) -> None:
    """Plan and render ``graph`` (see :func:`picture` and :func:`render`)."""
    render(picture(graph, title), path, formats)


def _render(plan: Picture, path: Path, formats: tuple[str, ...], ranks: bool) -> None:
    from diagrams import Cluster, Diagram, getdiagram

    with Diagram(
        plan.title,
        filename=str(path),
        outformat=list(formats),
        show=False,
        direction="TB",
        graph_attr={**GRAPH_ATTRS, "comment": f"{DIGEST_KEY}: {plan.digest()}"},
        node_attr=NODE_ATTRS,
        edge_attr=EDGE_ATTRS,
    ):
        dot = getdiagram().dot
        for tier, tier_title in TIER_TITLES.items():
            members = [n for n in plan.nodes if n.tier == tier]
            if members:
                with Cluster(tier_title, direction="TB", graph_attr=CLUSTER_ATTRS) as cluster:
                    for node in members:
                        _render_node(node, cluster)
        for node in plan.nodes:
            if not node.tier:
                _render_node(node, None)
        for row in plan.rows if ranks else ():
            names = "; ".join(f'"{m}"' for m in row)
            dot.body.append(f"{{rank=same; {names}}}\n")
        for line in plan.lines:
            dot.edge(line.tail, line.head, **_line_attrs(line))


def _line_attrs(line: Line) -> dict[str, str]:
    attrs = {**STYLES.get(line.style, {}), **dict(line.attrs)}
    if line.text:
        attrs["label"] = line.text
    if line.style == "step" and line.text:
        attrs["label"] = f"<<b>{_escape(line.text)}</b>>"
    return attrs


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _render_node(node: Node, cluster: Any) -> None:
    from diagrams import getdiagram

    dot = cluster.dot if cluster is not None else getdiagram().dot
    if node.kind == "junction":
        dot.node(
            node.id,
            node.text,
            shape="box",
            style="rounded,dashed",
            fixedsize="false",
            width="0",
            height="0",
            margin="0.15,0.08",
            labelloc="c",
            color=ALARM_COLOR,
            fontcolor=ALARM_COLOR,
            fontname=FONT,
        )
        return
    if node.kind == "legend":
        styles = [
            s
            for s in LEGEND
            if any(f"{_sample(s)} {LEGEND[s]}" == t for t in node.text.split("\n"))
        ]
        dot.node(node.id, _legend_html(styles), shape="plaintext", fixedsize="false", labelloc="c")
        return
    lines = "<br/>".join(_escape(t) for t in node.text.split("\n"))
    attrs: dict[str, str] = {}
    if node.badge:
        badge = f'<font color="{ALARM_COLOR}"><b>{_escape(node.badge)}</b></font>'
        lines = f"{lines}<br/>{badge}"
    height = float(NODE_ATTRS["width"]) + LINE_HEIGHT * (1 + node.shown.count("\n")) + 0.1
    attrs["height"] = f"{height:.2f}"
    _icon(node.kind)(f"<{lines}>", nodeid=node.id, **attrs)


def _legend_html(styles: list[str]) -> str:
    rows = ['<tr><td align="left" colspan="2"><b>Legend</b></td></tr>']
    for style in styles:
        text = LEGEND[style]
        colour = STYLES[style]["color"]
        sample = f'<font color="{colour}"><b>{_sample(style)}</b></font>'
        rows.append(f'<tr><td align="left">{sample}</td><td align="left">{text}</td></tr>')
    body = "".join(rows)
    return f'<<table border="1" color="#B3B6B7" cellborder="0" cellpadding="3">{body}</table>>'


def stamp_png(path: Path, digest: str) -> None:
    """Write ``digest`` into the PNG at ``path`` as a ``tEXt`` chunk (:data:`DIGEST_KEY`),
    right after the header; an older stamp is replaced."""
    data = path.read_bytes()
    if not data.startswith(_PNG_MAGIC):
        raise ValueError(f"{path} is not a PNG")
    chunks = [c for c in _chunks(data) if not (c[0] == b"tEXt" and c[1].startswith(_key()))]
    body = _key() + digest.encode("latin-1")
    chunks.insert(1, (b"tEXt", body))
    out = bytearray(_PNG_MAGIC)
    for kind, payload in chunks:
        out += len(payload).to_bytes(4, "big") + kind + payload
        out += zlib.crc32(kind + payload).to_bytes(4, "big")
    path.write_bytes(bytes(out))


def png_text(path: Path) -> dict[str, str]:
    """The ``tEXt`` chunks of the PNG at ``path``: keyword -> text."""
    out = {}
    for kind, payload in _chunks(path.read_bytes()):
        if kind == b"tEXt" and b"\0" in payload:
            key, _, text = payload.partition(b"\0")
            out[key.decode("latin-1")] = text.decode("latin-1")
    return out


def _key() -> bytes:
    return DIGEST_KEY.encode("latin-1") + b"\0"


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, at = [], len(_PNG_MAGIC)
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        out.append((data[at + 4 : at + 8], data[at + 8 : at + 8 + size]))
        at += 12 + size
    return out


def draw_all(out: Path, template: Template | None = None) -> list[Path]:
    """The whole pipeline, then one diagram per state machine; returns the files written."""
    written: list[Path] = []
    for name, plan in pictures(template).items():
        written += render(plan, out / name)
    return written
