"""`SplatViewer`: the interactive 3D view of Gaussian splats, an anywidget.

The browser side (WebGL2, sorting in a Web Worker, orbit/zoom/pan, up-axis toggle) is
built from `js/` into `static/viewer.js` when the package is built; nothing is fetched
at run time. Splats travel to the browser as one binary buffer, 32 bytes per splat,
laid out for direct upload as a GPU texture (see `pack`), never as JSON; and not as
widget state, which a saved notebook may hold: each view asks for them with a
"splats?" message, so a saved notebook stays small whatever the scene's size. The
packed splats may live in a file (`from_packed` with a path), read only when a view
asks: a re-display after a kernel restart then decodes nothing.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from .preview import UP_AXES, robust_bounds
from .spz import Splats

STATIC = Path(__file__).with_name("static") / "viewer.js"
MAX_VIEWER_SPLATS = 4_000_000  # 128 MB of GPU data; beyond this we show a sample
BYTES_PER_SPLAT = 32


def available() -> bool:
    """Whether the viewer's JavaScript was built into this installation."""
    return STATIC.is_file()


PACK_SLICE = 1 << 18  # splats packed per step: the covariance temporaries stay ~10 MB


def _covariances(log_scales: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Upper triangles (xx, xy, xz, yy, yz, zz) of R S S^T R^T, float32 (N, 6), written
    out per element (no (N, 3, 3) stacks)."""
    x, y, z, w = (rotations[:, i].astype(np.float32) for i in range(4))
    norm = np.sqrt(x * x + y * y + z * z + w * w)
    norm[norm == 0] = 1
    x, y, z, w = x / norm, y / norm, z / norm, w / norm
    r = (
        (1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)),
        (2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)),
        (2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)),
    )
    s2 = np.exp(2 * log_scales.astype(np.float32))  # squared scales, per column
    out = np.empty((len(x), 6), np.float32)
    for col, (i, j) in enumerate(((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))):
        out[:, col] = r[i][0] * r[j][0] * s2[:, 0] + r[i][1] * r[j][1] * s2[:, 1]
        out[:, col] += r[i][2] * r[j][2] * s2[:, 2]
    return out


def pack(splats: Splats) -> tuple[memoryview, float]:
    """The GPU layout: per splat eight u32 words, position x/y/z as float32, RGBA8
    colour, covariance as three half-float pairs, one spare. Covariances are stored
    divided by `cov_unit` (returned) so tiny and huge splats both fit float16.
    Built a slice at a time into one buffer, returned as a view of it (no copy)."""
    n = len(splats)
    words = np.zeros((n, 8), np.uint32)
    cov = np.empty((n, 6), np.float32)
    for lo in range(0, n, PACK_SLICE):
        part = slice(lo, lo + PACK_SLICE)
        words[part, 0:3] = np.ascontiguousarray(splats.positions[part], np.float32).view(np.uint32)
        rgba = np.empty((len(words[part]), 4), np.uint8)
        rgba[:, :3] = np.clip(np.rint(splats.colors[part] * 255), 0, 255)
        rgba[:, 3] = np.clip(np.rint(splats.opacities[part] * 255), 0, 255)
        words[part, 3] = rgba.view("<u4")[:, 0]
        cov[part] = _covariances(splats.log_scales[part], splats.rotations[part])
    typical = float(np.median(cov[:, [0, 3, 5]])) if n else 1.0
    cov_unit = typical if np.isfinite(typical) and typical > 0 else 1.0
    for lo in range(0, n, PACK_SLICE):
        part = slice(lo, lo + PACK_SLICE)
        halves = np.clip(cov[part] / np.float32(cov_unit), -60000, 60000).astype("<f2")
        words[part, 4:7] = halves.view("<u4")
    return memoryview(words.reshape(-1).view(np.uint8)), cov_unit


def _png(splats: Splats, up: str) -> bytes:
    from .preview import render

    out = io.BytesIO()
    render(splats, 640, 480, up=up).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _sample(splats: Splats, limit: int) -> Splats:
    """The most opaque `limit` splats (what a viewer loses least by dropping)."""
    keep = np.sort(np.argpartition(-splats.opacities, limit - 1)[:limit])
    return Splats(
        splats.positions[keep],
        splats.opacities[keep],
        splats.colors[keep],
        splats.log_scales[keep],
        splats.rotations[keep],
        splats.sh[keep],
        splats.sh_degree,
        splats.antialiased,
    )


def prepare(splats: Splats, total: int | None = None) -> tuple[memoryview, dict[str, Any]]:
    """The packed splats a view receives (a sample of the most opaque beyond
    `MAX_VIEWER_SPLATS`) and the traits that frame them (`count`, `total`, `center`,
    `radius`, `cov_unit`): everything `from_packed` needs, so both can be stored.
    `total`: how many splats `splats` samples, if more (see `splat.sample`)."""
    total = max(total or 0, len(splats))
    shown = _sample(splats, MAX_VIEWER_SPLATS) if total > MAX_VIEWER_SPLATS else splats
    data, cov_unit = pack(shown)
    center, radius = [0.0, 0.0, 0.0], 1.0
    if len(shown):
        lo, hi = robust_bounds(shown.positions)
        center = ((lo + hi) / 2).tolist()
        radius = max(float(np.linalg.norm(hi - lo)) / 2, 1e-3)
    traits = {"count": len(shown), "total": total, "center": center, "radius": radius}
    return data, {**traits, "cov_unit": cov_unit}


_MISSING = "export default { render({ el }) { el.textContent = 'The 3D viewer was not built.'; } };"


class SplatViewer(anywidget.AnyWidget):
    """An interactive WebGL2 view of Gaussian splats. Drag to orbit, right-drag to pan;
    click it, then the wheel or +/- zoom and the arrows orbit (0 resets); `up` ("y",
    "-y", "z", "-z") picks the up axis. Build one with `SplatViewer.from_splats(splats)`."""

    _esm = STATIC if available() else _MISSING
    count = traitlets.Int(0).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    center = traitlets.List(traitlets.Float(), [0.0, 0.0, 0.0]).tag(sync=True)
    radius = traitlets.Float(1.0).tag(sync=True)
    cov_unit = traitlets.Float(1.0).tag(sync=True)
    up = traitlets.Enum(list(UP_AXES), "y").tag(sync=True)
    height = traitlets.Int(420).tag(sync=True)
    preview = traitlets.Bytes(b"").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)  # plain text, shown as text (never HTML)

    def __init__(self, data: bytes | Path = b"", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._source = data if isinstance(data, Path) else None
        self._data = b"" if isinstance(data, Path) else bytes(data)
        self.on_msg(self._on_message)

    @property
    def data(self) -> bytes:
        """The packed splats (see `pack`) that views receive; read from the file each
        time if they live in one (empty if it has gone since)."""
        if self._source is None:
            return self._data
        try:
            return self._source.read_bytes()
        except OSError:
            return b""

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "splats?":
            self.send({"type": "splats", "count": self.count}, buffers=[self.data])

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget view plus the static picture: exported HTML, GitHub and untrusted
        notebooks show the picture where the widget cannot run."""
        bundle = super()._repr_mimebundle_(**kwargs)  # anywidget: (data, metadata)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if data is not None and self.preview:
            data["image/png"] = base64.b64encode(self.preview).decode("ascii")
        return bundle

    @classmethod
    def from_splats(
        cls,
        splats: Splats,
        up: str = "y",
        height: int = 420,
        preview_png: bytes | None = None,
        title: str = "",
    ) -> SplatViewer:
        """A viewer of `splats` (a sample of the most opaque if there are more than
        `MAX_VIEWER_SPLATS`). `preview_png` is the static picture shown where the widget
        cannot run (None: rendered here with `preview.render`; b"": none)."""
        if preview_png is None:
            preview_png = _png(splats, up) if len(splats) else b""
        data, traits = prepare(splats)
        return cls.from_packed(data, traits, up, height, preview_png, title)

    @classmethod
    def from_packed(
        cls,
        data: bytes | Path,
        traits: dict[str, Any],
        up: str = "y",
        height: int = 420,
        preview_png: bytes = b"",
        title: str = "",
    ) -> SplatViewer:
        """A viewer of splats already packed by `prepare` (`data` as bytes, or the file
        they were saved to) with the `traits` it returned."""
        if up not in UP_AXES:
            raise ValueError(f"up must be one of {', '.join(UP_AXES)}, not {up!r}")
        if not available():
            raise RuntimeError(
                "the 3D viewer's JavaScript is missing from this installation "
                "(build it with `npm --prefix js ci && npm --prefix js run build`)"
            )
        names = ("count", "total", "center", "radius", "cov_unit")
        framing = {name: traits[name] for name in names}
        return cls(data=data, **framing, up=up, height=height, preview=preview_png, title=title)
