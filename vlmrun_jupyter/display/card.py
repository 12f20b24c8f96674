"""Result cards and galleries.

A typed result (a pydantic model, a list or dict holding refs) renders as a card:
field names, values escaped, refs rendered inline; a list of refs, or of models
that hold refs (key frames with a timestamp and a description), as a gallery grid
with captions. A `Completion` / `Execution` renders as its result's card with the
model, session or execution id, usage and latency in a quiet footer.

The whole card stays within one inline budget: the text is laid out first with a
placeholder per ref, then what is left is shared among the refs (an inline ref
weighs four gallery thumbnails). Refs are fetched concurrently (each client's
`fetch_all`) before rendering, which is sequential (pdfium and friends are not
thread-safe). Any ref-like value counts as a ref (`refs.coerce_ref`: ours, or the
official SDK's ref models by their id).

In a live kernel a card whose refs have live viewers (3D, document, video) also gets a
widget view (`livecard`): the same card plus an "open" offer per such ref, the viewer
made only when asked; text/html stays the static card.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..refs import BaseRef, coerce_ref, iter_refs
from ..session import client_for
from . import html as h
from .budget import Budget, Bundle, bundle_size, default_budget
from .errors import error_bundle
from .kernel import in_kernel
from .pipeline import filter_bundle, is_rendered, ref_bundle

log = logging.getLogger(__name__)

MAX_DEPTH = 6
MAX_ITEMS = 100  # list items / fields shown
MAX_TEXT = 2000  # characters of one string value
CAPTION_TEXT = 300
INLINE_WEIGHT = 4
MIN_SHARE = 12 * 1024  # below this a ref shows as a chip instead of a preview
MAX_WORKERS = 8
THUMB_EDGE = 360
INLINE_EDGE = 960
LARGE_EDGE = 1280  # a gallery thumbnail's larger view, as in `display.gallery`
PLACEHOLDER = re.compile("\x00(\\d+)\x00")  # h.esc drops NULs: text cannot forge one


def _fields(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, BaseModel):
        names = list(type(value).model_fields)
        items = [(n, getattr(value, n, None)) for n in names]
        items += list((value.model_extra or {}).items())
        return items
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    return []


def _has_refs(value: Any) -> bool:
    if coerce_ref(value) is not None:
        return True
    return any(True for _ in iter_refs(value)) or any(
        coerce_ref(v) is not None for _, v in _fields(value)
    )


@dataclass
class Layout:
    """Text laid out with one placeholder per ref slot; slots are rendered later."""

    slots: list[tuple[BaseRef, bool]] = field(default_factory=list)

    def slot(self, ref: BaseRef, thumb: bool) -> str:
        self.slots.append((ref, thumb))
        return f"\x00{len(self.slots) - 1}\x00"

    # -- values ---------------------------------------------------------------------------
    def value(self, v: Any, depth: int = 0) -> str:
        ref = coerce_ref(v)
        if ref is not None:
            return self.slot(ref, thumb=False)
        if v is None:
            return h.muted("None")
        if isinstance(v, bool | int | float):
            return h.mono(v)
        if isinstance(v, str):
            return self.text(v, MAX_TEXT)
        if depth >= MAX_DEPTH:
            return self.text(_safe_repr(v), 200)
        if isinstance(v, BaseModel | dict):
            return self.table(v, depth + 1)
        if isinstance(v, list | tuple):
            return self.sequence(list(v), depth + 1)
        return self.text(_safe_repr(v), MAX_TEXT)

    def text(self, s: str, limit: int) -> str:
        return h.text_block(s[:limit], more=len(s) - limit)

    def table(self, v: Any, depth: int) -> str:
        items = _fields(v)
        rows = [(name, self.value(val, depth)) for name, val in items[:MAX_ITEMS]]
        return h.table(rows, more=len(items) - MAX_ITEMS)

    def sequence(self, items: list[Any], depth: int) -> str:
        if not items:
            return h.muted("[]")
        shown, extra = items[:MAX_ITEMS], len(items) - MAX_ITEMS
        more = h.muted_line(f"... {extra:,} more items") if extra > 0 else ""
        refs = [coerce_ref(i) for i in shown]
        if all(r is not None for r in refs):
            return h.grid([self.cell([r], "") for r in refs if r is not None], 200) + more
        if all(isinstance(i, BaseModel | dict) and _has_refs(i) for i in shown):
            return h.grid([self.gallery_item(i, depth) for i in shown], 220) + more
        if all(isinstance(i, str | int | float | bool) or i is None for i in shown):
            return self.text(", ".join(str(i) for i in shown), MAX_TEXT) + more
        return h.ordered_list(self.value(i, depth) for i in shown) + more

    def gallery_item(self, item: Any, depth: int) -> str:
        refs, lines = [], []
        for name, val in _fields(item):
            r = coerce_ref(val)
            if r is not None:
                refs.append(r)
            elif isinstance(val, float) and "time" in name.lower():
                lines.append(h.field_line(name, h.human_duration(val)))
            elif isinstance(val, str | int | float | bool) or val is None:
                lines.append(h.field_line(name, self.text(str(val), CAPTION_TEXT)))
            else:  # nested refs still get slots
                lines.append(h.field_line(name, self.value(val, depth + 1)))
        return self.cell(refs, "".join(lines))

    def cell(self, refs: list[BaseRef], cap: str) -> str:
        return h.gallery_cell("".join(self.slot(r, thumb=True) for r in refs), cap)


def _safe_repr(v: Any, limit: int = 4000) -> str:
    try:
        text = repr(v)
    except Exception:
        text = f"<{type(v).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- runs (Completion / Execution) --------------------------------------------------------------


def _is_run(obj: Any) -> bool:
    return hasattr(obj, "result") and hasattr(obj, "latency_s") and not isinstance(obj, BaseModel)


def _is_time(key: str) -> bool:
    """A usage entry that is a duration (`duration_seconds`): the footer's latency shows it."""
    k = key.lower()
    return "duration" in k or k.endswith(("seconds", "_s", "_ms"))


