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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..._files import write_atomic
from ...refs import BaseRef
from ...session import cache_for
from ..budget import Budget, Bundle, decode_budget
from ..html import caption, frame, human_size, plain
from ..kernel import WIDGET_VIEW as WIDGET_VIEW  # tests and callers read it here
from ..kernel import in_kernel as _kernel_shows_widgets
from ..kernel import widget_view
from ..pictures import encode_fit, picture_bundle
from ..registry import KindRenderer

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# 4: pictures from a strided sample, one decode for picture and viewer; 5: the card's hint
VERSION = 5
VIEWER_DATA = "viewer.v1"  # the packed splats' file names beside the artifact
VIEWER_NAME = "3D viewer"
INSIDE_A_CARD = (
    f"in a live kernel, “open {VIEWER_NAME}” under the card (or the ref displayed alone) "
    "shows the interactive viewer"
)


def _bounds(positions: np.ndarray) -> str:
    from ...splat import preview

    lo, hi = preview.robust_bounds(positions)
    spans = (
        f"{axis}[{low:.2f}, {high:.2f}]" for axis, low, high in zip("xyz", lo, hi, strict=True)
    )
    return "bounds " + " ".join(spans)


def render(ref: BaseRef, path: Path, budget: Budget) -> Bundle:
    from ...splat import preview
    from ...splat.sample import sample

    live_next = not (budget.html_only or budget.thumbnail) and _viewer_follows()
    with _mapped(path) as data:
        if live_next:  # one decode serves the picture and the viewer that follows
            splats, total = _viewer_splats(data)
            _packed(ref, path, (splats, total))
        else:
            splats, total = sample(data, preview.MAX_SPLATS)
    facts = (f"{total:,} points", f"SH degree {splats.sh_degree}", human_size(path.stat().st_size))
    size = (320, 240) if budget.thumbnail else (640, 480)
    picture = preview.render(splats, *size, total=total) if len(splats) else None
    text = plain(ref, *facts)
    detail = _bounds(splats.positions) if len(splats) else "empty scene"
    if live_next and len(splats) < total:
        detail = f"{detail}; the viewer shows {len(splats):,} of them (VLMRUN_MAX_DECODE_BYTES)"
    del splats
    copies = 1 if budget.html_only else 2
    enc = encode_fit(picture, budget.media(copies), max(size), keep_png=True) if picture else None
    if enc is None:
        html = frame("", caption(ref, *facts, note=detail), bordered=True)
        return {"text/plain": text, "text/html": html}, {}
    if budget.html_only:  # inside a result card: say where the viewer is
        detail = f"{detail}; {INSIDE_A_CARD}"
    cap = caption(ref, *facts) if budget.thumbnail else caption(ref, *facts, note=detail)
    return picture_bundle(text, enc, cap, ref.id, budget)


@contextlib.contextmanager
def _mapped(path: Path):
    """The file's bytes, mapped rather than read: decoding touches only the parts it
    needs (a picture's sample reads the first 30% of a v3 file), and they stay in the
    page cache instead of being copied to the heap."""
    import mmap

    with path.open("rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            yield b""
            return
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            yield data
        finally:  # an error's traceback may still hold views of it: then it closes when
            with contextlib.suppress(BufferError):  # they go, and the error shows
                data.close()


def _viewer_follows() -> bool:
    """Whether a live viewer will be asked for after this picture (so one decode can
    serve both)."""
    if not _kernel_shows_widgets():
        return False
    from ...splat import viewer

    return viewer.available()


def _viewer_splats(data: Any) -> tuple[Any, int]:
    """(splats, the file's point count) for the viewer: all of them (no SH) when the
    decode budget holds them, else every k-th point, as many as the budget holds."""
    from ...splat import spz
    from ...splat.sample import sample

    limit = decode_budget()
    if spz.decoded_bytes(data) > limit:
        return sample(data, limit // spz.BYTES_PER_POINT)
    splats = spz.decode(data, sh=False)
    return splats, len(splats)


def _packed(
    ref: BaseRef, path: Path, decoded: tuple[Any, int] | None = None
) -> tuple[bytes | Path, dict[str, Any]]:
    """The viewer's packed splats and framing: from the files beside the artifact when
    they belong to this download of it, else packed from `decoded` (or a decode, no SH,
    sampled past the decode budget) and stored there."""
    from ...splat import viewer

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
    if decoded is None:
        with _mapped(path) as mapped:
            decoded = _viewer_splats(mapped)
    data, traits = viewer.prepare(*decoded)
    del decoded
    traits["stamp"] = stamp
    if data_file is None or traits_file is None:
        return data, traits
    try:
        write_atomic(data_file, data)
        write_atomic(traits_file, json.dumps(traits).encode())
        cache.note(data_file)  # counted toward the cache's size cap, evicted with the artifact
        cache.note(traits_file)
    except OSError:
        return data, traits
    return data_file, traits


def make_viewer(ref: BaseRef, data: dict[str, Any]) -> Any:
    """An interactive viewer of the splats (None without a kernel or for an empty scene;
    the kernel is asked first, so no widget library is imported where none can show).
    `data`: the static bundle, whose picture the viewer keeps for where it cannot run."""
    if not _kernel_shows_widgets():
        return None
    from ...splat import viewer

    if not viewer.available():
        return None
    packed, traits = _packed(ref, ref.fetch())
    if not traits["count"]:
        return None
    png = data.get("image/png")
    return viewer.SplatViewer.from_packed(
        packed,
        traits,
        preview_png=base64.b64decode(png) if isinstance(png, str) else b"",
        title=f"{type(ref).__name__} · {ref.id}",
    )


def live(ref: BaseRef, data: dict[str, Any]) -> dict[str, Any]:
    """The widget view of `make_viewer` (empty without a kernel)."""
    return widget_view(make_viewer(ref, data))


RENDERER = KindRenderer(
    render, version=VERSION, live=live, viewer=make_viewer, viewer_name=VIEWER_NAME
)
