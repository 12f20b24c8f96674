"""Batches on screen: the paged table, the DataFrame's thumbnails, the live progress bar.

A `BatchResult` of any length renders one page (20 rows by default): the input as a
thumbnail, the typed result with its refs as thumbnails, the error. Only the refs on
that page are fetched (concurrently), each picture is a small JPEG, and the whole
output is checked against the inline budget: rows that no longer fit are left out
and the footer says so. `batch.page(n)` shows page n.

The progress bar is one display updated in place, at most every `MIN_INTERVAL`
seconds, so a 10,000-item batch sends a few hundred updates, not 10,000.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..refs import BaseRef, ImageRef, iter_refs
from . import html as h
from .budget import inline_budget
from .pictures import displayable, open_image

THUMB_EDGE = 64
THUMB_BYTES = 6 * 1024
TEXT_MAX = 160
FIELDS_MAX = 8
FRAME_ROWS = 20
MIN_INTERVAL = 0.5

ROW_CHROME = 600  # bytes of tags and styles around one row's cells


# -- cells ---------------------------------------------------------------------------------------


def _short(text: Any, n: int = TEXT_MAX) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _thumb(im: Any, alt: str) -> str | None:
    """A JPEG of at most THUMB_EDGE pixels a side (small images stay as they are)."""
    im = displayable(im).convert("RGB")
    if max(im.size) > THUMB_EDGE:
        im = im.copy()
        im.thumbnail((THUMB_EDGE, THUMB_EDGE))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=70)
    data = buf.getvalue()
    return h.img_tag("image/jpeg", data, *im.size, alt) if len(data) <= THUMB_BYTES else None


def _image_thumb(value: Any, alt: str) -> str | None:
    """A small picture of a PIL image or an image file, or None if `value` is neither."""
    try:
        if hasattr(value, "mode") and hasattr(value, "size") and hasattr(value, "copy"):
            return _thumb(value, alt)
        if isinstance(value, (str, Path)) and Path(value).is_file():
            im, _, _ = open_image(Path(value), THUMB_EDGE * 4)
            return _thumb(im, alt)
    except Exception:
        return None
    return None


def _ref_cell(ref: BaseRef, fetched: dict[int, Any]) -> str:
    path = fetched.get(id(ref))
    if isinstance(ref, ImageRef) and isinstance(path, Path):
        thumb = _image_thumb(path, ref.id)
        if thumb:
            return thumb
    return h.mono(ref.id)


def _value_cell(value: Any, fetched: dict[int, Any]) -> str:
    """A value in a cell: refs and images as thumbnails, models as `field: value` lines."""
    if value is None:
        return ""
    if isinstance(value, BaseRef):
        return _ref_cell(value, fetched)
    thumb = _image_thumb(value, "input") if not isinstance(value, str) else None
    if thumb:
        return thumb
    if isinstance(value, BaseModel) or isinstance(value, dict):
        pairs = (
            [(k, getattr(value, k)) for k in type(value).model_fields]
            if isinstance(value, BaseModel)
            else list(value.items())
        )
        lines = [h.div(h.muted(f"{k}: ") + _value_cell(v, fetched)) for k, v in pairs[:FIELDS_MAX]]
        if len(pairs) > FIELDS_MAX:
            lines.append(h.muted_line(f"+{len(pairs) - FIELDS_MAX} more fields"))
        return "".join(lines)
    if isinstance(value, (list, tuple)) and value and any(iter_refs(value)):
        cells = [_value_cell(v, fetched) for v in value[:4]]
        more = h.muted(f" +{len(value) - 4}") if len(value) > 4 else ""
        return " ".join(cells) + more
    if isinstance(value, Path):
        return h.mono(value.name)
    return h.esc(_short(value))


def _fetch(refs: list[BaseRef], client: Any) -> dict[int, Any]:
    """Paths of the image refs shown (the others show their ids), fetched concurrently."""
    images = [r for r in refs if isinstance(r, ImageRef)]
    if not images:
        return {}
    if client is not None and hasattr(client, "fetch_all"):
        paths = client.fetch_all(images, return_exceptions=True)
    else:
        paths = []
        for ref in images:
            try:
                paths.append(ref.fetch())
            except Exception as exc:
                paths.append(exc)
    return {id(r): p for r, p in zip(images, paths, strict=True)}


# -- the batch table -----------------------------------------------------------------------


def _error_summary(batch: Any) -> str:
    errors = batch.errors
    if not errors:
        return ""
    kinds = Counter(
        f"HTTP {e.error.status}"
        if e.error and e.error.status
        else (e.error.type if e.error else "?")
        for e in errors
    )
    what = ", ".join(f"{k} \u00d7{n}" for k, n in kinds.most_common(4))
    return h.muted_line(f"{len(errors)} failed ({what}): batch.errors, batch.retry_failed()")


def batch_bundle(page: Any, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    """The MIME bundle of one page of a BatchResult (text/plain and text/html)."""
    batch = page.batch
    rows = page.rows
    plain = [repr(batch)] + [
        f"  {r.label!s:>6}  {r.status:7} " + _short(r.error or r.result, 90) for r in rows
    ]
    if len(batch) > len(rows):
        plain.append(f"  ... page {page.number}/{page.pages}; batch.page(n) for more")
    fetched = _fetch([ref for r in rows for ref in iter_refs(r.result)], batch._client)
    budget = inline_budget() - 8 * 1024
    body: list[list[str]] = []
    used = 0
    for r in rows:
        err = r.error
        cells = [
            h.esc(r.label),
            _value_cell(r.item, fetched),
            _value_cell(r.result, fetched) if r.result is not None else h.muted(r.status),
            h.esc(_short(err)) if err else "",
        ]
        size = sum(map(len, cells)) + ROW_CHROME
        if used + size > budget:
            break
        body.append(cells)
        used += size
    first = (page.number - 1) * page.size + 1 if rows else 0
    shown = f"rows {first}\u2013{first + len(body) - 1} of {len(batch):,}"
    notes = [h.muted_line(f"{batch.summary()} \u00b7 {shown}")]
    if len(body) < len(rows):
        notes.append(h.muted_line(f"{len(rows) - len(body)} rows left out: the inline budget"))
    if page.pages > 1:
        notes.append(
            h.muted_line(f"page {page.number}/{page.pages}: batch.page(n), batch.to_pandas()")
        )
    table = h.data_table(["item", "input", "result", "error"], body)
    return {
        "text/plain": "\n".join(plain),
        "text/html": h.div(table, *notes, _error_summary(batch)),
    }


def frame_html(df: Any) -> str:
    """A BatchFrame's HTML: its first rows, refs and images as thumbnails, text escaped."""
    head = df.head(FRAME_ROWS)
    cells = [v for col in head.columns for v in head[col]]
    refs = [ref for v in cells for ref in iter_refs(v)]
    fetched = _fetch(refs, None)
    budget = inline_budget() - 8 * 1024
    body: list[list[str]] = []
    used = 0
    for label, (_, row) in zip(head.index, head.iterrows(), strict=True):
        cells = [h.esc(label)] + [_value_cell(v, fetched) for v in row]
        size = sum(map(len, cells)) + ROW_CHROME
        if used + size > budget:
            break
        body.append(cells)
        used += size
    more = len(df) - len(body)
    note = h.muted_line(f"{len(df):,} rows \u00d7 {len(df.columns)} columns") + (
        h.muted_line(f"{more:,} more rows not shown") if more else ""
    )
    head_names = [str(df.index.name or "")] + [str(c) for c in df.columns]
    return h.div(h.data_table(head_names, body), note)


