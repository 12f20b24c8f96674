"""Lift an image into 3D Gaussian splats: a relief of the picture pushed back by depth.

The local server has no reconstruction model, so its "3D reconstruction" is
this: one flat, slightly elongated splat per (downsampled) pixel, coloured by
the pixel, placed at a depth from a deterministic heuristic. The result is
recognisably the input image, seen in 3D.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from .spz import Splats


def estimate_depth(img: Image.Image) -> np.ndarray:
    """A monocular depth *heuristic* (float32 HxW, 0 near .. 1 far): lower rows are
    nearer (a ground plane), and smooth, bright regions recede a little (sky)."""
    rgb = img.convert("RGB")
    h = rgb.height
    lum = np.asarray(rgb.convert("L").filter(ImageFilter.GaussianBlur(3)), np.float32) / 255.0
    rows = 1.0 - (np.arange(h, dtype=np.float32) / max(1, h - 1))[:, None]
    depth = 0.7 * rows + 0.3 * lum
    lo, hi = float(depth.min()), float(depth.max())
    return ((depth - lo) / (hi - lo if hi > lo else 1.0)).astype(np.float32)


def image_to_splats(
    img: Image.Image, depth: np.ndarray | None = None, max_points: int = 100_000
) -> Splats:
    """One splat per pixel of `img` downsampled to at most `max_points` pixels (RUB axes:
    x right, y up, z towards the viewer; the image spans x in [-1, 1])."""
    rgb = img.convert("RGB")
    scale = min(1.0, (max_points / max(1, rgb.width * rgb.height)) ** 0.5)
    w, h = max(2, int(rgb.width * scale)), max(2, int(rgb.height * scale))
    small = rgb.resize((w, h), Image.Resampling.BILINEAR)
    if depth is None:
        d = estimate_depth(small)
    else:
        d = np.asarray(
            Image.fromarray(np.asarray(depth, np.float32)).resize((w, h), Image.Resampling.BILINEAR)
        )
        lo, hi = float(np.nanmin(d)), float(np.nanmax(d))
        d = (d - lo) / (hi - lo if hi > lo else 1.0)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    spacing = 2.0 / w
    x = (xs - (w - 1) / 2) * spacing
    y = -(ys - (h - 1) / 2) * spacing
    z = -np.nan_to_num(d, nan=1.0) * 0.8  # farther is further back (-z)
    n = w * h
    positions = np.stack([x, y, z], axis=-1).reshape(n, 3).astype(np.float32)
    colors = (np.asarray(small, np.float32) / 255.0).reshape(n, 3)
    log_scales = np.log(np.array([spacing * 0.7, spacing * 0.7, spacing * 0.15], np.float32))
    return Splats(
        positions=positions,
        opacities=np.full(n, 0.95, np.float32),
        colors=colors,
        log_scales=np.tile(log_scales, (n, 1)),
        rotations=np.tile(np.array([0, 0, 0, 1], np.float32), (n, 1)),
        sh=np.zeros((n, 0, 3), np.float32),
        sh_degree=0,
    )
