"""Documents (PDF): the first pages rendered as images in a grid, page count, size.

Never a `data:` PDF or an iframe (sanitizers strip them and they bloat notebooks).
pypdfium2 opens lazily, so a 300-page PDF costs only the pages shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...refs import BaseRef
from ..budget import Budget, Bundle
from ..html import caption, frame, grid, heading, human_size, img_tag, page_cell, plain
from ..pictures import encode_fit
from ..registry import KindRenderer

MAX_PAGES = 6
PER_PAGE_MIN = 40 * 1024  # raw bytes a page image needs to be legible


def _title(pdf: Any) -> str:
    try:
        return str(pdf.get_metadata_dict().get("Title") or "").strip()[:200]
    except Exception:
        return ""


def render(ref: BaseRef, path: Path, budget: Budget) -> Bundle:
    import pypdfium2 as pdfium

    size = path.stat().st_size
    pdf = pdfium.PdfDocument(str(path))
    try:
        count = len(pdf)
        title = _title(pdf)
        room = budget.media()
        shown = 1 if budget.thumbnail else max(1, min(count, MAX_PAGES, room // PER_PAGE_MIN))
        target = min(budget.max_edge, 900 if shown == 1 else 560)
        cells = []
        for i in range(min(shown, count)):
            page = pdf[i]
            try:
                w, h = page.get_size()
                scale = target / max(w, h, 1)
                im = page.render(scale=scale).to_pil()
            finally:
                page.close()
            enc = encode_fit(im, room // shown, target)
            if enc is None:
                continue
            mime, data, pw, ph = enc
            pic = img_tag(mime, data, pw, ph, alt=f"page {i + 1}", paper=True)
            cells.append(page_cell(pic, f"page {i + 1}"))
    finally:
        pdf.close()
    facts = [f"{count} page{'s' if count != 1 else ''}", human_size(size)]
    note = f"first {len(cells)} of {count} pages shown" if 0 < len(cells) < count else ""
    head = heading(title) if title else ""
    body = head + (grid(cells, 200 if shown > 1 else 320) if cells else "")
    return {
        "text/plain": plain(ref, *facts),
        "text/html": frame(body, caption(ref, *facts, note=note)),
    }, {}


RENDERER = KindRenderer(render)
