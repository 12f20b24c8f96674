"""Document instructions: a PDF from images or pages, redaction."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from .. import media
from .context import BOX, Context, Media, Unsupported

# Redact this band (fractions of the page: under the title) on every page unless told where.
DEFAULT_REGION = (0.08, 0.15, 0.84, 0.2)


def make_pdf(ctx: Context) -> None:
    pages: list[Image.Image] = []
    for m in ctx.inputs:
        if m.kind == "image":
            pages.append(media.open_image(m.path))
        elif m.kind == "document":
            pages.extend(media.render_pages(m.path, scale=1.0))
    if not pages:
        raise Unsupported("making a PDF needs images or documents as input")
    dst = ctx.tmp(".pdf")
    n = media.images_to_pdf(pages, dst)
    ctx.save("doc", dst, "document.pdf")
    ctx.out.facts.update(page_count=n, count=n)
    ctx.out.text = f"Made a {n}-page PDF."


def redact(ctx: Context) -> None:
    regions: list[tuple[int, tuple[float, float, float, float]]] = []
    for found in re.finditer(rf"region\s+{BOX.pattern}(?:\s+on\s+page\s+(\d+))?", ctx.lower):
        box = tuple(float(v) for v in found.groups()[:4])
        page = int(found.group(5)) - 1 if found.group(5) else -1
        regions.append((page, box))  # type: ignore[arg-type]
    if not regions:
        regions = [(-1, DEFAULT_REGION)]
    doc = next((m for m in ctx.inputs if m.kind in ("document", "image")), None)
    if doc is None:
        raise Unsupported("redaction needs a document (PDF) or an image as input")
    src = doc.path
    if doc.kind == "image":
        src = ctx.tmp(".pdf")
        media.images_to_pdf([media.open_image(doc.path)], src)
    dst = ctx.tmp(".pdf")
    n = media.redact(src, dst, regions)
    ctx.save("doc", dst, Path(doc.name).stem + "_redacted.pdf")
    boxes = [
        {"page": p + 1 if p >= 0 else None, "x": b[0], "y": b[1], "width": b[2], "height": b[3]}
        for p, b in regions
    ]
    ctx.out.facts.update(page_count=n, count=len(regions), regions=boxes)
    ctx.out.text = f"Redacted {len(regions)} region(s) on {n} page(s)."


def describe(m: Media) -> str:
    return f"{m.name}: a {media.page_count(m.path)}-page PDF."


def from_image(ctx: Context, image: Image.Image) -> str:
    """A derived one-page PDF of the image."""
    dst = ctx.tmp(".pdf")
    media.images_to_pdf([image], dst)
    return ctx.save("doc", dst, "page.pdf", primary=False)


def to_image(path: Path) -> Image.Image:
    """The first page."""
    return media.render_pages(path, scale=1.0, limit=1)[0]