def _footer(run: Any) -> str:
    parts = []
    model = getattr(run, "model", None)
    if model:
        parts.append(f"model {h.code(model)}")
    sid = getattr(run, "session_id", None)
    if sid:
        parts.append(f"session {h.code(sid)}")
    elif getattr(run, "id", None):
        name = getattr(run, "name", None)
        parts.append(f"execution {h.code(run.id)}" + (f" ({h.esc(name)})" if name else ""))
    status = getattr(run, "status", None)
    if status:
        parts.append(h.esc(status))
    usage = getattr(run, "usage", None)
    if isinstance(usage, dict) and usage:
        bits = [
            f"{h.esc(k).replace('_', ' ')} {h.esc(v)}"
            for k, v in list(usage.items())[:8]
            if isinstance(v, int | float | str) and not _is_time(k)  # the latency says it
        ]
        if bits:
            parts.append(", ".join(bits))
    lat = getattr(run, "latency_s", None)
    if isinstance(lat, int | float) and lat == lat:  # NaN: unknown (e.g. an SDK object)
        parts.append(f"{lat:.2f} s")
    return h.footer(parts)


# -- fetching and filling the slots -------------------------------------------------------------


def _fetch(refs: list[BaseRef]) -> dict[int, Path | BaseException]:
    """Concurrent fetch, grouped by client: {id(ref): path or the exception}."""
    out: dict[int, Path | BaseException] = {}
    groups: dict[int, tuple[Any, list[BaseRef]]] = {}
    for ref in refs:
        try:
            client = client_for(ref)
        except Exception as exc:
            out[id(ref)] = exc
            continue
        groups.setdefault(id(client), (client, []))[1].append(ref)
    for client, group in groups.values():
        try:
            results = client.fetch_all(group, max_workers=MAX_WORKERS, return_exceptions=True)
        except Exception as exc:
            results = [exc] * len(group)
        for ref, res in zip(group, results, strict=False):
            out[id(ref)] = res
    return out


def _chip(ref: BaseRef) -> str:
    return h.chip(f"{type(ref).__name__} {ref.id}")


