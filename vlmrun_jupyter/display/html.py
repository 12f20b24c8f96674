"""HTML builders: the one module that writes markup.

Every output is built from the functions here, so the safety rules live in one place:
strings from a model or a server go through `esc()` (the one escaper), attributes
through `attrs()` (no event handlers), links through `link()` (http/https only,
`rel="noopener noreferrer"`), media through `data_url()` (a fixed list of media
types). Styling is inline `style` attributes only, from the constants below, using
JupyterLab's CSS variables with fallbacks so outputs read well on light and dark themes.

Builders take text (escaped here) or HTML that another builder made; a parameter
named `*_html` or `body` is already safe markup.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlsplit

from ..refs import BaseRef

# -- styles (constants: never built from outside strings) -----------------------------------

FONT = "font-family: var(--jp-ui-font-family, system-ui, -apple-system, Segoe UI, sans-serif);"
BOX = (
    f"{FONT} font-size: 13px; line-height: 1.4; color: var(--jp-ui-font-color1, inherit); "
    "max-width: 100%; margin: 2px 0;"
)
BORDER = "border: 1px solid var(--jp-border-color2, rgba(128,128,128,0.35)); border-radius: 6px;"
CARD = f"{BOX} {BORDER} padding: 8px 10px; box-sizing: border-box; overflow-x: auto;"
ERROR_BOX = (
    f"{BOX} {BORDER} border-left: 3px solid #d9534f; padding: 6px 10px; box-sizing: border-box;"
)
MUTED = "color: var(--jp-ui-font-color2, #777); font-size: 12px;"
MONO = (
    "font-family: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, monospace); "
    "font-size: 12px;"
)
PRE = (
    f"{MONO} white-space: pre; overflow-x: auto; margin: 6px 0 0 0; padding: 6px 8px; "
    "background: var(--jp-layout-color2, rgba(128,128,128,0.08)); border-radius: 4px;"
)
MEDIA = "display: block; max-width: 100%; height: auto; border-radius: 4px;"
PAPER = f"display: block; max-width: 100%; height: auto; {BORDER} background: #fff;"
LINK = "color: var(--jp-content-link-color, #1a6fd1); word-break: break-all;"
AUDIO = "width: 100%; max-width: 480px;"
ITALIC = "font-style: italic;"
TEXT = "white-space: pre-wrap; word-break: break-word;"
# The label column takes only what its names need (`width: 1%` in an auto-layout table),
# so media in the value column get the card's full width.
TH = (
    "text-align: left; vertical-align: top; padding: 3px 12px 3px 0; font-weight: 600; "
    "white-space: nowrap; border: none; background: none; width: 1%;"
)
TD = "text-align: left; vertical-align: top; padding: 3px 0; border: none; background: none;"
# `table-layout: auto` overrides JupyterLab's `fixed` (which splits the width equally
# between the label and value columns, so every picture showed at half size).
TABLE = "border-collapse: collapse; border: none; margin: 0; width: 100%; table-layout: auto;"
FOOTER = (
    f"{MUTED} margin-top: 8px; padding-top: 4px; "
    "border-top: 1px solid var(--jp-border-color2, rgba(128,128,128,0.25));"
)
STATUS = "color:#666;font-family:monospace"
# Gallery cells are inline blocks, not CSS grid: JupyterLab's sanitizer (untrusted
# notebooks) keeps display/width/vertical-align but drops grid-template-columns.
CELL = (
    "display: inline-block; vertical-align: top; width: {w}px; max-width: 100%; "
    "margin: 0 8px 8px 0; box-sizing: border-box;"
)
ACCENT = "#4a7bd0"  # one neutral blue that reads on light and dark backgrounds

# Media types a data: URL may carry. Anything else is never put into a src attribute.
DATA_MIME = frozenset(
    {
        "image/jpeg",
        "image/png",
        "video/mp4",
        "video/webm",
        "audio/mpeg",
        "audio/mp4",
        "audio/wav",
        "audio/ogg",
        "audio/webm",
        "audio/flac",
    }
)

DOT = " &middot; "

# -- primitives -------------------------------------------------------------------------------


def esc(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute. NULs are dropped: nothing
    from outside can then forge the placeholders result cards lay out (`\\x00<n>\\x00`)."""
    return html.escape(str(value).replace("\x00", ""), quote=True)


