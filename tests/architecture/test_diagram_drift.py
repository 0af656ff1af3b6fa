"""The committed diagrams are the ones the template draws today.

``diagrams/`` holds the default design's pictures, ``diagrams/choreography/`` the choreography
variant's. For each, this test plans the drawing again from ``infra/template.yaml`` (what
``draw.pictures`` returns: every node with its text, every line with its label and style; no
Graphviz needed) and compares it with the committed files:

- the SVG's structure: each node's ``<title>`` (its logical id) and the text drawn in it, each
  edge's ``<title>`` (``tail->head``) and its label, as Graphviz writes them;
- the PNG's stamp: a ``tEXt`` chunk with the digest of the planned drawing, written at draw
  time (PNG bytes differ across Graphviz versions; the digest does not).

A rule, queue, role grant or label changed in the template, or a drawing change in
``pipeline/diagrams``, without redrawing, fails here and says what to run.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from pathlib import Path

import pytest

from pipeline.diagrams.draw import DIGEST_KEY, Picture, pictures, png_text
from pipeline.template import Template
from pipeline.variants import VARIANTS

ROOT = Path(__file__).resolve().parents[2]
# The committed folder -> the variant drawn into it.
COMMITTED = {"diagrams": "default", "diagrams/choreography": "choreography"}
FIX = (
    "The committed diagrams no longer match what the template draws. Redraw them: run "
    "`python -m pipeline diagrams` and "
    "`python -m pipeline diagrams --variant choreography --out diagrams/choreography`, "
    "look at the pictures, and commit diagrams/."
)


@pytest.fixture(scope="module", params=list(COMMITTED))
def folder(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def planned(folder) -> dict[str, Picture]:
    return pictures(Template.load(parameters=VARIANTS[COMMITTED[folder]]))


def test_the_committed_diagrams_are_the_ones_the_template_draws(folder, planned):
    where = ROOT / folder
    problems: list[str] = []
    committed = {p.stem for p in where.glob("*.png")} | {p.stem for p in where.glob("*.svg")}
    for stale in sorted(committed - set(planned)):
        problems.append(f"{folder}/{stale}.*: drawn by nothing any more (delete it)")
    for name, picture in sorted(planned.items()):
        svg, png = where / f"{name}.svg", where / f"{name}.png"
        for path in (svg, png):
            if not path.exists():
                problems.append(f"{folder}/{path.name}: missing")
        if svg.exists():
            problems += [f"{folder}/{svg.name}: {p}" for p in svg_differences(svg, picture)]
        if png.exists():
            stamp = png_text(png).get(DIGEST_KEY)
            if stamp != picture.digest():
                what = "no digest" if stamp is None else f"digest {stamp[:12]}…"
                problems.append(
                    f"{folder}/{png.name}: {what}, the drawing now is {picture.digest()[:12]}…"
                )
    assert not problems, "\n".join([FIX, *problems])


def svg_differences(path: Path, picture: Picture) -> list[str]:
    """What the SVG at ``path`` shows that ``picture`` does not, and the other way round."""
    svg = path.read_text()
    out = []
    nodes = _svg_nodes(svg)
    want_nodes = {n.id: _words(n.shown) for n in picture.nodes}
    for node in sorted(set(want_nodes) - set(nodes)):
        out.append(f"node {node} ({want_nodes[node]!r}) is not drawn")
    for node in sorted(set(nodes) - set(want_nodes)):
        out.append(f"node {node} ({nodes[node]!r}) is drawn but no longer in the template")
    for node in sorted(set(nodes) & set(want_nodes)):
        if nodes[node] != want_nodes[node]:
            out.append(f"node {node} reads {nodes[node]!r}, should read {want_nodes[node]!r}")
    drawn = Counter(_svg_edges(svg))
    want = Counter((e.tail, e.head, _words(e.text)) for e in picture.lines if e.visible)
    for tail, head, text in sorted((want - drawn).elements()):
        out.append(f"edge {tail} -> {head} {text!r} is not drawn")
    for tail, head, text in sorted((drawn - want).elements()):
        out.append(f"edge {tail} -> {head} {text!r} is drawn but no longer in the template")
    return out


def _words(text: str) -> str:
    return " ".join(text.split())


def _svg_nodes(svg: str) -> dict[str, str]:
    """Each node's title -> the text drawn in it (its lines joined by a space)."""
    groups = re.findall(r'class="node">\s*<title>([^<]*)</title>(.*?)</g>', svg, re.S)
    return {html.unescape(t): _texts(body) for t, body in groups}


def _svg_edges(svg: str) -> list[tuple[str, str, str]]:
    """Each edge as (tail, head, its label), as Graphviz titles them: ``tail->head``."""
    groups = re.findall(r'class="edge">\s*<title>([^<]*)</title>(.*?)</g>', svg, re.S)
    out = []
    for title, body in groups:
        tail, head = html.unescape(title).split("->", 1)
        out.append((tail, head, _texts(body)))
    return out


def _texts(body: str) -> str:
    return _words(" ".join(html.unescape(t) for t in re.findall(r">([^<]*)</text>", body)))


def test_the_committed_svgs_open_anywhere(folder):
    """Every icon is embedded (a data URI, once per icon in ``<defs>``): no path into the
    virtualenv of the machine that drew it, which would show empty boxes everywhere else."""
    for svg in sorted((ROOT / folder).glob("*.svg")):
        text = svg.read_text(encoding="utf-8")
        references = re.findall(r'href="([^"#][^"]*)"', text)
        assert references, f"{svg.name} has no icons"
        outside = [r for r in references if not r.startswith("data:")]
        assert not outside, f"{svg.name} points at files: {outside[:3]}. {FIX}"
