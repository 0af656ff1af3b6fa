"""The design report (``make report``): every notebook executed and exported to HTML, the
committed diagrams, and an index with the design rationale, as a static site anyone can open
or share (``build/report/index.html``; no server, no JavaScript of ours).

Notebooks are read into memory and executed there (nbconvert's ``ExecutePreprocessor``, each in
a fresh kernel, with the notebooks' directory as the working directory, as nbval and JupyterLab
run them): the outputs go to the site only, never into ``notebooks/``, which stays stripped.
Each page is nbconvert's ``HTMLExporter`` (the ``lab`` template) with every image embedded, so
a page is one self-contained file. The diagrams are copied from ``diagrams/`` (PNG and SVG,
subdirectories too); their SVGs carry their icons as data URIs (:func:`embed_svg_images`, at
draw time), and a copy of one that does not gets them embedded, so each opens anywhere.

``python -m pipeline.report [--out build/report] [--no-execute] [--timeout 900] [NOTEBOOK ...]``
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.diagrams.draw import embed_svg_images

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
DIAGRAMS = ROOT / "diagrams"
README = ROOT / "README.md"
DEFAULT_OUT = ROOT / "build" / "report"


@dataclass
class Page:
    """One notebook's page: its title, the headings of its sections and its lead paragraph."""

    notebook: str  # file name, e.g. 04_deploy.ipynb
    href: str  # relative to the site's root
    title: str
    lead: str
    sections: list[tuple[str, str]]  # (heading, its anchor on the page)
    executed: bool
    seconds: float = 0.0


@dataclass
class Site:
    """What :func:`build` wrote under ``root``."""

    root: Path
    pages: list[Page] = field(default_factory=list)
    diagrams: list[str] = field(default_factory=list)  # paths relative to root, PNG and SVG

    @property
    def index(self) -> Path:
        return self.root / "index.html"


