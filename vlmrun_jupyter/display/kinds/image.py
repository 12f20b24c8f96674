"""Images: a JPEG (PNG when there is transparency), long edge <= 1280 px, within budget.

`encode_fit()` is also what every other renderer uses for its pictures (contact
sheets, waveforms, PDF pages, heatmaps, gallery thumbnails): it steps quality and
then size down until the encoded bytes fit.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from .budget import Budget
from .html import caption, frame, human_size, img_tag, plain

QUALITIES = (85, 72, 60, 45)
MIN_EDGE = 48


def open_image(path: Path, max_edge: int = 1280) -> tuple[Image.Image, str, tuple[int, int]]:
    """(image oriented upright and roughly downscaled, format name, original size)."""
    im = Image.open(path)
    fmt = (im.format or "image").lower()
    size = im.size
    if fmt == "jpeg":
        im.draft("RGB", (max_edge, max_edge))  # decode at a reduced scale: fast for big JPEGs
    im.load()
    im = ImageOps.exif_transpose(im)
    return im, fmt, size


def has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa") or (im.mode == "P" and "transparency" in im.info)


def displayable(im: Image.Image) -> Image.Image:
    """RGB or RGBA, whatever came in (16-bit and float images are stretched to 8 bits)."""
    if im.mode in ("RGB", "RGBA"):
        return im
    if has_alpha(im):
        return im.convert("RGBA")
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(im, dtype=np.float64)
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        scaled = np.clip((a - lo) / ((hi - lo) or 1.0) * 255, 0, 255)
        return Image.fromarray(np.nan_to_num(scaled).astype(np.uint8), "L").convert("RGB")
    return im.convert("RGB")


def _encode(im: Image.Image, fmt: str, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        im.save(buf, "PNG", compress_level=6)
    else:
        im.save(buf, "JPEG", quality=quality, optimize=True, progressive=False)
    return buf.getvalue()


def encode_fit(
    im: Image.Image, max_bytes: int, max_edge: int = 1280, *, keep_png: bool = False
) -> tuple[str, bytes, int, int] | None:
    """Encode so the bytes fit `max_bytes`: (mime, data, width, height), or None if not
    even a tiny version fits. PNG when the image has alpha (or `keep_png`), else JPEG."""
    im = displayable(im)
    alpha = im.mode == "RGBA"
    edge = min(max_edge, max(im.size))
    current = im
    while edge >= MIN_EDGE:
        if max(current.size) > edge:
            current = current.copy()
            current.thumbnail((edge, edge), Image.Resampling.LANCZOS, reducing_gap=3.0)
        w, h = current.size
        if alpha or keep_png:
            data = _encode(current, "png")
            if len(data) <= max_bytes:
                return "image/png", data, w, h
            quant = current.quantize(
                256, method=Image.Quantize.FASTOCTREE if alpha else Image.Quantize.MEDIANCUT
            )
            data = _encode(quant, "png")
            if len(data) <= max_bytes:
                return "image/png", data, w, h
        else:
            for q in QUALITIES:
                data = _encode(current, "jpeg", q)
                if len(data) <= max_bytes:
                    return "image/jpeg", data, w, h
        edge = int(edge * 0.7)
    return None


def picture(im: Image.Image, max_bytes: int, max_edge: int, alt: str, **kw: Any) -> str:
    """An <img> of `im` within `max_bytes` raw bytes, or a short note if nothing fits."""
    enc = encode_fit(im, max_bytes, max_edge, **kw)
    if enc is None:
        return '<div style="font-style: italic;">(preview omitted: the inline budget is too small)</div>'
    mime, data, w, h = enc
    return img_tag(mime, data, w, h, alt)


def render(ref: Any, path: Path, budget: Budget) -> tuple[dict[str, Any], dict[str, Any]]:
    """image/jpeg|png + HTML (the same picture) + text/plain."""
    im, fmt, (W, H) = open_image(path, budget.max_edge)
    size = path.stat().st_size
    facts = (f"{W}x{H}", fmt, human_size(size))
    copies = 1 if budget.html_only else 2  # the picture sits in image/* and in the HTML
    enc = encode_fit(im, budget.media(copies), budget.max_edge)
    text = plain(ref, *facts)
    if enc is None:
        body = '<div style="font-style: italic;">(preview omitted: the inline budget is too small)</div>'
        return {"text/plain": text, "text/html": frame(body, caption(ref, *facts))}, {}
    mime, data, w, h = enc
    note = f"shown at {w}x{h}" if (w, h) != (W, H) and not budget.thumbnail else ""
    cap = caption(ref, f"{W}x{H}") if budget.thumbnail else caption(ref, *facts, note=note)
    html = frame(img_tag(mime, data, w, h, alt=str(ref.id)), cap)
    out: dict[str, Any] = {"text/plain": text, "text/html": html}
    md: dict[str, Any] = {}
    if not budget.html_only:
        import base64

        out[mime] = base64.b64encode(data).decode("ascii")
        md[mime] = {"width": w, "height": h}
    return out, md
