"""`DocumentRef.page(n)` and `DocumentRef.pages(a, b)`: single pages of a PDF, in Python.

A `Page` displays as that page (a picture within the inline budget, with the usual
caption), `load(dpi=)` gives it as a PIL image, `text()` as text, and `view()` opens
the live document viewer there. `PageRange` is a list of pages that displays as a grid.
Pages are numbered from 1 as in a PDF reader; a number outside the document raises
`PageRangeError` (an `IndexError`) saying how many pages there are. Every render goes
through the bounded PDF worker (`document.pdf`), so a limit shows as a card.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..refs import BaseRef
from .budget import Budget, Bundle, default_budget
from .errors import error_bundle
from .html import caption, frame, grid, img_tag, page_cell, plain
from .kinds.document import pages_of, viewer_of
from .pictures import encode_fit, picture_bundle
from .pipeline import filter_bundle

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ..document.pdf import Pages

PAGE_EDGE = 1024  # a displayed page's longest side in pixels, at most
MAX_GRID = 24  # pages a range displays (all of them load)


def _fit(pages: Pages, index: int, room: int, edge: int) -> tuple[str, bytes, int, int] | None:
    """The page as an encoded picture within `room` bytes: the cached JPEG if it fits."""
    from PIL import Image

    data, w, h = pages.picture(index, edge)
    if len(data) <= room:
        return "image/jpeg", data, w, h
    with Image.open(io.BytesIO(data)) as im:
        return encode_fit(im.convert("RGB"), room, edge)


class Page:
    """Page `number` (1-based) of a document ref."""

    def __init__(self, ref: BaseRef, number: int, pages: Pages) -> None:
        self.ref, self._pages = ref, pages
        self.index = pages.check(number)
        self.number = number
        self.count = pages.info().count

    def __repr__(self) -> str:
        return f"<page {self.number} of {self.count} of {type(self.ref).__name__} {self.ref.id}>"

    @property
    def size(self) -> tuple[float, float]:
        """(width, height) in points (1/72 inch), as the PDF declares it."""
        return self._pages.info().size(self.index)

    def load(self, dpi: float = 150) -> Image.Image:
        """The page as an RGB `PIL.Image.Image` at `dpi` dots per inch (its longest side
        capped at `document.pdf.MAX_EDGE` pixels, whatever size the page declares)."""
        if not dpi > 0:
            raise ValueError(f"dpi must be a positive number, not {dpi!r}")
        edge = max(self.size) / 72 * float(dpi)
        return self._pages.image(self.index, int(round(edge)))

    def text(self) -> str:
        """The page's text as pdfium extracts it ("" for a scanned page)."""
        return self._pages.text(self.index)

    def view(self, height: int = 640) -> Any:
        """The live document viewer, opened at this page."""
        return viewer_of(self.ref, self.number, height=height)

    def bundle(self, budget: Budget) -> Bundle:
        facts = (f"page {self.number} of {self.count}",)
        edge = min(budget.max_edge, PAGE_EDGE)
        try:
            enc = _fit(self._pages, self.index, budget.media(2), edge)
        except Exception as exc:
            return error_bundle(exc, self.ref, self._pages.path), {}
        text = plain(self.ref, *facts)
        if enc is None:
            return {"text/plain": text, "text/html": frame("", caption(self.ref, *facts))}, {}
        return picture_bundle(text, enc, caption(self.ref, *facts), f"page {self.number}", budget)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return filter_bundle(self.bundle(default_budget()), include, exclude)


class PageRange:
    """Pages `first` to `last` (inclusive, 1-based) of a document ref."""

    def __init__(self, ref: BaseRef, first: int, last: int, pages: Pages) -> None:
        pages.check(first)
        pages.check(last)
        if last < first:
            from ..document.pdf import PageRangeError

            raise PageRangeError(f"the range ends (page {last}) before it starts (page {first})")
        self.ref, self._pages = ref, pages
        self.first, self.last = first, last

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __iter__(self) -> Iterator[Page]:
        return (Page(self.ref, n, self._pages) for n in range(self.first, self.last + 1))

    def __getitem__(self, i: int) -> Page:
        """The `i`-th page of the range (0-based, like a list)."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"the range has {n} pages")
        return Page(self.ref, self.first + (i % n), self._pages)

    def __repr__(self) -> str:
        return f"<pages {self.first}-{self.last} of {type(self.ref).__name__} {self.ref.id}>"

    def load(self, dpi: float = 150) -> list[Image.Image]:
        """Every page of the range as a PIL image (see `Page.load`)."""
        return [page.load(dpi) for page in self]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        budget = default_budget()
        cells = []
        try:  # a repr never raises: a failure is a card
            shown = list(self)[:MAX_GRID]
            room = budget.media() // max(1, len(shown))
            count = self._pages.info().count
            for page in shown:
                enc = _fit(self._pages, page.index, room, 560)
                if enc is not None:
                    mime, data, w, h = enc
                    pic = img_tag(mime, data, w, h, alt=f"page {page.number}", paper=True)
                    cells.append(page_cell(pic, f"page {page.number}"))
        except Exception as exc:
            return filter_bundle(
                (error_bundle(exc, self.ref, self._pages.path), {}), include, exclude
            )
        facts = [f"pages {self.first}-{self.last} of {count}"]
        note = (
            f"first {len(shown)} of the {len(self)} pages shown" if len(self) > len(shown) else ""
        )
        html = frame(grid(cells, 200), caption(self.ref, *facts, note=note))
        data = {"text/plain": plain(self.ref, *facts), "text/html": html}
        return filter_bundle((data, {}), include, exclude)


def document_page(ref: BaseRef, number: int, client: Any = None) -> Page:
    """`ref.page(number)`: fetches the PDF (once) and checks the number."""
    return Page(ref, number, pages_of(ref, ref.fetch(client)))


def document_pages(
    ref: BaseRef, first: int = 1, last: int | None = None, client: Any = None
) -> PageRange:
    """`ref.pages(first, last)`: `last` defaults to the last page."""
    pages = pages_of(ref, ref.fetch(client))
    return PageRange(ref, first, pages.info().count if last is None else last, pages)


__all__ = ["Page", "PageRange", "document_page", "document_pages"]
