"""A static picture of Gaussian splats, rendered in numpy.

Each splat is projected as an anisotropic 2D Gaussian (its 3D covariance from
scale and rotation, pushed through the camera Jacobian), and splats are
composited front to back in depth order, exactly: splats go in depth-sorted
chunks (to bound memory), and inside a chunk every pixel's contributions are
sorted by depth and each is dimmed by the ones in front of it. A splat whose
footprint lies where less than 1/255 of the light is left (tested at nine points) is
dropped before any of its pixels are computed, and so is each pixel of a drawn splat
that lies where that little light is left: in a dense scene most splats are hidden
by nearer ones, and skipping them is most of the speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .spz import Splats

UP_AXES = {
    "y": (0.0, 1.0, 0.0),
    "-y": (0.0, -1.0, 0.0),
    "z": (0.0, 0.0, 1.0),
    "-z": (0.0, 0.0, -1.0),
}
MAX_SPLATS = 400_000
FIELDS = ("positions", "opacities", "colors", "log_scales", "rotations", "sh")
CHUNK_PIXELS = 500_000  # splat-pixel pairs per chunk: bounds memory (~40 MB of arrays)
# pixel radii; bigger splats are cut at 64. Steps of about sqrt(2): a splat's square is
# at most about twice its footprint's, and the per-pixel work scales with the square.
RADIUS_BUCKETS = (1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64)
BACKGROUND = (250, 250, 250)
OPAQUE = 1 / 255  # light left below which a pixel takes no more splats (one 8-bit level)


@dataclass(frozen=True)
class Camera:
    eye: np.ndarray
    rotation: np.ndarray  # rows: right, up, forward (world -> camera)
    focal: float
    width: int
    height: int

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel coordinates (u, v) and depth of world points."""
        cam = _to_camera(points, self.eye, self.rotation)
        z = cam[:, 2]
        safe = np.where(z > 1e-6, z, 1e-6)
        u = self.width / 2 + self.focal * cam[:, 0] / safe
        v = self.height / 2 - self.focal * cam[:, 1] / safe
        return u, v, z


