"""Documents (PDF): the first pages rendered as images in a grid, page count, size; in
a live kernel, the document viewer on top (every page, zoom, thumbnails, text search).

Never a `data:` PDF or an iframe (sanitizers strip them and they bloat notebooks).
pdfium runs in a worker process with a time and a memory limit (`document.pdf`), so a
hostile PDF costs the kernel nothing; the pages shown share one time limit. The viewer
(`document.viewer.DocumentViewer`; `kinds.KINDS["document"].viewer`) is added by `live`
as a widget view over the static grid, which exporters and untrusted views show; its
pages are rendered on request at the size shown and kept as files beside the artifact.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import PreviewLimitError
from ...refs import BaseRef
from ...session import cache_for
from ..budget import Budget, Bundle
from ..html import caption, frame, grid, heading, human_size, img_tag, page_cell, plain
from ..kernel import in_kernel, widget_view
from ..pictures import encode_fit
from ..registry import KindRenderer

if TYPE_CHECKING:  # pragma: no cover
    from ...document.pdf import Pages

VERSION = 3  # 3: a card's hint names the viewer it offers
VIEWER_NAME = "document viewer"
MAX_PAGES = 6
PER_PAGE_MIN = 40 * 1024  # raw bytes a page image needs to be legible
PREVIEW_EDGE = 384  # the viewer's stand-in picture (kept in widget state: small)


_open: OrderedDict[tuple[str, int, int], Pages] = OrderedDict()  # recent files' pages
_lock = threading.Lock()
KEEP_OPEN = 4  # files whose Pages (and in-memory pictures) stay open


def pages_of(ref: BaseRef, path: Path) -> Pages:
    """The PDF's pages (one object per download of the file, so its page count, text and
    pictures are reused), with rendered pictures kept beside the artifact in the cache
    (evicted with it, counted toward its size cap)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_ino)
    with _lock:
        found = _open.get(key)
        if found is not None:
            _open.move_to_end(key)
            return found
    found = _pages(ref, path)
    with _lock:
        found = _open.setdefault(key, found)
        while len(_open) > KEEP_OPEN:
            _open.popitem(last=False)
    return found


def _pages(ref: BaseRef, path: Path) -> Pages:
    from ...document.pdf import Pages

    try:
        cache = cache_for(ref)
    except Exception:
        return Pages(path)

    def store(name: str) -> Path | None:
        try:
            return cache.preview_path(ref, name)
        except Exception:
            return None

    return Pages(path, store=store, saved=cache.note)


def more_hint(shown: int, count: int, in_card: bool = False) -> str:
    """What the static picture says about the pages it leaves out (inside a result card:
    the card's offer of the viewer, too)."""
    if not 0 < shown < count:
        return ""
    where = (
        f"“open {VIEWER_NAME}” under the card (or the ref displayed alone)"
        if in_card
        else "display the ref"
    )
    return (
        f"first {shown} of {count} pages shown: {where} in a live kernel for every "
        f"page, or ref.page({count}) for one"
    )


def render(ref: BaseRef, path: Path, budget: Budget) -> Bundle:
    from ...document.pdf import render_seconds

    size = path.stat().st_size
    pages = pages_of(ref, path)
    limit = render_seconds()
    start = time.monotonic()
    info = pages.info()
    count = info.count
    room = budget.media()
    shown = 1 if budget.thumbnail else max(1, min(count, MAX_PAGES, room // PER_PAGE_MIN))
    target = min(budget.max_edge, 900 if shown == 1 else 560)
    cells, stopped = [], ""
    for i in range(min(shown, count)):
        left = limit - (time.monotonic() - start)
        try:
            if left <= 0:
                from ...document.pdf import over_time

                raise over_time("rendering the preview's pages", limit)
            im = pages.image(i, target, seconds=left)
        except PreviewLimitError as exc:
            if not cells:
                raise
            stopped = exc.message
            break
        enc = encode_fit(im, room // shown, target)
        if enc is None:
            continue
        mime, data, pw, ph = enc
        pic = img_tag(mime, data, pw, ph, alt=f"page {i + 1}", paper=True)
        cells.append(page_cell(pic, f"page {i + 1}"))
    facts = [f"{count} page{'s' if count != 1 else ''}", human_size(size)]
    note = "; ".join(filter(None, [more_hint(len(cells), count, budget.html_only), stopped]))
    head = heading(info.title) if info.title else ""
    body = head + (grid(cells, 200 if shown > 1 else 320) if cells else "")
    return {
        "text/plain": plain(ref, *facts),
        "text/html": frame(body, caption(ref, *facts, note=note)),
    }, {}


def _first_picture(data: dict[str, Any]) -> bytes:
    for mime in ("image/png", "image/jpeg"):
        value = data.get(mime)
        if isinstance(value, str):
            return base64.b64decode(value)
    return b""


def viewer_of(ref: BaseRef, page: int = 1, preview: bytes = b"", height: int = 640) -> Any:
    """A `DocumentViewer` of the ref's PDF opened at `page` (1-based)."""
    from ...document.viewer import DocumentViewer

    pages = pages_of(ref, ref.fetch())
    index = pages.check(page)
    if not preview:  # what a view shows where it cannot reach the kernel
        preview = pages.picture(0, PREVIEW_EDGE)[0]
    title = f"{type(ref).__name__} · {ref.id}"
    return DocumentViewer.of(pages, page=index + 1, height=height, title=title, preview=preview)


def make_viewer(ref: BaseRef, data: dict[str, Any]) -> Any:
    """The document viewer (None without a kernel or a widget library)."""
    if not in_kernel():  # asked first: no widget library imported for nobody
        return None
    from ...document import viewer

    if not viewer.available():
        return None
    return viewer_of(ref, preview=_first_picture(data))


def live(ref: BaseRef, data: dict[str, Any]) -> dict[str, Any]:
    """The widget view of the document viewer (empty without a kernel)."""
    return widget_view(make_viewer(ref, data))


RENDERER = KindRenderer(
    render, version=VERSION, live=live, viewer=make_viewer, viewer_name=VIEWER_NAME
)