def attrs(**kw: Any) -> str:
    """` name="value"` pairs, escaped; None and False are left out, True is a bare name.
    A trailing underscore is dropped (`class_`), other underscores become dashes."""
    out = []
    for key, value in kw.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")
        if name.lower().startswith("on"):
            raise ValueError("event handler attributes are never emitted")
        out.append(f" {name}" if value is True else f' {name}="{esc(value)}"')
    return "".join(out)


def tag(name: str, content: str = "", **kw: Any) -> str:
    """`<name attrs>content</name>`; content must already be safe HTML."""
    return f"<{name}{attrs(**kw)}>{content}</{name}>"


def div(*parts: str, style: str | None = None) -> str:
    """A block holding already safe HTML."""
    return tag("div", "".join(parts), style=style)


def span(text: Any, style: str | None = None) -> str:
    """Escaped text in a span."""
    return tag("span", esc(text), style=style)


def code(text: Any) -> str:
    """Escaped text as inline code."""
    return tag("code", esc(text))


def bold(text: Any) -> str:
    return tag("b", esc(text))


# -- links and data ---------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def safe_url(url: Any) -> str | None:
    """The URL if it is a plain absolute http(s) URL with a host, else None."""
    if not isinstance(url, str) or not url or len(url) > 4096:
        return None
    url = url.strip()
    if _CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def link(url: Any, text: Any = None) -> str:
    """A safe link, or the escaped text with a note when the URL is not http(s)."""
    good = safe_url(url)
    label = esc(text if text is not None else url)
    if good is None:
        return f"{tag('span', label)} {span('(link not shown: only http/https)', MUTED)}"
    return tag("a", label, href=good, target="_blank", rel="noopener noreferrer", style=LINK)


def data_url(mime: str, data: bytes) -> str:
    """`data:<mime>;base64,...` for an allowed media type."""
    if mime not in DATA_MIME:
        raise ValueError(f"refusing a data: URL of type {mime!r}")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


DOWNLOAD_MIME = "application/octet-stream"  # a download, never a page a browser would show
_EXT = re.compile(r"[A-Za-z0-9]{1,12}")


def download_link(name: str, ext: str, data: bytes) -> str:
    """A link that saves `data` as `<name>.<ext>`: a data: URL of the one inert type (never
    text/html or an image a browser would open), with the `download` attribute."""
    ext = ext if _EXT.fullmatch(ext or "") else "bin"
    href = f"data:{DOWNLOAD_MIME};base64,{base64.b64encode(data).decode('ascii')}"
    label = f"download {name}.{ext} ({human_size(len(data))})"
    a = tag(
        "a", esc(label), href=href, download=f"{name}.{ext}", rel="noopener noreferrer", style=LINK
    )
    return div(a, style=f"{MUTED} margin-top: 2px;")


def cache_file(path: Any, label: str) -> str:
    """Where the artifact is in the cache, as text one click selects (too large to embed)."""
    where = tag("code", esc(path), style=f"{ID} word-break: break-all;", title="the cached file")
    return div(esc(label), where, style=f"{MUTED} margin-top: 2px;")


def with_offer(body: str, offer_html: str) -> str:
    """A ref's output (safe HTML) with the artifact offered under it."""
    return body + offer_html


def b64_len(n: int) -> int:
    """Length of the base64 text for n bytes."""
    return 4 * math.ceil(n / 3)


# -- facts as words ---------------------------------------------------------------------------


def human_size(n: int | float | None) -> str:
    """1023 B, 412 KB, 30.2 MB, 1.4 GB (powers of 1024)."""
    if n is None:
        return "? B"
    n = float(n)
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KB", "MB", "GB", "TB"):
        n /= 1024
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "KB" else f"{n:.1f} {unit}"
    return f"{n:.1f} TB"  # pragma: no cover


def human_duration(seconds: float | None) -> str:
    """12.3 s, 4:05, 1:02:03."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "? s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def plain(ref: BaseRef, *facts: Any) -> str:
    """Deterministic text/plain: `<ImageRef img_a1b2c3 1920x1080 jpeg 412 KB>`."""
    words = [type(ref).__name__, ref.id]
    words += [str(f) for f in facts if f not in (None, "")]
    return "<" + " ".join(words) + ">"


# -- a ref's output: media, caption, frame ----------------------------------------------------


ID = "user-select: all; -webkit-user-select: all; cursor: text;"


def ref_id(value: Any) -> str:
    """An artifact id that one click selects whole, ready to copy."""
    return tag("code", esc(value), style=ID, title="click to select the id, then copy it")


def caption(ref: BaseRef, *facts: Any, note: str = "") -> str:
    """The quiet line under a preview: kind, id (selected whole by a click) and facts."""
    parts = [bold(type(ref).__name__), ref_id(ref.id)]
    parts += [esc(f) for f in facts if f not in (None, "")]
    # each fact keeps its dot, so a narrow gallery cell wraps between facts, never
    # leaving a stray dot at the end of a line
    line = parts[0] + "".join(
        " " + tag("span", "&middot;&nbsp;" + p, style="white-space: nowrap;") for p in parts[1:]
    )
    if note:
        line += " " + span(f"({note})", ITALIC)
    return div(line, style=f"{MUTED} margin-top: 4px;")


def frame(body: str, cap: str = "", *, bordered: bool = False) -> str:
    """The outer box of a ref's output: body (safe HTML) then its caption."""
    return div(body, cap, style=CARD if bordered else BOX)


