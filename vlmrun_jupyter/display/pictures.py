"""Pictures within a byte budget: what every renderer's images go through.

`encode_fit()` steps JPEG quality and then size down until the encoded bytes fit
(PNG when there is transparency, or when asked); `picture()` makes the `<img>` of it,
or a note when nothing fits. Used for photos, contact sheets, waveforms, PDF pages,
heatmaps, splat previews and gallery thumbnails.

PIL and numpy are imported inside the functions: a renderer that only reports its
version (see `registry`) loads no codec.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .budget import Budget, Bundle, decode_budget, over_decode_budget
from .html import frame, img_tag, omitted

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

QUALITIES = (85, 72, 60, 45)
MIN_EDGE = 48


# bytes per pixel once decoded; 16-bit and float modes count twice (stretched via numpy)
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "RGB": 3, "YCbCr": 3, "LAB": 3}
_MODE_BYTES.update({"RGBA": 4, "RGBa": 4, "CMYK": 4, "RGBX": 4, "I": 8, "F": 8})
_MODE_BYTES.update({"I;16": 4, "I;16B": 4, "I;16L": 4, "I;16N": 4})


def decoded_bytes(im: Image.Image) -> int:
    """What decoding `im` (as its header describes it, after any draft) costs in memory."""
    w, h = im.size
    return w * h * _MODE_BYTES.get(im.mode, 8)


def open_image(path: Path, max_edge: int = 1280) -> tuple[Image.Image, str, tuple[int, int]]:
    """(image oriented upright and downscaled to `max_edge`, format name, original size).
    Width x height x channels x depth is checked from the header against the decode
    budget before any pixel is decoded (a JPEG is drafted to a reduced scale first)."""
    from PIL import Image, ImageOps

    try:
        im = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise over_decode_budget(f"{path.name}", 2**31, decode_budget()) from exc
    fmt = (im.format or "image").lower()
    size = im.size
    if fmt == "jpeg":
        im.draft("RGB", (max_edge, max_edge))  # decode at a reduced scale: fast for big JPEGs
    needs, limit = decoded_bytes(im), decode_budget()
    if needs > limit:
        w, h = size
        raise over_decode_budget(f"this {w}x{h} {im.mode} {fmt.upper()}", needs, limit)
    im.load()
    if max(im.size) > max_edge and im.mode not in ("I;16", "I;16B", "I;16L", "I;16N"):
        im.thumbnail((max_edge, max_edge), Image.Resampling.BILINEAR, reducing_gap=2.0)
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
        import numpy as np
        from PIL import Image

        a = np.asarray(im)
        step = max(1, -(-max(a.shape[:2]) // 2560))  # subsample before widening to float
        a = a[::step, ::step].astype(np.float64)
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
    from PIL import Image

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
        return omitted()
    mime, data, w, h = enc
    return img_tag(mime, data, w, h, alt)


def picture_bundle(
    text: str, enc: tuple[str, bytes, int, int], cap: str, alt: str, budget: Budget
) -> Bundle:
    """A picture's bundle: the picture framed over its caption in the HTML and, unless
    only HTML is wanted, as its own `image/jpeg|png` entry with its size in the metadata
    (front ends that prefer images use it)."""
    mime, data, w, h = enc
    out = {"text/plain": text, "text/html": frame(img_tag(mime, data, w, h, alt), cap)}
    if budget.html_only:
        return out, {}
    out[mime] = base64.b64encode(data).decode("ascii")
    return out, {mime: {"width": w, "height": h}}


__all__ = ["open_image", "has_alpha", "displayable", "encode_fit", "picture", "picture_bundle"]