# -- progress --------------------------------------------------------------------------------


class NotebookProgress:
    """A live line (spinner, counts, rate, errors, ETA, a bar) updated in place, the
    same status line a single `%vlmrun` shows."""

    def __init__(self, min_interval: float = MIN_INTERVAL) -> None:
        self.min_interval = min_interval
        self._handle: Any = None
        self._last = 0.0
        self._tick = 0

    def _bundle(self, state: Any) -> dict[str, Any]:
        fraction = state.completed / state.total if state.total else 1.0
        self._tick += 1
        tick = None if state.finished else self._tick  # the spinner stops when done
        line = "vlmrun map \u00b7 " + state.line()
        return {"text/plain": line, "text/html": h.status_line(line, tick, fraction)}

    def update(self, state: Any) -> None:
        from IPython.display import display

        now = time.monotonic()
        if self._handle is None:
            self._handle = display(self._bundle(state), raw=True, display_id=True)
            self._last = now
        elif now - self._last >= self.min_interval:
            self._handle.update(self._bundle(state), raw=True)
            self._last = now

    def close(self, state: Any) -> None:
        if self._handle is None:
            self.update(state)
        else:
            self._handle.update(self._bundle(state), raw=True)


__all__ = ["batch_bundle", "frame_html", "NotebookProgress"]