def note(text: str) -> str:
    """An italic line in place of a preview: `(preview omitted: ...)`."""
    return div(esc(f"({text})"), style=ITALIC)


def omitted() -> str:
    """What stands where a picture did not fit the budget."""
    return note("preview omitted: the inline budget is too small")


def img_tag(
    mime: str, data: bytes, width: int, height: int, alt: str, *, paper: bool = False
) -> str:
    """An <img> carrying its bytes as a data: URL (`paper`: a page on a white sheet)."""
    style = PAPER if paper else MEDIA
    src = data_url(mime, data)
    return f"<img{attrs(src=src, width=width, height=height, alt=alt, style=style)}>"


def player(
    kind: Literal["video", "audio"], mime: str, data: bytes, width: int | None = None
) -> str:
    """`<video>`/`<audio controls>` with `src` on the element itself (JupyterLab's
    sanitizer drops `src` on `<source>` in untrusted notebooks)."""
    style = MEDIA if kind == "video" else AUDIO
    src = data_url(mime, data)
    return tag(kind, controls=True, preload="metadata", src=src, style=style, width=width)


def grid(items: Iterable[str], cell_px: int = 200, columns: int | None = None) -> str:
    """Items side by side in fixed-width cells that wrap with the output's width, or in
    `columns` equal shares of it."""
    if columns:
        width = f"calc({100 / int(columns):.4f}% - 8px)"
        style = CELL.format(w=0).replace("width: 0px", f"width: {width}")
    else:
        style = CELL.format(w=int(cell_px))
    return div(*(div(item, style=style) for item in items), style="line-height: 1.3;")


# The opened view is wider than its gallery cell and drawn above its neighbours.
LARGE_VIEW = (
    "position: relative; z-index: 2; width: 80vw; max-width: 960px; margin-top: 6px; "
    "padding: 4px; background: var(--jp-layout-color0, #fff); box-sizing: border-box; "
    f"{BORDER}"
)


def enlargeable(thumb_html: str, large_html: str) -> str:
    """A thumbnail that a click opens into a larger rendering below it, with no script:
    `<details>`/`<summary>`, which HTML sanitizers keep. Both are safe HTML."""
    summary = tag("summary", thumb_html, style="cursor: zoom-in; list-style: none;")
    return tag("details", summary + div(large_html, style=LARGE_VIEW))


def sized(body: str, width: int) -> str:
    """Safe HTML (a ref's output) shown `width` CSS pixels wide at most: its media scale
    with it (they are `max-width: 100%`)."""
    return div(body, style=f"max-width: {int(width)}px;")


def heading(text: Any, gap_px: int = 4) -> str:
    """A bold title line above a body."""
    return div(esc(text), style=f"font-weight: 600; margin-bottom: {int(gap_px)}px;")


def page_cell(picture_html: str, label: Any) -> str:
    """A document page in a grid cell, its number under it."""
    return div(picture_html, div(esc(label), style=MUTED))


def figure(picture_html: str, label: Any) -> str:
    """A picture (an array's heatmap) with a small label under it."""
    under = div(esc(label), style="opacity: 0.7; font-size: 11px;")
    return div(picture_html, under, style="margin-top: 6px; max-width: 512px;")


def stats(values: dict[str, str]) -> str:
    """`name value` pairs on one line (an array's min/max/mean)."""
    cells = (
        tag("span", f"{span(k, 'opacity: 0.7;')} {span(v, MONO)}", style="margin-right: 14px;")
        for k, v in values.items()
    )
    return div(*cells)


def pre(text: Any) -> str:
    """Preformatted, escaped text (numpy's printout)."""
    return tag("pre", esc(text), style=PRE)


# -- result cards -----------------------------------------------------------------------------


def muted(text: Any) -> str:
    return span(text, MUTED)


