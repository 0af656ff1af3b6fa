"""`make report`: the static design report. Built here with one notebook executed (05, a
few seconds, with charts) and the others as stored, which is enough to check the site:
every notebook has its page and every committed diagram its copy, each linked from the index;
every image a page shows is embedded or resolves to a file of the site; notebooks/ is left
as it was (stripped)."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from pipeline import report

pytestmark = pytest.mark.system

EXECUTED = "05_audit_analytics"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(str(values["href"]))
        if tag == "img" and values.get("src"):
            self.images.append(str(values["src"]))


def _links(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _local(page: Path, reference: str) -> Path | None:
    """The file a relative link of ``page`` points at (None for data URIs and web links)."""
    parts = urlsplit(reference)
    if parts.scheme or reference.startswith("#"):
        return None
    return (page.parent / unquote(parts.path)).resolve()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> report.Site:
    before = {p: p.read_bytes() for p in report.notebook_paths()}
    built = report.build(tmp_path_factory.mktemp("report") / "site", execute={EXECUTED})
    assert {p: p.read_bytes() for p in report.notebook_paths()} == before, "notebooks/ changed"
    return built


def test_every_notebook_has_a_page_linked_from_the_index(site: report.Site) -> None:
    index = _links(site.index)
    targets = {_local(site.index, href) for href in index.hrefs}
    notebooks = report.notebook_paths()
    assert [page.notebook for page in site.pages] == [p.name for p in notebooks]
    for path in notebooks:
        page = site.root / "notebooks" / f"{path.stem}.html"
        assert page.is_file() and page.resolve() in targets, f"{path.name}: no page, or not linked"
        assert "../index.html" in _links(page).hrefs  # and back
    assert (site.root / "diagrams.html").resolve() in targets
    assert [page.executed for page in site.pages].count(True) == 1


def test_every_diagram_is_copied_and_linked(site: report.Site) -> None:
    committed = sorted(
        p.relative_to(report.DIAGRAMS).as_posix()
        for p in report.DIAGRAMS.rglob("*")
        if p.suffix in (".png", ".svg")
    )
    assert committed, "no diagrams committed"
    assert any(name.startswith("choreography/") for name in committed)
    assert sorted(d.removeprefix("diagrams/") for d in site.diagrams) == committed
    index_targets = {_local(site.index, href) for href in _links(site.index).hrefs}
    gallery = site.root / "diagrams.html"
    shown = {_local(gallery, src) for src in _links(gallery).images}
    for name in committed:
        copy = (site.root / "diagrams" / name).resolve()
        assert copy.is_file() and copy.stat().st_size > 0
        assert copy in index_targets, f"{name} not linked from index.html"
        if name.endswith(".png"):
            assert copy in shown, f"{name} not shown on diagrams.html"
            assert copy.read_bytes().startswith(b"\x89PNG")


def test_images_are_embedded_or_resolve(site: report.Site) -> None:
    pages = [site.index, site.root / "diagrams.html", *site.root.glob("notebooks/*.html")]
    for page in pages:
        for src in _links(page).images:
            target = _local(page, src)
            assert target is None or target.is_file(), f"{page.name}: {src} does not resolve"
            assert target is not None or src.startswith("data:image/"), f"{page.name}: {src}"
    executed = (site.root / "notebooks" / f"{EXECUTED}.html").read_text(encoding="utf-8")
    charts = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=\s]+)"', executed)
    assert charts, "the executed notebook's charts are not embedded"
    assert all(base64.b64decode(chart).startswith(b"\x89PNG") for chart in charts)
    for svg in site.root.rglob("*.svg"):  # the icons inlined: no path of this machine left
        references = re.findall(r'href="([^"]+)"', svg.read_text(encoding="utf-8"))
        assert all(ref.startswith(("data:", "#", "http")) for ref in references), svg
