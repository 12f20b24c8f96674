"""`DocumentViewer`: every page of a PDF in a live kernel, an anywidget.

The browser side (`js/src/document.js`, built into `static/document.js`) shows one page
at a time with next/previous, a page number box, keyboard keys, zoom, a strip of
thumbnails, a selectable text layer and a search box. Pages are never widget state
(a saved notebook would carry them): a view asks for page `i` at the width it shows it
("page?", in device pixels), and the kernel answers with the page as JPEG in a binary
buffer, rendered by the bounded worker (`pdf.Pages`) and cached. Text and search
answers travel the same way, as messages. Without a kernel a view shows `preview`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .pdf import MAX_EDGE, PageRangeError, Pages

STATIC = Path(__file__).with_name("static") / "document.js"
THUMB_EDGE = 256  # a thumbnail's longest side in pixels, at most
MAX_QUERY = 200

_MISSING = (
    "export default { render({ el }) { el.textContent = 'The document viewer was not built.'; } };"
)


def available() -> bool:
    """Whether the viewer's JavaScript was built into this installation."""
    return STATIC.is_file()


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class DocumentViewer(anywidget.AnyWidget):
    """A PDF, page by page: arrows or PageUp/PageDown step, Home/End jump, the number box
    goes to any page, +/- zoom, 0 fits the page and w the width; the strip on the left shows thumbnails;
    search finds pages by their text. `page` (1-based) is the page shown, settable from
    Python. Build one with `DocumentViewer.of(pages)`."""

    _esm = STATIC if available() else _MISSING
    count = traitlets.Int(0).tag(sync=True)
    page = traitlets.Int(1).tag(sync=True)
    height = traitlets.Int(640).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)  # plain text, shown as text (never HTML)
    preview = traitlets.Bytes(b"").tag(sync=True)

    def __init__(self, pages: Pages | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pages = pages
        self.on_msg(self._on_message)

    @classmethod
    def of(
        cls, pages: Pages, page: int = 1, height: int = 640, title: str = "", preview: bytes = b""
    ) -> DocumentViewer:
        """A viewer of `pages` opened at `page` (1-based)."""
        index = pages.check(page)
        return cls(
            pages, count=pages.info().count, page=index + 1, height=height, title=title,
            preview=preview,
        )  # fmt: skip

    def answer(self, content: Any) -> tuple[dict[str, Any], list[bytes]]:
        """The reply to one view message (the protocol, testable without a frontend); it
        carries the request's `seq`, so a view can match answers to what it asked."""
        reply, buffers = self._answer(content)
        if isinstance(content, dict):
            reply["seq"] = content.get("seq")
        return reply, buffers

    def _answer(self, content: Any) -> tuple[dict[str, Any], list[bytes]]:
        if not isinstance(content, dict) or self._pages is None:
            return {"type": "error", "message": "no document"}, []
        kind = content.get("type")
        seq = content.get("seq")
        index = _int(content.get("index"), -1)
        try:
            if kind == "info?":
                info = self._pages.info()
                return {"type": "info", "count": info.count, "sizes": info.sizes}, []
            if kind in ("page?", "thumb?"):
                if not 0 <= index < self.count:
                    raise PageRangeError(f"page {index + 1} is out of range (1 to {self.count})")
                cap = MAX_EDGE if kind == "page?" else THUMB_EDGE
                edge = max(16, min(cap, _int(content.get("edge"), 1024)))
                data, w, h = self._pages.picture(index, edge)
                reply = {"type": kind[:-1], "index": index, "width": w, "height": h}
                return {**reply, "mime": "image/jpeg", "seq": seq}, [data]
            if kind == "text?":
                if not 0 <= index < self.count:
                    raise PageRangeError(f"page {index + 1} is out of range (1 to {self.count})")
                layer = self._pages.text_layer(index)
                return {"type": "text", "index": index, "seq": seq, **layer}, []
            if kind == "search?":
                query = str(content.get("query") or "")[:MAX_QUERY]
                return {"type": "search", "seq": seq, **self._pages.search(query)}, []
        except Exception as exc:  # the view shows it where the page would be
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            return {"type": "error", "of": kind, "index": index, "seq": seq, "message": message}, []
        return {"type": "error", "of": kind, "message": f"unknown request {kind!r}"}, []

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        reply, buffers = self.answer(content)
        self.send(reply, buffers=buffers or None)


__all__ = ["DocumentViewer", "available"]
