"""Size controls people know from `IPython.display.Image(width=)` and mediapy's
`show_images(width=, columns=)`: `ref.show(width=480)` and `gallery(refs, columns=3)`.

Both are display objects (HTML in a notebook, the refs' text elsewhere) within the one
inline budget: a gallery shares it among its cells like a result card does, and a
click on a thumbnail opens a larger view below it (`<details>`, no script).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..refs import BaseRef, coerce_ref
from . import html as h
from .budget import Budget, default_budget
from .pipeline import filter_bundle, ref_bundle

THUMB_EDGE = 480
LARGE_EDGE = 1280


class Shown:
    """One ref shown at most `width` CSS pixels wide (the picture scales with it)."""

    def __init__(self, ref: BaseRef, width: int | None = None) -> None:
        self.ref, self.width = ref, width

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        data, meta = ref_bundle(self.ref)
        if self.width and "text/html" in data:
            data = {**data, "text/html": h.sized(data["text/html"], self.width)}
        return filter_bundle((data, meta), include, exclude)

    def __repr__(self) -> str:
        return repr(self.ref)


class Gallery:
    """Refs in a grid of `columns` equal columns (or cells `width` pixels wide)."""

    def __init__(self, refs: Iterable[Any], columns: int | None = None, width: int | None = None):
        self.refs = [r for r in (coerce_ref(x) for x in refs) if r is not None]
        self.columns, self.width = columns, width

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        room = max(0, default_budget().bytes // max(1, len(self.refs)) - 512)
        # a third of each share for the thumbnail, the rest for the view a click opens
        thumb = Budget(room // 3, max_edge=THUMB_EDGE, html_only=True, thumbnail=True)
        large = Budget(room - room // 3, max_edge=LARGE_EDGE, html_only=True)
        cells = []
        for ref in self.refs:
            small = ref_bundle(ref, budget=thumb)[0].get("text/html")
            if small is None:
                cells.append(h.chip(f"{type(ref).__name__} {ref.id}"))
                continue
            big = ref_bundle(ref, budget=large)[0].get("text/html")
            cells.append(h.enlargeable(small, big) if big else small)
        body = h.grid(cells, self.width or 200, None if self.width else (self.columns or 3))
        text = "\n".join(repr(r) for r in self.refs)
        return filter_bundle(({"text/plain": text, "text/html": body}, {}), include, exclude)

    def __repr__(self) -> str:
        return f"Gallery({len(self.refs)} refs)"


def show(ref: Any, width: int | None = None) -> Shown:
    """`ref` (ours or the SDK's) shown at most `width` CSS pixels wide."""
    found = coerce_ref(ref)
    if found is None:
        raise TypeError(f"not an artifact ref: {type(ref).__name__}")
    return Shown(found, width)


def gallery(refs: Iterable[Any], columns: int | None = 3, width: int | None = None) -> Gallery:
    """Refs side by side: `columns` equal columns, or fixed cells `width` pixels wide."""
    return Gallery(refs, columns=columns, width=width)


__all__ = ["show", "gallery", "Shown", "Gallery"]
