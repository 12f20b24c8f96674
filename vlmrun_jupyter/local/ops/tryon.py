"""Virtual try-on: a garment photo composited onto a person photo, in N views.

A real, deterministic image operation (no model): the garment is cut out of its
backdrop (its alpha channel, else the pixels that differ from the border colour),
scaled to the person's shoulders (found from the detected face, else from the
figure's silhouette) and pasted over the torso with a soft edge. Views are the
composite seen turning: `front` as is, `side` narrowed as a body turned 90 degrees
is, `back` mirrored with the face blurred away; other counts spread evenly around.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from .. import media
from .context import Context, Media, Unsupported

_GARMENT = r"dress|garment|shirt|t-shirt|outfit|clothes|clothing|jacket|top|coat|skirt"
_PERSON = r"person|model|man|woman|body|people"
_ORDINAL = {"first": 0, "1st": 0, "second": 1, "2nd": 1}
# Angle of each named view (degrees, 0 = facing the camera).
VIEWS = {"front": 0.0, "right": 90.0, "side": 90.0, "back": 180.0, "left": 270.0}
DEFAULT_VIEWS = 3
MAX_VIEWS = 12


def try_on(ctx: Context) -> None:
    images = ctx.all("image")
    if len(images) < 2:
        raise Unsupported("virtual try-on needs two images: the garment and the person")
    garment_m, person_m = roles(ctx.lower, images[0], images[1])
    person = media.open_image(person_m.path)
    composite, face = _composite(person, _open_rgba(garment_m.path))
    aspect = re.search(r"(\d{1,2})\s*:\s*(\d{1,2})", ctx.lower)
    for name, angle in views(ctx.lower):
        view = _view(composite, angle, face)
        if aspect:
            view = _pad_to(view, int(aspect.group(1)), int(aspect.group(2)))
        oid = ctx.save_image(view, f"tryon_{name}.jpg", primary=not ctx.out.items)
        ctx.out.named[name] = oid
        desc = f"{name} view ({angle:g} degrees) of {garment_m.name} on {person_m.name}"
        ctx.out.items.append({"img": oid, "view": name, "description": desc})
    ctx.out.facts.update(count=len(ctx.out.items), width=view.width, height=view.height)
    names = ", ".join(i["view"] for i in ctx.out.items)
    ctx.out.text = f"Composited {garment_m.name} onto {person_m.name}: {names} views."


def roles(prompt: str, a: Media, b: Media) -> tuple[Media, Media]:
    """(garment, person): as the prompt says ("the dress (the first image)"), else the
    order the prompt names them in, else the garment first (as the announcement does)."""
    said = re.search(rf"\b(?:{_GARMENT})\b[^.]{{0,40}}?\b(first|1st|second|2nd)\s+image", prompt)
    if said:
        return (a, b) if _ORDINAL[said.group(1)] == 0 else (b, a)
    g = re.search(rf"\b(?:{_GARMENT})\b", prompt)
    p = re.search(rf"\b(?:{_PERSON})\b", prompt)
    if g and p and p.start() < g.start():
        return b, a
    return a, b


def views(prompt: str) -> list[tuple[str, float]]:
    """The views asked for: named ones in the prompt's order, padded to the count asked
    ("exactly 3 images", "4 views"); default front, back, side."""
    named = list(dict.fromkeys(re.findall(r"\b(front|back|side|left|right)\b", prompt)))
    count = re.search(r"\b(\d{1,2})\s+(?:images|views|pictures|photos|angles)\b", prompt)
    n = int(count.group(1)) if count else max(DEFAULT_VIEWS, len(named))
    n = max(1, min(MAX_VIEWS, n))
    chosen = [(name, VIEWS[name]) for name in named[:n]]
    for name in ("front", "back", "side"):
        if len(chosen) < min(n, DEFAULT_VIEWS) and name not in dict(chosen):
            chosen.append((name, VIEWS[name]))
    k = 0
    while len(chosen) < n:
        angle = round(360.0 * k / n, 1)
        if all(a != angle for _, a in chosen):
            chosen.append((f"angle_{angle:g}", angle))
        k += 1
    return chosen


def _open_rgba(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return ImageOps.exif_transpose(im).convert("RGBA")


def _border_colour(rgb: np.ndarray) -> np.ndarray:
    edge = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)
    return np.median(edge, axis=0)


def _cutout(garment: Image.Image) -> Image.Image:
    """The garment alone (RGBA, cropped to it): its alpha, else what differs from the border."""
    rgba = np.asarray(garment)
    alpha = rgba[..., 3]
    if alpha.min() < 250:
        mask = alpha > 16
    else:
        rgb = rgba[..., :3].astype(np.float32)
        mask = np.linalg.norm(rgb - _border_colour(rgba[..., :3]), axis=-1) > 40
    if mask.sum() < 16:
        raise Unsupported("could not find a garment in the garment image (it is one flat colour)")
    ys, xs = np.nonzero(mask)
    soft = Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    out = garment.copy()
    out.putalpha(soft)
    return out.crop((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))


def _torso(person: Image.Image) -> tuple[int, int, int, tuple[int, int, int, int] | None]:
    """(centre x, top y, width) where the garment goes, and the face box if one was found."""
    faces = media.detect_faces(person)
    if faces:
        x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
        return x + w // 2, y + int(h * 1.35), int(w * 3.0), (x, y, w, h)
    rgb = np.asarray(person)
    figure = np.linalg.norm(rgb.astype(np.float32) - _border_colour(rgb), axis=-1) > 40
    if figure.sum() < 16:
        return person.width // 2, person.height // 4, person.width // 2, None
    ys, xs = np.nonzero(figure)
    top, height = int(ys.min()), int(ys.max() - ys.min())
    return int(xs.mean()), top + int(0.18 * height), int(0.8 * (xs.max() - xs.min())), None


def _composite(person: Image.Image, garment: Image.Image):
    cut = _cutout(garment)
    cx, top, width, face = _torso(person)
    width = max(8, min(width, person.width))
    height = max(8, round(cut.height * width / cut.width))
    fitted = cut.resize((width, height), Image.Resampling.LANCZOS)
    fitted = fitted.crop((0, 0, width, max(1, min(height, person.height - top))))
    out = person.copy()
    out.paste(fitted, (cx - width // 2, top), fitted)
    return out, face


def _view(img: Image.Image, angle: float, face: tuple[int, int, int, int] | None) -> Image.Image:
    """The composite as seen from `angle`: narrowed by |cos|, the face blurred away from
    behind, mirrored when seen from behind or from the left (so every view differs)."""
    rad = math.radians(angle % 360)
    behind, left = math.cos(rad) < -1e-6, math.sin(rad) < -1e-6
    out = img
    if behind and face:
        out = media.blur(out, [face], radius=max(12.0, face[2] / 3))
    if behind != left:
        out = ImageOps.mirror(out)
    scale = 0.35 + 0.65 * abs(math.cos(rad))
    if scale < 0.999:
        bg = tuple(int(v) for v in _border_colour(np.asarray(out)))
        narrow = out.resize(
            (max(1, round(out.width * scale)), out.height), Image.Resampling.LANCZOS
        )
        canvas = Image.new("RGB", out.size, bg)
        canvas.paste(narrow, ((out.width - narrow.width) // 2, 0))
        out = canvas
    return out


def _pad_to(img: Image.Image, aw: int, ah: int) -> Image.Image:
    """Pad (never crop) to the aspect ratio aw:ah with the backdrop colour."""
    if aw <= 0 or ah <= 0:
        return img
    w, h = img.width, img.height
    if w * ah > h * aw:
        h = round(w * ah / aw)
    else:
        w = round(h * aw / ah)
    bg = tuple(int(v) for v in _border_colour(np.asarray(img)))
    canvas = Image.new("RGB", (w, h), bg)
    canvas.paste(img, ((w - img.width) // 2, (h - img.height) // 2))
    return canvas
