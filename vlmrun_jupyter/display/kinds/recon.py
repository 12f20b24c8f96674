"""3D reconstructions (SPZ Gaussian splats): an interactive viewer in a live kernel, and
always a picture rendered from the splats plus a summary (point count, robust bounds,
SH degree, file size).

The picture is a real splat rendering (`splat.preview`), so exported HTML, GitHub and
untrusted notebooks show the scene, not just numbers. The interactive viewer
(`splat.viewer.SplatViewer`, WebGL2; `kinds.KINDS["recon"].viewer`) is added by `live`
as a widget view on top of it: frontends that can run widgets show the viewer, the
others fall back to the picture.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...refs import BaseRef
from ..budget import Budget, Bundle
from ..html import caption, frame, human_size, plain
from ..pictures import encode_fit, picture_bundle
from ..registry import KindRenderer

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

VERSION = 2
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _bounds(positions: np.ndarray) -> str:
    from ...splat import preview

    lo, hi = preview.robust_bounds(positions)
    spans = (
        f"{axis}[{low:.2f}, {high:.2f}]" for axis, low, high in zip("xyz", lo, hi, strict=True)
    )
    return "bounds " + " ".join(spans)


def render(ref: BaseRef, path: Path, budget: Budget) -> Bundle:
    from ...splat import preview, spz

    splats = spz.decode(path.read_bytes())
    facts = (
        f"{len(splats):,} points",
        f"SH degree {splats.sh_degree}",
        human_size(path.stat().st_size),
    )
    size = (320, 240) if budget.thumbnail else (640, 480)
    picture = preview.render(splats, *size) if len(splats) else None
    text = plain(ref, *facts)
    detail = _bounds(splats.positions) if len(splats) else "empty scene"
    copies = 1 if budget.html_only else 2
    enc = encode_fit(picture, budget.media(copies), max(size), keep_png=True) if picture else None
    if enc is None:
        html = frame("", caption(ref, *facts, note=detail), bordered=True)
        return {"text/plain": text, "text/html": html}, {}
    cap = caption(ref, *facts) if budget.thumbnail else caption(ref, *facts, note=detail)
    return picture_bundle(text, enc, cap, ref.id, budget)


def _kernel_shows_widgets() -> bool:
    """Widgets need a kernel with a comm channel (not a terminal IPython or a script)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def live(ref: BaseRef, data: dict[str, Any]) -> dict[str, Any]:
    """The widget view of an interactive viewer of the splats (empty without a kernel)."""
    from ...splat import spz, viewer

    if not (_kernel_shows_widgets() and viewer.available()):
        return {}
    splats = spz.decode(ref.fetch().read_bytes())
    if not len(splats):
        return {}
    png = data.get("image/png")
    widget = viewer.SplatViewer.from_splats(
        splats,
        preview_png=base64.b64decode(png) if isinstance(png, str) else b"",
        title=f"{type(ref).__name__} · {ref.id}",
    )
    view = widget._repr_mimebundle_()
    view = view[0] if isinstance(view, tuple) else view
    return {WIDGET_VIEW: view[WIDGET_VIEW]} if WIDGET_VIEW in view else {}


RENDERER = KindRenderer(render, version=VERSION, live=live)
