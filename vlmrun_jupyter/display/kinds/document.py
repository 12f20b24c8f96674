"""Documents (PDF): the first pages rendered as images in a grid, page count, size.

Never a `data:` PDF or an iframe (sanitizers strip them and they bloat notebooks).
pypdfium2 opens lazily, so a 300-page PDF costs only the pages shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pypdfium2 as pdfium

from .budget import Budget
from .html import BORDER, MUTED, attrs, caption, esc, frame, grid, human_size, img_tag, plain
from .image import encode_fit

MAX_PAGES = 6
PER_PAGE_MIN = 40 * 1024  # raw bytes a page image needs to be legible


def _title(pdf: pdfium.PdfDocument) -> str:
    try:
        return str(pdf.get_metadata_dict().get("Title") or "").strip()[:200]
    except Exception:
        return ""


def render(ref: Any, path: Path, budget: Budget) -> dict[str, Any]:
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
            style = f"display: block; max-width: 100%; height: auto; {BORDER} background: #fff;"
            pic = img_tag(mime, data, pw, ph, alt=f"page {i + 1}", style=style)
            cells.append(f"<div>{pic}<div{attrs(style=MUTED)}>page {i + 1}</div></div>")
    finally:
        pdf.close()
    facts = [f"{count} page{'s' if count != 1 else ''}", human_size(size)]
    note = f"first {len(cells)} of {count} pages shown" if 0 < len(cells) < count else ""
    head = f'<div style="font-weight: 600; margin-bottom: 4px;">{esc(title)}</div>' if title else ""
    body = head + (grid(cells, 200 if shown > 1 else 320) if cells else "")
    return {
        "text/plain": plain(ref, *facts),
        "text/html": frame(body, caption(ref, *facts, note=note)),
    }
