"""3D reconstruction: an image lifted by its depth into real SPZ Gaussian splats."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ...splat import spz
from ...splat.relief import image_to_splats
from .. import media
from .context import Context


def reconstruct(ctx: Context) -> None:
    m, img = ctx.image()
    splats = image_to_splats(img, media.depth_map(img))
    ctx.save("recon", _write(ctx, splats), Path(m.name).stem + ".spz")
    ctx.out.facts.update(count=len(splats), num_points=len(splats))
    ctx.out.text = f"Reconstructed the image as {len(splats)} Gaussian splats (a depth relief)."


def from_image(ctx: Context, image: Image.Image) -> str:
    """A derived reconstruction of the image."""
    return ctx.save("recon", _write(ctx, image_to_splats(image)), "scene.spz", primary=False)


def _write(ctx: Context, splats: spz.Splats) -> Path:
    dst = ctx.tmp(".spz")
    dst.write_bytes(spz.encode(splats))
    return dst