def _fill(html: str, layout: Layout, room: int) -> str:
    """Render every slot within its share of `room` bytes and substitute it. When there
    is not enough room for all, the first slots get previews and the rest chips."""
    slots = layout.slots
    if not slots:
        return html
    weights = [1 if thumb else INLINE_WEIGHT for _, thumb in slots]
    room = max(0, room)
    shown, total = 0, 0
    for w in weights:  # the longest prefix that still gets MIN_SHARE per unit of weight
        if (total + w) * MIN_SHARE > room:
            break
        shown, total = shown + 1, total + w
    unit = room // max(1, total)
    budgets = [
        Budget(
            unit * w if i < shown else 0,
            max_edge=THUMB_EDGE if thumb else INLINE_EDGE,
            html_only=True,
            thumbnail=thumb,
        )
        for i, ((_, thumb), w) in enumerate(zip(slots, weights, strict=True))
    ]
    views = [_views(b) for b in budgets]
    wanted = [
        ref
        for (ref, _), vs in zip(slots, views, strict=True)
        if any(not is_rendered(ref, v) for v in vs)
    ]
    unique = list({id(r): r for r in wanted}.values())
    paths = _fetch(unique) if unique else {}
    rendered = []
    for (ref, _), vs in zip(slots, views, strict=True):
        found = [ref_bundle(ref, budget=v, path=paths.get(id(ref)))[0].get("text/html") for v in vs]
        if not found or not found[0]:
            rendered.append(_chip(ref))
        elif len(found) == 2 and found[1]:
            rendered.append(h.enlargeable(found[0], found[1]))
        else:
            rendered.append(found[0])
    return PLACEHOLDER.sub(lambda m: rendered[int(m.group(1))], html)


def _views(b: Budget) -> list[Budget]:
    """The renderings a slot's budget pays for: none (a chip), the inline preview, or a
    gallery thumbnail plus the larger view a click on it opens (as `display.gallery`
    does), when the share leaves the thumbnail at least `MIN_SHARE`."""
    if b.bytes < MIN_SHARE:
        return []
    if not b.thumbnail or b.bytes < 3 * MIN_SHARE:
        return [b]
    thumb = b.bytes // 3
    large = Budget(b.bytes - thumb, max_edge=LARGE_EDGE, html_only=True)
    return [b.shrink(thumb), large]


def _card(obj: Any, budget: Budget) -> Bundle:
    ref = coerce_ref(obj)
    if ref is not None:
        return ref_bundle(ref, budget=budget)
    run = obj if _is_run(obj) else None
    value = run.result if run is not None else obj
    layout = Layout()
    if isinstance(value, BaseModel | dict):
        body = layout.table(value, 0)
    else:
        body = layout.value(value, 0)
    title = type(value).__name__ if isinstance(value, BaseModel) else ""
    html = h.card(body, title, _footer(run) if run is not None else "")
    plain = _safe_repr(obj) if run is not None else _safe_repr(value)
    if run is not None and value is not None and not isinstance(value, str):
        plain += "\n" + _safe_repr(value)
    skeleton = bundle_size({"text/html": PLACEHOLDER.sub("", html), "text/plain": plain})
    if skeleton > budget.bytes:
        note = h.notice(f"(this result is too large to show inline: {skeleton:,} bytes)")
        return {"text/plain": plain[: budget.bytes // 4], "text/html": note}, {}
    room = budget.bytes - skeleton - 1024 - 64 * len(layout.slots)
    data = {"text/plain": plain, "text/html": _fill(html, layout, room)}
    if bundle_size(data) > budget.bytes:  # a renderer overshot: previews become chips
        data["text/html"] = _fill(html, layout, 0)
    if layout.slots and in_kernel():  # the refs' live viewers, offered on request
        from .livecard import with_viewers

        data = with_viewers(data, [ref for ref, _ in layout.slots])
    return data, {}


def result_bundle(
    obj: Any,
    include: Container[str] | None = None,
    exclude: Container[str] | None = None,
    *,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """The MIME dict of a result card (a model, list, Completion or Execution holding
    refs); never raises. Unlike `ref_bundle` it has no metadata, so it is a plain dict."""
    try:
        bundle = _card(obj, budget or default_budget())
    except Exception as exc:
        log.debug("result card failed", exc_info=exc)
        try:
            bundle = ({**error_bundle(exc), "text/plain": _safe_repr(obj)}, {})
        except Exception:
            bundle = ({"text/plain": f"<{type(obj).__name__}>"}, {})
    return filter_bundle(bundle, include, exclude)[0]