def notebook_paths(directory: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks, in their order (by file name: 00, 01, ..., 03b, ..., 06)."""
    return sorted(directory.glob("*.ipynb"))


def build(
    out_dir: Path | str = DEFAULT_OUT,
    notebooks: Sequence[Path | str] | None = None,
    execute: bool | Collection[str] = True,
    timeout: int = 900,
    say: Callable[[str], None] | None = None,
) -> Site:
    """Write the site to ``out_dir`` (emptied first) and return what it holds.

    ``notebooks``: the notebooks to publish (all under ``notebooks/`` by default);
    ``execute``: True runs every one, False none (their stored, stripped form is shown), or a
    collection of file names or stems runs just those; ``timeout``: seconds per cell. A cell
    that fails stops the build with the notebook and cell named.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    say = say or (lambda _text: None)
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    site = Site(out)
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    paths = [Path(p) for p in notebooks] if notebooks is not None else notebook_paths()
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        run = execute is True or (
            execute is not False and (path.name in execute or path.stem in execute)
        )
        started = time.perf_counter()
        if run:
            say(f"executing {path.name} ...")
            ExecutePreprocessor(timeout=timeout, kernel_name="python3").preprocess(
                notebook, {"metadata": {"path": str(path.parent)}}
            )
        seconds = time.perf_counter() - started
        title, lead, headings = _outline(notebook)
        body, _ = exporter.from_notebook_node(
            notebook, resources={"metadata": {"name": title, "path": str(path.parent)}}
        )
        href = f"notebooks/{path.stem}.html"
        anchors = re.findall(r'<h2 id="([^"]+)"', body)
        sections = [(h, f"{href}#{a}") for h, a in zip(headings, anchors, strict=False)]
        (out / href).write_text(_with_back_link(body), encoding="utf-8")
        nbformat.write(notebook, out / "notebooks" / path.name)  # executed, downloadable
        site.pages.append(Page(path.name, href, title, lead, sections, run, seconds))
        say(f"  {href}" + (f" (executed in {seconds:.0f} s)" if run else " (not executed)"))
    site.diagrams = _copy_diagrams(DIAGRAMS, out / "diagrams")
    (out / "diagrams.html").write_text(_diagrams_page(site), encoding="utf-8")
    site.index.write_text(_index(site), encoding="utf-8")
    say(
        f"wrote {site.index} ({len(site.pages)} notebook pages, {len(site.diagrams)} diagram files)"
    )
    return site


def _outline(notebook: object) -> tuple[str, str, list[str]]:
    """A notebook's title (its first heading), its lead (the first paragraph after the title)
    and its section headings (``##``)."""
    title, lead, sections = "", "", []
    for cell in getattr(notebook, "cells", []):
        if cell.cell_type != "markdown":
            continue
        paragraphs = [p.strip() for p in cell.source.split("\n\n") if p.strip()]
        for paragraph in paragraphs:
            if paragraph.startswith("# ") and not title:
                title = paragraph[2:].splitlines()[0].strip()
            elif paragraph.startswith("## "):
                sections.append(paragraph[3:].splitlines()[0].strip())
            elif title and not lead and not paragraph.startswith(("#", "|", "```", "-")):
                lines = [line.strip().removeprefix(">").strip() for line in paragraph.splitlines()]
                lead = "" if lines[-1].endswith(":") else " ".join(lines)
    return title, lead, sections


def _copy_diagrams(source: Path, target: Path) -> list[str]:
    """Copy every PNG and SVG under ``source`` (keeping subdirectories); an SVG's raster
    icons are embedded. Returns the copies' paths relative to the site's root."""
    copied = []
    # the default design's first (top level), the whole pipeline before its state machines
    order = sorted(source.rglob("*"), key=lambda p: (len(p.parts), p.stem != "pipeline", p))
    for path in order:
        if path.suffix not in (".png", ".svg"):
            continue
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".svg":
            destination.write_text(embed_svg_images(path), encoding="utf-8")
        else:
            shutil.copyfile(path, destination)
        copied.append(destination.relative_to(target.parent).as_posix())
    return copied


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #1b1b1b; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
.lead { color: #444; } li { margin: 0.3rem 0; } .sections { color: #555; font-size: 0.92rem; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9rem; color: #555; } code { background: #f3f3f3; padding: 0 0.2rem; }
"""


def _document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def _with_back_link(page: str) -> str:
    link = (
        '<p style="font-family: system-ui, sans-serif; margin: 0.5rem 1rem">'
        '<a href="../index.html">&larr; Order Pipeline Workbench: design report</a></p>'
    )
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + link, page, count=1)


def _markdown_inline(text: str) -> str:
    """Escape ``text`` and render its ``code`` and **bold** spans (enough for the leads)."""
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def _readme_rationale() -> tuple[str, str]:
    """The README's first two paragraphs: what the workbench is, and the one source of truth."""
    paragraphs = [p.strip() for p in README.read_text(encoding="utf-8").split("\n\n")]
    prose = [p for p in paragraphs if p and not p.startswith(("#", "|", "```", "-"))]
    first, second = [*prose, "", ""][:2]
    join = " ".join
    return join(first.split()), join(second.split())


def _diagram_title(relative: str) -> str:
    path = Path(relative)
    variant = "choreography variant" if "choreography" in path.parts else "default design"
    names = {"ordersaga": "order saga"}
    what = (
        "the whole pipeline"
        if path.stem == "pipeline"
        else f"the {names.get(path.stem, path.stem)} state machine"
    )
    return f"{what[0].upper()}{what[1:]} ({variant})"


def _index(site: Site) -> str:
    what, truth = _readme_rationale()
    items = []
    for page in site.pages:
        sections = ", ".join(f'<a href="{a}">{_markdown_inline(s)}</a>' for s, a in page.sections)
        items.append(
            f'<li><a href="{page.href}">{_markdown_inline(page.title)}</a>'
            + (f'<div class="lead">{_markdown_inline(page.lead)}</div>' if page.lead else "")
            + (f'<div class="sections">Sections: {sections}</div>' if sections else "")
            + "</li>"
        )
    pngs = [d for d in site.diagrams if d.endswith(".png")]
    figures = []
    for png in pngs:
        svg = png[: -len(".png")] + ".svg"
        vector = f' · <a href="{svg}">SVG</a>' if svg in site.diagrams else ""
        figures.append(
            f'<li><a href="{png}">{html.escape(_diagram_title(png))}</a>'
            f" (<code>{html.escape(png)}</code>){vector}</li>"
        )
    executed = sum(page.executed for page in site.pages)
    ran = (
        "Every notebook was executed to build this report."
        if executed == len(site.pages)
        else f"{executed} of {len(site.pages)} were executed to build this report; the others "
        "are shown as stored, without outputs."
    )
    architecture = next((p for p in site.pages if p.notebook.startswith("01_")), None)
    decisions = ""
    if architecture and architecture.sections:
        links = "".join(
            f'<li><a href="{a}">{_markdown_inline(s)}</a></li>' for s, a in architecture.sections
        )
        decisions = f"<p>The design decisions, each argued in notebook 01:</p><ul>{links}</ul>"
    body = f"""
<h1>Order Pipeline Workbench: design report</h1>
<p class="lead">{_markdown_inline(what)}</p>
<h2>Design rationale</h2>
<p>{_markdown_inline(truth)}</p>
{decisions}
<p>The notebooks below make the case, from the architecture and why the default design (the
orchestrated saga) was chosen, through the pipeline run on the local cloud, the simulator at
scale and checked against the local cloud, deployment through a reviewed change set and the
audit lake's queries, to capacity planning. {ran}</p>
<h2>Notebooks</h2>
<ol>
{chr(10).join(items)}
</ol>
<h2>Diagrams</h2>
<p>Drawn from <code>infra/template.yaml</code> and the state machines' ASL by
<code>python -m pipeline diagrams</code>; nothing is drawn by hand.
<a href="diagrams.html">All diagrams on one page</a>.</p>
<ul>
{chr(10).join(figures)}
</ul>
"""
    return _document("Order Pipeline Workbench: design report", body)


def _diagrams_page(site: Site) -> str:
    figures = []
    for png in (d for d in site.diagrams if d.endswith(".png")):
        svg = png[: -len(".png")] + ".svg"
        title = html.escape(_diagram_title(png))
        vector = f' · <a href="{svg}">SVG (zoomable)</a>' if svg in site.diagrams else ""
        figures.append(
            f'<figure><a href="{png}"><img src="{png}" alt="{title}" loading="lazy"></a>'
            f"<figcaption>{title}: <code>{html.escape(png)}</code>{vector}</figcaption></figure>"
        )
    body = (
        '<p><a href="index.html">&larr; design report</a></p>\n<h1>Diagrams</h1>\n'
        "<p>The default design first, then the choreography variant. Click a picture for full "
        "size; the SVGs zoom without blurring.</p>\n" + "\n".join(figures)
    )
    return _document("Diagrams: Order Pipeline Workbench", body)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.report", description=__doc__)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-execute", action="store_true", help="publish them as stored")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    build(
        args.out,
        args.notebooks or None,
        execute=not args.no_execute,
        timeout=args.timeout,
        say=lambda text: print(text, flush=True),
    )
    print(f"report built in {time.perf_counter() - started:.0f} s: open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