def _to_camera(points: np.ndarray, eye: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(points - eye) R^T as float64; einsum, not `@`: a multi-threaded BLAS spends
    more time starting and spinning on a (N, 3) x (3, 3) product than computing it."""
    return np.einsum("nj,ij->ni", np.asarray(points, np.float64) - eye, rotation)


def robust_bounds(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2nd-98th percentile box: a few stray splats don't shrink the subject to a dot."""
    return np.percentile(positions, 2, axis=0), np.percentile(positions, 98, axis=0)


def frame_camera(
    positions: np.ndarray,
    up: str = "y",
    width: int = 640,
    height: int = 480,
    fov_deg: float = 40.0,
    elevation_deg: float = 20.0,
    azimuth_deg: float = 30.0,
) -> Camera:
    """A camera looking at the robust centre from the front (+z for y-up), slightly above."""
    if up not in UP_AXES:
        raise ValueError(f"up must be one of {', '.join(UP_AXES)}")
    lo, hi = robust_bounds(positions)
    center = (lo + hi) / 2
    radius = max(float(np.linalg.norm(hi - lo)) / 2, 1e-3)
    up_v = np.array(UP_AXES[up])
    front = np.array([0.0, 0.0, 1.0]) if abs(up_v[2]) < 0.5 else np.array([0.0, -1.0, 0.0])
    side = np.cross(up_v, front)
    el, az = np.radians(elevation_deg), np.radians(azimuth_deg)
    direction = np.cos(el) * (np.cos(az) * front + np.sin(az) * side) + np.sin(el) * up_v
    focal = (height / 2) / np.tan(np.radians(fov_deg) / 2)
    distance = radius / np.tan(np.radians(fov_deg) / 2) * 1.15 * max(1.0, width / height * 0.75)
    eye = center + direction * distance
    forward = (center - eye) / np.linalg.norm(center - eye)
    right = np.cross(forward, up_v)
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    return Camera(eye, np.stack([right, true_up, forward]), float(focal), width, height)


def _rotation_matrices(q: np.ndarray) -> np.ndarray:
    """(N, 3, 3) from unit quaternions in (x, y, z, w) order."""
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    x, y, z, w = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


CONIC_SLICE = 65536  # splats per step of `_conics`: its 3x3 temporaries stay ~30 MB


def _conics(
    splats: Splats, cam: Camera, z: np.ndarray, pos_cam: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse 2D covariances (a, b, c) and pixel radii of the projected Gaussians,
    computed a slice at a time."""
    conic, radius = np.empty((len(z), 3)), np.empty(len(z))
    for lo in range(0, len(z), CONIC_SLICE):
        part = slice(lo, lo + CONIC_SLICE)
        rotations, log_scales = splats.rotations[part], splats.log_scales[part]
        conic[part], radius[part] = _conic_slice(rotations, log_scales, cam, z[part], pos_cam[part])
    return conic, radius


def _conic_slice(
    rotations: np.ndarray, log_scales: np.ndarray, cam: Camera, z: np.ndarray, pos_cam: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """cov2 = B B^T with B = J W R S (J the projection's Jacobian, W the camera rotation,
    R S the splat's axes), written out per element: numpy's stacked 3x3 matmuls cost
    several times more than these few dozen whole-array operations."""
    r = _rotation_matrices(rotations.astype(np.float64))
    s = np.exp(log_scales.astype(np.float64))
    w, f = cam.rotation, cam.focal
    zz = np.maximum(z, 1e-6)
    j00, j11 = f / zz, -f / zz
    j02, j12 = -f * pos_cam[:, 0] / zz**2, f * pos_cam[:, 1] / zz**2
    a = np.full(len(z), 0.3)  # at least about a pixel wide (anti-aliasing)
    c = np.full(len(z), 0.3)
    b = np.zeros(len(z))
    for k in range(3):  # column k of A = W R S, then of B = J A
        col = [(w[i, 0] * r[:, 0, k] + w[i, 1] * r[:, 1, k] + w[i, 2] * r[:, 2, k]) * s[:, k]
               for i in range(3)]  # fmt: skip
        b0 = j00 * col[0] + j02 * col[2]
        b1 = j11 * col[1] + j12 * col[2]
        a += b0 * b0
        b += b0 * b1
        c += b1 * b1
    det = np.maximum(a * c - b * b, 1e-12)
    conic = np.stack([c / det, -b / det, a / det], axis=1)
    mid = (a + c) / 2
    lam = mid + np.sqrt(np.maximum(mid * mid - det, 0.0))
    return conic, np.ceil(3.0 * np.sqrt(lam))


def _hidden(
    sel: np.ndarray, u: np.ndarray, v: np.ndarray, radius: np.ndarray, trans: np.ndarray, w: int
) -> np.ndarray:
    """Splats of `sel` that can no longer show: at nine points of their footprint
    (centre, and half the radius out in eight directions) less than `OPAQUE` of the
    light is left. Splats wider than 16 pixels are always drawn."""
    h = len(trans) // w
    half = radius[sel] * 0.5
    hidden = radius[sel] <= 16
    for ox in (-1, 0, 1):
        for oy in (-1, 0, 1):
            x = np.clip(np.floor(u[sel] + ox * half), 0, w - 1).astype(np.int64)
            y = np.clip(np.floor(v[sel] + oy * half), 0, h - 1).astype(np.int64)
            hidden &= trans[y * w + x] < OPAQUE
    return hidden


def _chunks(order, u, v, radius, trans, w, exact: bool):
    """Consecutive depths, hidden splats dropped, each chunk as many splats as fit
    `CHUNK_PIXELS` splat-pixel pairs (the light left is read as the loop draws)."""
    side = 2 * np.array(RADIUS_BUCKETS)[np.searchsorted(RADIUS_BUCKETS, radius[order])] + 1
    footprint = side * side
    pos, window = 0, 4096  # splats tested per step: about twice what the last chunk took
    while pos < len(order):
        sel = order[pos : pos + window]
        hidden = False if exact else _hidden(sel, u, v, radius, trans, w)
        cost = np.where(hidden, 0, footprint[pos : pos + window])
        take = max(int(np.searchsorted(np.cumsum(cost), CHUNK_PIXELS, side="right")), 1)
        yield sel[:take][cost[:take] > 0]
        pos += take
        window = max(1024, 2 * take)


def _footprints(
    bucket: int, u: np.ndarray, v: np.ndarray, conic: np.ndarray, opac: np.ndarray, w: int, h: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixel, splat row, alpha) of every pixel within `bucket` of each splat's centre
    where it shows (alpha > 1/255) inside the picture (float32 math)."""
    off = np.arange(-bucket, bucket + 1)
    dyi, dxi = (a.ravel() for a in np.meshgrid(off, off, indexing="ij"))
    fu, fv = np.floor(u), np.floor(v)
    ddx = (fu + np.float32(0.5) - u)[:, None] + dxi.astype(np.float32)
    ddy = (fv + np.float32(0.5) - v)[:, None] + dyi.astype(np.float32)
    ca, cb, cc = (conic[:, i : i + 1] for i in range(3))
    power = ca * ddx
    power += np.float32(2) * cb * ddy
    power *= ddx
    ddy *= ddy
    ddy *= cc
    power += ddy
    power *= np.float32(-0.5)
    np.minimum(power, 0, out=power)
    alpha = np.exp(power, out=power)
    alpha *= opac[:, None]
    np.minimum(alpha, np.float32(0.99), out=alpha)
    rows, cols = np.nonzero(alpha > np.float32(1 / 255))
    px = fu.astype(np.int64)[rows] + dxi[cols]
    py = fv.astype(np.int64)[rows] + dyi[cols]
    inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    rows = rows[inside]
    return (py * w + px)[inside], rows, alpha[rows, cols[inside]]


def _composite(count: int, *pieces, colors, accum: np.ndarray, trans: np.ndarray) -> None:
    """Exact front-to-back compositing of one chunk: the contributions sorted by pixel,
    then depth; each is dimmed by those in front of it on its pixel, and every pixel's
    sums are taken over its run of the sorted arrays (no image-sized temporaries)."""
    pix, rank, alpha, splat = (np.concatenate(p) for p in zip(*pieces, strict=True))
    # The keys are unique (a splat covers a pixel once), so any sort gives one order.
    by = np.argsort(pix * count + rank)
    pix, alpha, splat = pix[by], alpha[by], splat[by]
    log_keep = np.log1p(-alpha.astype(np.float64))
    before = np.cumsum(log_keep)
    before -= log_keep  # exclusive running sum
    starts = np.flatnonzero(np.diff(pix, prepend=-1))
    run = np.diff(starts, append=len(pix))
    front = np.exp(before - np.repeat(before[starts], run))  # light left after nearer ones
    upix = pix[starts]
    weight = front * alpha
    weight *= np.repeat(trans[upix], run)
    accum[upix] += np.add.reduceat(colors[splat] * weight[:, None], starts, axis=0)
    trans[upix] *= np.exp(np.add.reduceat(log_keep, starts))


def render(
    splats: Splats,
    width: int = 640,
    height: int = 480,
    up: str = "y",
    camera: Camera | None = None,
    background: tuple[int, int, int] = BACKGROUND,
    exact: bool = False,
    total: int | None = None,
) -> Image.Image:
    """The splats as an RGB image (deterministic). `exact` also draws the splats hidden
    behind nearer ones (at most 1/255 of a pixel's light: off by a level or two).
    `total`: how many splats `splats` samples (see `splat.sample`), if more."""
    every = -(-len(splats) // MAX_SPLATS)
    if every > 1:  # a deterministic sample: strided views, no copies
        splats = Splats(*(getattr(splats, f)[::every] for f in FIELDS), splats.sh_degree)
    # a sample stands for `total` splats: fattened to keep their coverage
    grow = 0.5 * np.log(max(total or 0, len(splats) * every) / max(len(splats), 1))
    if grow > 0:
        splats = Splats(*(getattr(splats, f) for f in FIELDS[:3]),
                        splats.log_scales + np.float32(grow), splats.rotations, splats.sh)  # fmt: skip
    cam = camera or frame_camera(splats.positions, up, width, height)
    pos_cam = _to_camera(splats.positions, cam.eye, cam.rotation)
    z = pos_cam[:, 2]
    u = cam.width / 2 + cam.focal * pos_cam[:, 0] / np.maximum(z, 1e-6)
    v = cam.height / 2 - cam.focal * pos_cam[:, 1] / np.maximum(z, 1e-6)
    conic, radius = _conics(splats, cam, z, pos_cam)
    visible = (
        (z > 1e-3)
        & (u + radius >= 0) & (u - radius < width) & (v + radius >= 0) & (v - radius < height)
        & (splats.opacities > 1 / 255)
    )  # fmt: skip
    order = np.nonzero(visible)[0]
    order = order[np.argsort(z[order], kind="stable")]  # front to back
    colors = np.clip(splats.colors, 0, 1)
    opac = splats.opacities.astype(np.float64)
    radius = np.minimum(radius, RADIUS_BUCKETS[-1])

    npx = width * height
    accum = np.zeros((npx, 3))
    trans = np.ones(npx)  # light still passing each pixel after the chunks so far
    u32, v32 = u.astype(np.float32), v.astype(np.float32)
    conic32 = np.clip(conic, -1e30, 1e30).astype(np.float32)  # extreme scales stay finite
    opac32 = opac.astype(np.float32)
    for chunk in _chunks(order, u, v, radius, trans, width, exact):
        if not len(chunk):
            continue
        pieces = []  # per radius bucket: pixel, depth rank in the chunk, alpha, splat
        lower = 0
        for bucket in RADIUS_BUCKETS:
            rank = np.nonzero((radius[chunk] > lower) & (radius[chunk] <= bucket))[0]
            lower = bucket
            if len(rank):
                sel = chunk[rank]
                pix, rows, alpha = _footprints(
                    bucket, u32[sel], v32[sel], conic32[sel], opac32[sel], width, height
                )
                if not exact:  # pixels already opaque take nothing more
                    lit = trans[pix] >= OPAQUE
                    rows, pix, alpha = rows[lit], pix[lit], alpha[lit]
                pieces.append((pix, rank[rows], alpha, sel[rows]))
        if pieces:
            _composite(len(chunk), *pieces, colors=colors, accum=accum, trans=trans)
        if trans.max() < OPAQUE:
            break
    bg = np.array(background, np.float64) / 255
    rgb = accum + trans[:, None] * bg
    return Image.fromarray(
        (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8).reshape(height, width, 3), "RGB"
    )
