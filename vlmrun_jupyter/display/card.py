"""Result cards and galleries.

A typed result (a pydantic model, a list or dict holding refs) renders as a card:
field names, values escaped, refs rendered inline; a list of refs, or of models
that hold refs (key frames with a timestamp and a description), as a gallery grid
with captions. A `Completion` / `Execution` renders as its result's card with the
model, session or execution id, usage and latency in a quiet footer.

The whole card stays within one inline budget: the text is laid out first with a
placeholder per ref, then what is left is shared among the refs (an inline ref
weighs four gallery thumbnails). Refs are fetched concurrently (`fetch_all`) before
rendering, which is sequential (pdfium and friends are not thread-safe).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..refs import BaseRef, iter_refs, make_ref
from . import _memo_get, _memo_key, ref_bundle
from .budget import Budget, bundle_size, default_budget
from .errors import error_bundle
from .html import BOX, CARD, MONO, MUTED, esc, grid, human_duration

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

TH = (
    "text-align: left; vertical-align: top; padding: 3px 12px 3px 0; font-weight: 600; "
    "white-space: nowrap; border: none; background: none;"
)
TD = "text-align: left; vertical-align: top; padding: 3px 0; border: none; background: none;"
TABLE = "border-collapse: collapse; border: none; margin: 0; width: 100%;"
_REF_ID = re.compile(r"^[a-z]+_\w{6}$", re.ASCII)


def t(value: Any) -> str:
    """Escape text from a model or server (and drop NULs, which mark our placeholders)."""
    return esc(str(value).replace("\x00", ""))


def as_ref(value: Any) -> BaseRef | None:
    """Ours as is; a foreign ref model (e.g. the official SDK's ImageRef) by its id."""
    if isinstance(value, BaseRef):
        return value
    if isinstance(value, BaseModel) and type(value).__name__.endswith("Ref"):
        object_id = getattr(value, "id", None)
        if isinstance(object_id, str) and _REF_ID.match(object_id):
            try:
                return make_ref(object_id)
            except ValueError:
                return None
    return None


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
    if as_ref(value) is not None:
        return True
    return any(True for _ in iter_refs(value)) or any(
        as_ref(v) is not None for _, v in _fields(value)
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
        ref = as_ref(v)
        if ref is not None:
            return self.slot(ref, thumb=False)
        if v is None:
            return f'<span style="{MUTED}">None</span>'
        if isinstance(v, bool | int | float):
            return f'<span style="{MONO}">{t(v)}</span>'
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
        more = ""
        if len(s) > limit:
            more = f' <span style="{MUTED}">... ({len(s) - limit:,} more characters)</span>'
            s = s[:limit]
        return f'<span style="white-space: pre-wrap; word-break: break-word;">{t(s)}</span>{more}'

    def table(self, v: Any, depth: int) -> str:
        items = _fields(v)
        rows = [
            f'<tr><th style="{TH}">{t(name)}</th><td style="{TD}">{self.value(val, depth)}</td></tr>'
            for name, val in items[:MAX_ITEMS]
        ]
        if len(items) > MAX_ITEMS:
            rows.append(
                f'<tr><td colspan="2" style="{TD} {MUTED}">... {len(items) - MAX_ITEMS} more fields</td></tr>'
            )
        if not rows:
            return f'<span style="{MUTED}">(empty)</span>'
        return f'<table style="{TABLE}">{"".join(rows)}</table>'

    def sequence(self, items: list[Any], depth: int) -> str:
        if not items:
            return f'<span style="{MUTED}">[]</span>'
        shown, extra = items[:MAX_ITEMS], len(items) - MAX_ITEMS
        more = f'<div style="{MUTED}">... {extra:,} more items</div>' if extra > 0 else ""
        if all(as_ref(i) is not None for i in shown):
            cells = [self.cell([as_ref(i)], "") for i in shown]  # type: ignore[list-item]
            return grid(cells, 200) + more
        if all(isinstance(i, BaseModel | dict) and _has_refs(i) for i in shown):
            return grid([self.gallery_item(i, depth) for i in shown], 220) + more
        if all(isinstance(i, str | int | float | bool) or i is None for i in shown):
            return self.text(", ".join(str(i) for i in shown), MAX_TEXT) + more
        rows = "".join(f'<li style="margin: 2px 0;">{self.value(i, depth)}</li>' for i in shown)
        return f'<ol style="margin: 0; padding-left: 20px;">{rows}</ol>{more}'

    def gallery_item(self, item: Any, depth: int) -> str:
        refs, rest = [], []
        for name, val in _fields(item):
            r = as_ref(val)
            if r is not None:
                refs.append(r)
            else:
                rest.append((name, val))
        lines = []
        for name, val in rest:
            if isinstance(val, float) and "time" in name.lower():
                shown = f"{human_duration(val)}"
            elif isinstance(val, str | int | float | bool) or val is None:
                shown = self.text(str(val), CAPTION_TEXT)
            else:
                inner = self.value(val, depth + 1)  # nested refs still get slots
                lines.append(f'<div><span style="{MUTED}">{t(name)}</span> {inner}</div>')
                continue
            lines.append(f'<div><span style="{MUTED}">{t(name)}</span> {shown}</div>')
        return self.cell(refs, "".join(lines))

    def cell(self, refs: list[BaseRef], cap: str) -> str:
        pics = "".join(self.slot(r, thumb=True) for r in refs)
        return f'<div>{pics}<div style="font-size: 12px; margin-top: 2px;">{cap}</div></div>'


def _safe_repr(v: Any, limit: int = 4000) -> str:
    try:
        text = repr(v)
    except Exception:
        text = f"<{type(v).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- runs (Completion / Execution) --------------------------------------------------------------


def _is_run(obj: Any) -> bool:
    return hasattr(obj, "result") and hasattr(obj, "latency_s") and not isinstance(obj, BaseModel)


def _footer(run: Any) -> str:
    parts = []
    model = getattr(run, "model", None)
    if model:
        parts.append(f"model <code>{t(model)}</code>")
    sid = getattr(run, "session_id", None)
    if sid:
        parts.append(f"session <code>{t(sid)}</code>")
    elif getattr(run, "id", None):
        name = getattr(run, "name", None)
        parts.append(f"execution <code>{t(run.id)}</code>" + (f" ({t(name)})" if name else ""))
    status = getattr(run, "status", None)
    if status:
        parts.append(t(status))
    usage = getattr(run, "usage", None)
    if isinstance(usage, dict) and usage:
        bits = [
            f"{t(k).replace('_', ' ')} {t(v)}"
            for k, v in list(usage.items())[:8]
            if isinstance(v, int | float | str)
        ]
        if bits:
            parts.append(", ".join(bits))
    lat = getattr(run, "latency_s", None)
    if isinstance(lat, int | float) and lat == lat:  # NaN: unknown (e.g. an SDK object)
        parts.append(f"{lat:.2f} s")
    body = " &middot; ".join(parts)
    return (
        f'<div style="{MUTED} margin-top: 8px; padding-top: 4px; '
        f'border-top: 1px solid var(--jp-border-color2, rgba(128,128,128,0.25));">{body}</div>'
    )


# -- fetching and filling the slots -------------------------------------------------------------


def _fetch(refs: list[BaseRef]) -> dict[int, Path | BaseException]:
    """Concurrent fetch, grouped by client: {id(ref): path or the exception}."""
    out: dict[int, Path | BaseException] = {}
    groups: dict[int, tuple[Any, list[BaseRef]]] = {}
    for ref in refs:
        client = getattr(ref, "_client", None)
        if client is None:
            try:
                from ..client import default_client

                client = default_client()
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
    return (
        f'<span style="{MUTED} {MONO}">{t(type(ref).__name__)} {t(ref.id)}</span>'
        f'<span style="{MUTED}"> (no room for a preview)</span>'
    )


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
    wanted = [
        ref
        for (ref, _), b in zip(slots, budgets, strict=True)
        if b.bytes >= MIN_SHARE and _memo_get(ref, _memo_key(ref, b)) is None
    ]
    unique = list({id(r): r for r in wanted}.values())
    paths = _fetch(unique) if unique else {}
    rendered = []
    for (ref, _), b in zip(slots, budgets, strict=True):
        if b.bytes < MIN_SHARE:
            rendered.append(_chip(ref))
            continue
        data, _md = ref_bundle(ref, budget=b, path=paths.get(id(ref)))
        rendered.append(data.get("text/html") or _chip(ref))
    return re.sub("\x00(\\d+)\x00", lambda m: rendered[int(m.group(1))], html)


def _card(obj: Any, budget: Budget) -> tuple[dict[str, Any], dict[str, Any]]:
    ref = as_ref(obj)
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
    head = f'<div style="font-weight: 600; margin-bottom: 6px;">{t(title)}</div>' if title else ""
    foot = _footer(run) if run is not None else ""
    html = f'<div style="{CARD}">{head}{body}{foot}</div>'
    plain = _safe_repr(obj) if run is not None else _safe_repr(value)
    if run is not None and value is not None and not isinstance(value, str):
        plain += "\n" + _safe_repr(value)
    skeleton = bundle_size({"text/html": re.sub("\x00\\d+\x00", "", html), "text/plain": plain})
    if skeleton > budget.bytes:
        note = f'<div style="{BOX} {MUTED}">(this result is too large to show inline: {skeleton:,} bytes)</div>'
        return {"text/plain": plain[: budget.bytes // 4], "text/html": note}, {}
    room = budget.bytes - skeleton - 1024 - 64 * len(layout.slots)
    data = {"text/plain": plain, "text/html": _fill(html, layout, room)}
    if bundle_size(data) > budget.bytes:  # a renderer overshot: previews become chips
        data["text/html"] = _fill(html, layout, 0)
    return data, {}


def result_bundle(
    obj: Any, include: Any = None, exclude: Any = None, *, budget: Budget | None = None
) -> dict[str, Any]:
    """The MIME dict for a result (cards carry no metadata); never raises."""
    from . import _filter

    try:
        bundle = _card(obj, budget or default_budget())
    except Exception as exc:
        log.debug("result card failed", exc_info=exc)
        try:
            bundle = ({**error_bundle(exc), "text/plain": _safe_repr(obj)}, {})
        except Exception:
            bundle = ({"text/plain": f"<{type(obj).__name__}>"}, {})
    return _filter(bundle, include, exclude)[0]
