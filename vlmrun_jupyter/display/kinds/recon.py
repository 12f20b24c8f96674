"""3D reconstructions (SPZ Gaussian splats): an interactive viewer in a live kernel, and
always a picture rendered from the splats plus a summary (point count, robust bounds,
SH degree, file size).

The picture is a real splat rendering (`splat.preview`), so exported HTML, GitHub and
untrusted notebooks show the scene, not just numbers. The interactive viewer
(`splat.viewer.SplatViewer`, WebGL2; `kinds.KINDS["recon"].viewer`) is added by `live`
as a widget view on top of it: frontends that can run widgets show the viewer, the
others fall back to the picture. The picture needs no spherical harmonics (they are not
decoded), and the viewer's packed splats are stored beside the artifact, so a re-display
after a kernel restart decodes nothing: the picture comes from the stored preview and the
splats are read from that file when a view asks for them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...refs import BaseRef
from ...session import cache_for
from ..budget import Budget, Bundle, decode_budget, over_decode_budget
from ..html import caption, frame, human_size, plain
from ..kernel import in_kernel as _kernel_shows_widgets
from ..pictures import encode_fit, picture_bundle
from ..registry import KindRenderer

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

VERSION = 3
VIEWER_DATA = "viewer.v1"  # the packed splats' file names beside the artifact
INSIDE_A_CARD = "display the ref alone in a live kernel for the interactive 3D viewer"
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

    splats = spz.decode(_within_budget(path), sh=False)
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
    if budget.html_only:  # inside a result card: say where the viewer is
        detail = f"{detail}; {INSIDE_A_CARD}"
    cap = caption(ref, *facts) if budget.thumbnail else caption(ref, *facts, note=detail)
    return picture_bundle(text, enc, cap, ref.id, budget)


def _write(target: Path, payload: bytes) -> None:
    """Atomically (a reader never sees half a file)."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _within_budget(path: Path) -> bytes:
    """The file's bytes once its header shows decoding fits the decode budget."""
    from ...splat import spz

    data = path.read_bytes()
    needs, limit = spz.decoded_bytes(data), decode_budget()
    if needs > limit:
        raise over_decode_budget(
            f"this splat of {needs // spz.BYTES_PER_POINT:,} points", needs, limit
        )
    return data


def _packed(ref: BaseRef, path: Path) -> tuple[bytes | Path, dict[str, Any]]:
    """The viewer's packed splats and framing: from the files beside the artifact when
    they belong to this download of it, else decoded (no SH), packed and stored there."""
    from ...splat import spz, viewer

    st = path.stat()
    stamp = [st.st_size, st.st_ino]
    try:
        cache = cache_for(ref)
        data_file = cache.preview_path(ref, f"{VIEWER_DATA}.bin")
        traits_file = cache.preview_path(ref, f"{VIEWER_DATA}.json")
    except Exception:
        data_file = traits_file = None
    if data_file is not None and traits_file is not None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            traits = json.loads(traits_file.read_text("utf-8"))
            size = traits["count"] * viewer.BYTES_PER_SPLAT
            if traits["stamp"] == stamp and data_file.stat().st_size == size:
                return data_file, traits
    data, traits = viewer.prepare(spz.decode(_within_budget(path), sh=False))
    traits["stamp"] = stamp
    if data_file is None or traits_file is None:
        return data, traits
    try:
        _write(data_file, data)
        _write(traits_file, json.dumps(traits).encode())
        cache.note(data_file)  # counted toward the cache's size cap, evicted with the artifact
        cache.note(traits_file)
    except OSError:
        return data, traits
    return data_file, traits


def live(ref: BaseRef, data: dict[str, Any]) -> dict[str, Any]:
    """The widget view of an interactive viewer of the splats (empty without a kernel;
    the kernel is asked first, so no widget library is imported where none can show)."""
    if not _kernel_shows_widgets():
        return {}
    from ...splat import viewer

    if not viewer.available():
        return {}
    packed, traits = _packed(ref, ref.fetch())
    if not traits["count"]:
        return {}
    png = data.get("image/png")
    widget = viewer.SplatViewer.from_packed(
        packed,
        traits,
        preview_png=base64.b64decode(png) if isinstance(png, str) else b"",
        title=f"{type(ref).__name__} · {ref.id}",
    )
    view = widget._repr_mimebundle_()
    view = view[0] if isinstance(view, tuple) else view
    return {WIDGET_VIEW: view[WIDGET_VIEW]} if WIDGET_VIEW in view else {}


RENDERER = KindRenderer(render, version=VERSION, live=live)
