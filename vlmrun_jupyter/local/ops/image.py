"""Image instructions: blur (faces, a region, everything), grayscale, crop, resize."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from .. import media
from .context import BOX, Context, Media


def blur(ctx: Context) -> None:
    m, img = ctx.image()
    region = re.search(rf"region\s+{BOX.pattern}", ctx.lower)
    if "face" in ctx.lower:
        faces = media.detect_faces(img)
        out = media.blur(img, faces) if faces else img
        ctx.out.facts.update(
            count=len(faces), faces=[dict(zip("xywh", f, strict=True)) for f in faces]
        )
        ctx.out.text = (
            f"Blurred {len(faces)} face(s)."
            if faces
            else "No faces were found; the image is unchanged."
        )
    elif region:
        box = tuple(int(float(v)) for v in region.groups())
        out = media.blur(img, [box])  # type: ignore[list-item]
        ctx.out.text = f"Blurred the region {box}."
    else:
        out = media.blur(img)
        ctx.out.text = "Blurred the whole image."
    _save(ctx, m, out, "_blurred")


def grayscale(ctx: Context) -> None:
    m, img = ctx.image()
    ctx.save_image(img.convert("L").convert("RGB"), Path(m.name).stem + "_gray.jpg")
    ctx.out.text = "Converted the image to grayscale."


def crop(ctx: Context) -> None:
    m, img = ctx.image()
    box = BOX.search(ctx.lower)
    if box:
        x, y, w, h = (int(float(v)) for v in box.groups())
    else:
        w, h = img.width // 2, img.height // 2
        x, y = (img.width - w) // 2, (img.height - h) // 2
    x, y = max(0, min(x, img.width - 1)), max(0, min(y, img.height - 1))
    out = img.crop((x, y, min(img.width, x + max(1, w)), min(img.height, y + max(1, h))))
    _save(ctx, m, out, "_crop")
    ctx.out.text = f"Cropped to {out.width}x{out.height} at ({x}, {y})."


def resize(ctx: Context) -> None:
    m, img = ctx.image()
    wh = re.search(r"(\d+)\s*x\s*(\d+)", ctx.lower)
    width = re.search(r"width\s+(?:of\s+)?(\d+)", ctx.lower)
    if wh:
        size = (int(wh.group(1)), int(wh.group(2)))
    elif width:
        w = int(width.group(1))
        size = (w, max(1, round(img.height * w / img.width)))
    else:
        size = (max(1, img.width // 2), max(1, img.height // 2))
    size = (max(1, min(size[0], 8192)), max(1, min(size[1], 8192)))
    out = img.resize(size, Image.Resampling.LANCZOS)
    _save(ctx, m, out, "_resized")
    ctx.out.text = f"Resized to {out.width}x{out.height}."


def _save(ctx: Context, m: Media, out: Image.Image, suffix: str) -> None:
    """Store the edited image, named after its input, and record its size."""
    ctx.save_image(out, Path(m.name).stem + suffix + ".jpg")
    ctx.out.facts.update(width=out.width, height=out.height)


def describe(m: Media) -> str:
    img = media.open_image(m.path)
    mean = np.asarray(img).reshape(-1, 3).mean(axis=0)
    faces = len(media.detect_faces(img))
    colour = tuple(int(v) for v in mean)
    return f"{m.name}: a {img.width}x{img.height} image, mean colour RGB{colour}, {faces} face(s)."


def from_image(ctx: Context, image: Image.Image) -> str:
    """A derived image artifact (a preview of the main output)."""
    return ctx.save_image(image, "preview.jpg", primary=False)
