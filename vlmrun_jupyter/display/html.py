"""Shared HTML helpers: escaping, safe links, data URLs, the quiet frame every output uses.

Every renderer builds its HTML through these helpers so the safety rules live in one
place: strings from a model or a server go through `esc()`, links through `link()`
(http/https only, `rel="noopener noreferrer"`), media through `data_url()` (a fixed
list of media types). Styling is inline `style` attributes only, using JupyterLab's
CSS variables with fallbacks so outputs read well on light and dark themes.
"""

from __future__ import annotations

import base64
import html
import math
import re
from typing import Any
from urllib.parse import urlsplit

# -- styles (constants: never built from outside strings) -----------------------------------

FONT = "font-family: var(--jp-ui-font-family, system-ui, -apple-system, 'Segoe UI', sans-serif);"
BOX = (
    f"{FONT} font-size: 13px; line-height: 1.4; color: var(--jp-ui-font-color1, inherit); "
    "max-width: 100%; margin: 2px 0;"
)
BORDER = "border: 1px solid var(--jp-border-color2, rgba(128,128,128,0.35)); border-radius: 6px;"
CARD = f"{BOX} {BORDER} padding: 8px 10px; box-sizing: border-box; overflow-x: auto;"
MUTED = "color: var(--jp-ui-font-color2, #777); font-size: 12px;"
MONO = "font-family: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, monospace); font-size: 12px;"
PRE = (
    f"{MONO} white-space: pre; overflow-x: auto; margin: 6px 0 0 0; padding: 6px 8px; "
    "background: var(--jp-layout-color2, rgba(128,128,128,0.08)); border-radius: 4px;"
)
MEDIA = "display: block; max-width: 100%; height: auto; border-radius: 4px;"
# Gallery cells are inline blocks, not CSS grid: JupyterLab's sanitizer (untrusted
# notebooks) keeps display/width/vertical-align but drops grid-template-columns.
CELL = "display: inline-block; vertical-align: top; width: {w}px; max-width: 100%; margin: 0 8px 8px 0; box-sizing: border-box;"
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


def esc(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


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
        return (
            f'<span>{label}</span> <span style="{MUTED}">(link not shown: only http/https)</span>'
        )
    return tag(
        "a",
        label,
        href=good,
        target="_blank",
        rel="noopener noreferrer",
        style="color: var(--jp-content-link-color, #1a6fd1); word-break: break-all;",
    )


def data_url(mime: str, data: bytes) -> str:
    """`data:<mime>;base64,...` for an allowed media type."""
    if mime not in DATA_MIME:
        raise ValueError(f"refusing a data: URL of type {mime!r}")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def b64_len(n: int) -> int:
    """Length of the base64 text for n bytes."""
    return 4 * math.ceil(n / 3)


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


def plain(ref: Any, *facts: Any) -> str:
    """Deterministic text/plain: `<ImageRef img_a1b2c3 1920x1080 jpeg 412 KB>`."""
    words = [type(ref).__name__, str(getattr(ref, "id", "?"))]
    words += [str(f) for f in facts if f not in (None, "")]
    return "<" + " ".join(words) + ">"


def caption(ref: Any, *facts: Any, note: str = "") -> str:
    """The quiet line under a preview: kind, id and facts (all escaped)."""
    parts = [f"<b>{esc(type(ref).__name__)}</b>", f"<code>{esc(getattr(ref, 'id', '?'))}</code>"]
    parts += [esc(f) for f in facts if f not in (None, "")]
    line = " &middot; ".join(parts)
    if note:
        line += f' <span style="font-style: italic;">({esc(note)})</span>'
    return f'<div style="{MUTED} margin-top: 4px;">{line}</div>'


def frame(body: str, cap: str = "", *, bordered: bool = False) -> str:
    """The outer box of a ref's output: body (safe HTML) then its caption."""
    return f'<div style="{CARD if bordered else BOX}">{body}{cap}</div>'


def img_tag(mime: str, data: bytes, width: int, height: int, alt: str, style: str = MEDIA) -> str:
    """An <img> carrying its bytes as a data: URL."""
    return (
        f"<img{attrs(src=data_url(mime, data), width=width, height=height, alt=alt, style=style)}>"
    )


def grid(items: list[str], cell_px: int = 200) -> str:
    """Items side by side in fixed-width cells that wrap with the output's width."""
    style = CELL.format(w=int(cell_px))
    cells = "".join(f'<div style="{style}">{item}</div>' for item in items)
    return f'<div style="line-height: 1.3;">{cells}</div>'
