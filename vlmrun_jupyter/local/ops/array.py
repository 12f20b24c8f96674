"""Array instructions: a depth map (float32) and a foreground mask (uint8) of an image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .. import media
from .context import Context


def depth(ctx: Context) -> None:
    m, img = ctx.image()
    ctx.save_array(media.depth_map(img), Path(m.name).stem + "_depth.npy")
    ctx.out.facts.update(width=img.width, height=img.height)
    ctx.out.text = f"Estimated a {img.width}x{img.height} depth map (heuristic: 0 near, 1 far)."


def mask(ctx: Context) -> None:
    m, img = ctx.image()
    mk = media.mask(img)
    ctx.save_array(mk, Path(m.name).stem + "_mask.npy")
    ctx.out.facts.update(count=int(mk.sum()), width=img.width, height=img.height)
    ctx.out.text = f"Segmented the foreground: {int(mk.sum())} of {mk.size} pixels."


def from_image(ctx: Context, image: Image.Image) -> str:
    """A derived array: the image's depth map."""
    return ctx.save_array(media.depth_map(image), "depth.npy")


def to_image(path: Path) -> Image.Image:
    """The array scaled to 0-255 as a grayscale (2D) or RGB picture."""
    arr = np.nan_to_num(np.load(path, allow_pickle=False).astype(np.float32))
    arr = (255 * (arr - arr.min()) / max(1e-9, float(arr.max() - arr.min()))).astype(np.uint8)
    return Image.fromarray(arr if arr.ndim == 2 else arr[..., :3]).convert("RGB")
