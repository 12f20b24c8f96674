"""The static 3D preview is a real splat rendering: colours land where the camera's
projection says, splats are anisotropic ellipses that turn with their rotation, nearer
splats hide farther ones whatever their order in the arrays, the up axis flips the
picture, and a few stray splats do not shrink the subject to a dot."""

from __future__ import annotations

import numpy as np
import pytest

from vlmrun_jupyter.splat import preview
from vlmrun_jupyter.splat.spz import Splats

W, H = 320, 240
BG = np.array(preview.BACKGROUND)


def splats(positions, colors, log_scales, rotations=None, opacity=0.95) -> Splats:
    n = len(positions)
    rot = np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)) if rotations is None else rotations
    return Splats(
        positions=np.asarray(positions, np.float32),
        opacities=np.full(n, opacity, np.float32),
        colors=np.asarray(colors, np.float32),
        log_scales=np.asarray(log_scales, np.float32),
        rotations=np.asarray(rot, np.float32),
        sh=np.zeros((n, 0, 3), np.float32),
    )


def ellipsoids(seed: int = 0) -> tuple[Splats, np.ndarray, np.ndarray]:
    """Red, green and blue ellipsoids (surface samples), returning their centres/colours."""
    rng = np.random.default_rng(seed)
    centres = np.array([[-2.0, 0.0, 0.0], [0.0, 1.2, 0.0], [2.0, -0.3, 0.5]])
    radii = np.array([[0.7, 0.5, 0.5], [0.5, 0.8, 0.5], [0.6, 0.6, 0.4]])
    palette = np.array([[0.9, 0.1, 0.1], [0.1, 0.8, 0.15], [0.1, 0.2, 0.9]])
    pos, col = [], []
    for c, r, p in zip(centres, radii, palette, strict=True):
        d = rng.normal(size=(4000, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        pos.append(c + d * r)
        col.append(np.tile(p, (4000, 1)))
    n = 12000
    return (
        splats(np.concatenate(pos), np.concatenate(col), np.full((n, 3), np.log(0.05))),
        centres,
        palette,
    )


def image(s: Splats, **kw) -> np.ndarray:
    return np.asarray(preview.render(s, W, H, **kw), np.int16)


def painted(img: np.ndarray) -> np.ndarray:
    return np.abs(img - BG).sum(axis=2) > 30


def extent(mask: np.ndarray) -> tuple[int, int]:
    """(width, height) in pixels of the painted region."""
    ys, xs = np.nonzero(mask)
    return int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def test_colours_appear_where_the_projection_puts_them(artifacts_dir):
    s, centres, palette = ellipsoids()
    img = image(s)
    preview.render(s, W, H).save(artifacts_dir / "splat_preview_ellipsoids.png")
    cam = preview.frame_camera(s.positions, "y", W, H)
    u, v, z = cam.project(centres)
    assert (z > 0).all()
    for (x, y), colour in zip(np.stack([u, v], 1).round().astype(int), palette, strict=True):
        patch = img[y - 3 : y + 4, x - 3 : x + 4].reshape(-1, 3).mean(axis=0)
        dominant = int(np.argmax(colour))
        others = [c for c in range(3) if c != dominant]
        assert 0 <= x < W and 0 <= y < H
        assert patch[dominant] > patch[others].max() + 60, (colour, patch)
    # far from all three: background
    assert (img[2, 2] == BG).all() and (img[H - 3, W - 3] == BG).all()
    assert 0.03 < painted(img).mean() < 0.6


def test_splats_are_anisotropic_and_turn_with_their_rotation():
    wide = splats([[0, 0, 0]], [[0.1, 0.1, 0.1]], [[np.log(0.2), np.log(0.04), np.log(0.04)]])
    # a second tiny splat far off fixes the framing so both renders share a camera
    anchor = splats([[0, 0, 0], [3, 3, 3]], [[0.1] * 3] * 2, [[-9] * 3] * 2)
    cam = preview.frame_camera(anchor.positions, "y", W, H, azimuth_deg=0, elevation_deg=0)
    w, h = extent(painted(image(wide, camera=cam)))
    assert w > 2.5 * h, (w, h)
    turned = splats(
        [[0, 0, 0]],
        [[0.1] * 3],
        wide.log_scales,
        rotations=[[0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)]],  # 90 degrees about z
    )
    w2, h2 = extent(painted(image(turned, camera=cam)))
    assert h2 > 2.5 * w2, (w2, h2)
    assert abs(w - h2) <= 2 and abs(h - w2) <= 2


@pytest.mark.parametrize("near_first", [True, False])
def test_nearer_splats_hide_farther_ones(near_first):
    # camera looks along -z from +z (front view, no tilt): larger z is nearer
    red = ([0, 0, 0.5], [0.95, 0.05, 0.05])
    blue = ([0.05, 0, -0.5], [0.05, 0.05, 0.95])
    near, far = red, blue
    order = [near, far] if near_first else [far, near]
    s = splats([p for p, _ in order], [c for _, c in order], [[np.log(0.3)] * 3] * 2, opacity=0.99)
    cam = preview.frame_camera(s.positions, "y", W, H, azimuth_deg=0, elevation_deg=0)
    img = image(s, camera=cam)
    u, v, _ = cam.project(np.array([[0.02, 0, 0]]))
    r, g, b = img[int(v[0]), int(u[0])]
    assert r > 200 and b < 60, (r, g, b)  # the near red splat covers the far blue one


def test_up_axis_flips_the_picture():
    s, centres, _ = ellipsoids()
    up = image(s, up="y")
    down = image(s, up="-y")

    def green_rows(img):
        return np.nonzero((img[..., 1] > img[..., 0] + 50) & (img[..., 1] > img[..., 2] + 30))[0]

    # the green ellipsoid sits highest (+y): near the top with y up, near the bottom with -y
    assert green_rows(up).mean() < H / 2 < green_rows(down).mean()
    with pytest.raises(ValueError, match="up must be one of"):
        preview.render(s, W, H, up="sideways")


def test_strays_do_not_shrink_the_subject():
    s, _, _ = ellipsoids()
    base_w, base_h = extent(painted(image(s)))
    strays = splats(
        [[500, 400, -300], [-800, 0, 900], [0, -700, 0]], [[0, 0, 0]] * 3, [[-3] * 3] * 3
    )
    both = Splats(
        *(np.concatenate([getattr(s, f), getattr(strays, f)]) for f in (
            "positions", "opacities", "colors", "log_scales", "rotations", "sh"
        ))
    )  # fmt: skip
    w, h = extent(painted(image(both)) & (np.abs(image(both) - BG).sum(axis=2) > 60))
    assert w > 0.8 * base_w and h > 0.8 * base_h, ((w, h), (base_w, base_h))


def test_rendering_is_deterministic_and_handles_edge_cases():
    s, _, _ = ellipsoids()
    assert np.array_equal(image(s), image(s))
    behind = splats([[0, 0, 100]], [[1, 0, 0]], [[0, 0, 0]])
    cam = preview.frame_camera(np.array([[0, 0, 0], [1, 1, 1]], np.float32), "y", W, H)
    assert (image(behind, camera=cam) == BG).all()  # a splat behind the camera draws nothing
    single = image(splats([[1, 2, 3]], [[0, 0, 0]], [[-2] * 3]))
    assert painted(single).any()
