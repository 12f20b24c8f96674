"""Images: a JPEG (PNG when there is transparency), long edge <= 1280 px, within budget."""

from __future__ import annotations

from pathlib import Path

from ...refs import BaseRef
from ..budget import Budget, Bundle
from ..html import caption, frame, human_size, omitted, plain
from ..pictures import encode_fit, open_image, picture_bundle
from ..registry import KindRenderer


def render(ref: BaseRef, path: Path, budget: Budget) -> Bundle:
    """image/jpeg|png + HTML (the same picture) + text/plain."""
    im, fmt, (W, H) = open_image(path, budget.max_edge)
    size = path.stat().st_size
    facts = (f"{W}x{H}", fmt, human_size(size))
    copies = 1 if budget.html_only else 2  # the picture sits in image/* and in the HTML
    enc = encode_fit(im, budget.media(copies), budget.max_edge)
    text = plain(ref, *facts)
    if enc is None:
        return {"text/plain": text, "text/html": frame(omitted(), caption(ref, *facts))}, {}
    _, _, w, h = enc
    note = f"shown at {w}x{h}" if (w, h) != (W, H) and not budget.thumbnail else ""
    cap = caption(ref, f"{W}x{H}") if budget.thumbnail else caption(ref, *facts, note=note)
    return picture_bundle(text, enc, cap, ref.id, budget)


RENDERER = KindRenderer(render)