def muted_line(text: Any) -> str:
    return div(esc(text), style=MUTED)


def mono(text: Any) -> str:
    return span(text, MONO)


def text_block(text: str, more: int = 0) -> str:
    """Free text kept as written (newlines too); `more` characters cut off are counted."""
    out = span(text, TEXT)
    return out + (" " + muted(f"... ({more:,} more characters)") if more > 0 else "")


def table(rows: Iterable[tuple[Any, str]], more: int = 0) -> str:
    """Field names (escaped) beside their values (safe HTML); `more` fields left out."""
    trs = [
        tag("tr", tag("th", esc(name), style=TH) + tag("td", value, style=TD))
        for name, value in rows
    ]
    if more > 0:
        trs.append(
            tag("tr", tag("td", esc(f"... {more} more fields"), colspan=2, style=f"{TD} {MUTED}"))
        )
    if not trs:
        return muted("(empty)")
    return tag("table", "".join(trs), style=TABLE)


GRID_CELL = (
    "text-align: left; vertical-align: top; padding: 4px 6px; "
    "border-top: 1px solid var(--jp-border-color2, rgba(128,128,128,0.25));"
)


def data_table(head: Iterable[Any], rows: Iterable[Iterable[str]]) -> str:
    """Rows under named columns (a batch's page, a DataFrame's head): the names escaped
    here, the cells already safe HTML."""

    def tr(cells: Iterable[str], cell: str) -> str:
        return tag("tr", "".join(tag(cell, c, style=GRID_CELL) for c in cells))

    body = tr((esc(h) for h in head), "th") + "".join(tr(r, "td") for r in rows)
    return tag("table", body, style=f"{TABLE} font-size: 12px;")


def ordered_list(items_html: Iterable[str]) -> str:
    items = "".join(tag("li", item, style="margin: 2px 0;") for item in items_html)
    return tag("ol", items, style="margin: 0; padding-left: 20px;")


def field_line(name: Any, value_html: str) -> str:
    """`name value` under a gallery picture."""
    return div(f"{muted(name)} {value_html}")


def gallery_cell(pictures_html: str, caption_html: str) -> str:
    return div(pictures_html, div(caption_html, style="font-size: 12px; margin-top: 2px;"))


def chip(label: Any) -> str:
    """A ref shown by name where there is no room for its preview."""
    return span(label, f"{MUTED} {MONO}") + muted(" (no room for a preview)")


def footer(parts_html: Iterable[str]) -> str:
    """The quiet line under a run's card: model, session, usage, latency."""
    return div(DOT.join(parts_html), style=FOOTER)


def card(body: str, title: Any = "", foot: str = "") -> str:
    """A result card: an optional title, the body and footer (safe HTML)."""
    return div(heading(title, 6) if title else "", body, foot, style=CARD)


def notice(text: Any) -> str:
    """A one-line box in place of a card (a result too large to show)."""
    return div(esc(text), style=f"{BOX} {MUTED}")


def error_card(title: Any, message: Any, hint: Any, who: Any = None) -> str:
    """What happened (title, message) and what to do (hint), for a failed display."""
    head = bold(title) + (" " + tag("code", esc(who), style=MUTED) if who else "")
    parts = [div(head)]
    if message:
        parts.append(div(esc(message), style="margin-top: 2px;"))
    if hint:
        parts.append(div(esc(hint), style=f"{MUTED} margin-top: 2px;"))
    return div(*parts, style=ERROR_BOX)


SPINNER = (
    "display: inline-block; width: 9px; height: 9px; margin-right: 6px; vertical-align: -1px; "
    "border: 2px solid var(--jp-border-color2, rgba(128,128,128,0.3)); "
    f"border-top-color: {ACCENT}; border-radius: 50%; transform: rotate({{deg}}deg);"
)
BAR = "width: 120px; height: 8px; margin: 0 6px; vertical-align: middle;"


def status_line(text: Any, tick: int | None = None, fraction: float | None = None) -> str:
    """The one-line status a waiting run shows (the magic's progress): a CSS spinner
    turned a step per update (`tick`; no animation or script needed), the text, and a
    progress bar when the share done is known."""
    spin = tag("span", style=SPINNER.format(deg=(tick * 45) % 360)) if tick is not None else ""
    bar = ""
    if fraction is not None:
        value = f"{max(0.0, min(1.0, fraction)):.3f}"
        bar = tag("progress", esc(f"{float(value):.0%}"), value=value, max="1", style=BAR)
    return tag("span", spin + esc(text) + bar, style=STATUS)
