"""Arrays: shape, dtype, size, min/max/mean, NaN count, numpy's edge-item preview,
and for 2D/3D data a small heatmap (or an RGB image for H x W x 3|4).

Large `.npy` files are memory-mapped by `arrays.load_array`; above `SAMPLE_OVER`
elements the statistics come from evenly spaced contiguous blocks (and say so), so
a 50M-element array costs a few MB of reads, not a full pass.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ...refs import BaseRef
from ..budget import Budget, Bundle
from ..html import caption, figure, frame, human_size, plain, pre, stats
from ..pictures import picture
from ..registry import KindRenderer

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

SAMPLE_OVER = 8_000_000
SAMPLE_BLOCKS = 256
BLOCK = 4096
HEAT_EDGE = 256

# A perceptually even ramp: viridis anchors, interpolated to 256 entries by `lut()`.
_ANCHORS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


@cache
def lut() -> np.ndarray:
    """The colour ramp as a 256 x 3 uint8 table."""
    import numpy as np

    anchors = np.array(_ANCHORS, dtype=np.float64)
    ramp = [np.interp(np.linspace(0, 4, 256), np.arange(5), anchors[:, c]) for c in range(3)]
    return np.stack(ramp, axis=1).astype(np.uint8)


def sample(arr: np.ndarray) -> tuple[np.ndarray, bool]:
    """All values, or evenly spaced contiguous blocks of them for huge arrays."""
    import numpy as np

    flat = arr.reshape(-1) if arr.flags.c_contiguous else np.ravel(arr)
    n = flat.size
    if n <= SAMPLE_OVER:
        return np.asarray(flat), False
    starts = np.linspace(0, n - BLOCK, SAMPLE_BLOCKS).astype(np.int64)
    return np.concatenate([np.asarray(flat[s : s + BLOCK]) for s in starts]), True


def summary_stats(arr: np.ndarray) -> tuple[dict[str, str], bool, int]:
    """({name: value}, sampled?, values looked at)."""
    import numpy as np

    values, sampled = sample(arr)
    out: dict[str, str] = {}
    if values.size == 0 or values.dtype.kind not in "biufc":
        return out, sampled, int(values.size)
    if values.dtype.kind == "c":
        values = np.abs(values)
        out["note"] = "statistics of |z|"
    if values.dtype.kind == "b":
        out["true"] = f"{int(values.sum()):,}"
        return out, sampled, int(values.size)
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        out["NaN"] = f"{int(nan.sum()):,}"
        inf = int(np.isinf(values).sum())
        if inf:
            out["inf"] = f"{inf:,}"
        finite = values[np.isfinite(values)]
    else:
        finite = values
    if finite.size:
        out["min"] = f"{finite.min():.6g}"
        out["max"] = f"{finite.max():.6g}"
        out["mean"] = f"{finite.astype(np.float64).mean():.6g}"
    return out, sampled, int(values.size)


def preview_text(arr: np.ndarray) -> str:
    """numpy's own summarised printout (edge items only, so cheap on a memmap)."""
    import numpy as np

    with np.printoptions(threshold=64, edgeitems=3, precision=4, linewidth=96):
        return np.array2string(np.asarray(arr) if arr.size <= 64 else arr, separator=", ")


def _plane(arr: np.ndarray) -> tuple[np.ndarray, bool, str] | None:
    """(downsampled 2D or HxWxC plane, is_rgb, label) or None if not image-like."""
    import numpy as np

    if arr.ndim == 2:
        plane, rgb, label = arr, False, ""
    elif arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.shape[0] > 4:
        plane, rgb, label = arr, True, ""
    elif arr.ndim == 3:
        plane, rgb, label = arr[0], False, "slice [0]"
    else:
        return None
    if min(plane.shape[:2]) < 2:
        return None
    step = max(1, -(-max(plane.shape[:2]) // HEAT_EDGE))
    return np.asarray(plane[::step, ::step]), rgb, label


def heatmap(arr: np.ndarray) -> tuple[Image.Image, str] | None:
    """A 2D plane as a picture: RGB data as is, anything else through the colour ramp
    (1st..99th percentile for floats); NaNs transparent."""
    import numpy as np
    from PIL import Image

    got = _plane(arr)
    if got is None or arr.dtype.kind not in "biuf":
        return None
    plane, rgb, label = got
    a = plane.astype(np.float64)
    finite = np.isfinite(a)
    if not finite.any():
        return None
    lo, hi = (
        np.percentile(a[finite], [1, 99])
        if a.dtype.kind == "f"
        else (a[finite].min(), a[finite].max())
    )
    if rgb and arr.dtype == np.uint8:
        norm = plane.astype(np.uint8)
    else:
        norm = np.clip((a - lo) / ((hi - lo) or 1.0), 0, 1)
        norm = (np.nan_to_num(norm) * 255).astype(np.uint8)
    if rgb:
        im = Image.fromarray(norm[..., : arr.shape[-1]], "RGBA" if arr.shape[-1] == 4 else "RGB")
    else:
        colored = lut()[norm]
        if not finite.all():
            colored = np.concatenate([colored, (finite * 255).astype(np.uint8)[..., None]], axis=2)
        im = Image.fromarray(colored, "RGBA" if colored.shape[-1] == 4 else "RGB")
    if max(im.size) < 256:  # small arrays: blow up with nearest neighbour so cells are visible
        k = -(-256 // max(im.size))
        im = im.resize((im.width * k, im.height * k), Image.Resampling.NEAREST)
    if not rgb:
        label = " ".join(x for x in (label, f"colour range {lo:.4g} .. {hi:.4g}") if x)
    return im, label


def render(ref: BaseRef, path: Path, budget: Budget) -> Bundle:
    from ...arrays import load_array

    arr = load_array(path)
    size = path.stat().st_size
    shape = "x".join(str(s) for s in arr.shape) or "scalar"
    facts = [shape, str(arr.dtype), f"{arr.size:,} values", human_size(arr.nbytes)]
    st, sampled, looked = summary_stats(arr)
    note = f"statistics from a sample of {looked:,} of {arr.size:,} values" if sampled else ""
    text = preview_text(arr)
    if len(text) > 4000:
        text = text[:4000] + "\n..."
    body = stats(st) if st else ""
    pic = ""
    hm = heatmap(arr) if not budget.thumbnail or arr.ndim >= 2 else None
    if hm is not None:
        im, label = hm
        pic = picture(
            im,
            budget.media() - len(text) - 512,
            min(budget.max_edge, 512),
            alt=f"heatmap of {ref.id}",
            keep_png=True,
        )
        pic = figure(pic, label)
    if not budget.thumbnail:
        body += pre(text)
    body += pic
    return {
        "text/plain": plain(
            ref, f"shape=({', '.join(str(s) for s in arr.shape)})", arr.dtype, human_size(size)
        ),
        "text/html": frame(body, caption(ref, *facts, note=note)),
    }, {}


RENDERER = KindRenderer(render)
