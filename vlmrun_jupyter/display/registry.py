"""Which renderer draws which kind: the `Renderer` protocol and the registry.

`kinds.KINDS[name].renderer` names each kind's module (`display/kinds/<name>.py`); the
module's `RENDERER` is imported the first time that kind is displayed. Kind modules
import their codecs (PIL, PyAV, pdfium, numpy, the splat decoder) inside the functions
that decode, so reading a renderer's `version` is cheap: re-displaying a stored
preview after a kernel restart imports no codec.

A renderer is a pure function of the file, so it can be tested on local media without a
server. It may raise anything: the pipeline turns exceptions into an error card.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..kinds import KINDS
from ..refs import BaseRef
from .budget import Budget, Bundle, MimeDict, bundle_size

log = logging.getLogger(__name__)


class Renderer(Protocol):
    """What a kind's module exports as `RENDERER`.

    `render` returns a MIME dict (`text/plain` and `text/html` at least) and IPython's
    per-MIME metadata, within `budget.bytes` (`budget.bundle_size`). `version`: bump it
    when the output changes, so previews stored on disk are redone. `disk_cache`: whether
    bundles may be stored beside the artifact. `live`, if set, adds parts that belong to
    the running kernel (recon's widget view): added to full-size displays only, kept on
    the ref, never stored on disk, so a saved notebook still carries the static bundle.
    `viewer`, if set, makes that live viewer as a widget (None where none can show), and
    `viewer_name` says what it is ("3D viewer"): a result card offers it per ref.
    """

    version: int
    disk_cache: bool

    def render(self, ref: BaseRef, path: Path, budget: Budget) -> Bundle: ...

    @property
    def live(self) -> Callable[[BaseRef, MimeDict], MimeDict] | None: ...

    @property
    def viewer(self) -> Callable[[BaseRef, MimeDict], Any] | None: ...

    @property
    def viewer_name(self) -> str: ...


@dataclass(frozen=True)
class KindRenderer:
    """A `Renderer` made of a kind module's functions."""

    render: Callable[[BaseRef, Path, Budget], Bundle]
    version: int = 1
    disk_cache: bool = True
    live: Callable[[BaseRef, MimeDict], MimeDict] | None = None
    viewer: Callable[[BaseRef, MimeDict], Any] | None = None
    viewer_name: str = "viewer"


_lock = threading.Lock()
_renderers: dict[str, Renderer] = {}


def renderer_for(kind: str) -> Renderer | None:
    """The renderer of a kind in `kinds.KINDS` (imported on first use), else None."""
    with _lock:
        found = _renderers.get(kind)
    if found is not None or kind not in KINDS:
        return found
    renderer: Renderer = importlib.import_module(KINDS[kind].renderer).RENDERER
    with _lock:
        return _renderers.setdefault(kind, renderer)


def renderer_id(kind: str) -> str:
    """Which renderer produced a stored preview: a preview made by the summary fallback
    (or an older `version`) is not reused once a newer renderer is installed."""
    try:
        renderer = renderer_for(kind)
    except Exception:
        return "broken"
    return "summary" if renderer is None else f"{kind}:{renderer.version}"


def disk_cacheable(kind: str) -> bool:
    """Whether a kind's bundles may be stored on disk."""
    try:
        renderer = renderer_for(kind)
    except Exception:
        return False
    return renderer is None or renderer.disk_cache


def live_hook(kind: str) -> Callable[[BaseRef, MimeDict], MimeDict] | None:
    """The kind's kernel-bound addition to a display, if it has one."""
    renderer = renderer_for(kind)
    return renderer.live if renderer is not None else None


def viewer_hook(kind: str) -> tuple[Callable[[BaseRef, MimeDict], Any], str] | None:
    """The kind's live viewer maker and its name ("3D viewer"), if it has one."""
    renderer = renderer_for(kind)
    make = getattr(renderer, "viewer", None)
    return (make, getattr(renderer, "viewer_name", "viewer")) if make is not None else None


def render_path(ref: BaseRef, path: Path, budget: Budget, kind: str | None = None) -> Bundle:
    """Render a local file as `kind` (default: the ref's kind) within `budget`.
    Raises what the renderer raises; falls back to the summary card if it has no
    renderer or overshoots the budget."""
    from . import summary  # the fallback only: a stored preview's display never needs it

    kind = kind or ref.kind
    renderer = renderer_for(kind)
    if renderer is None:
        data, md = summary.render(ref, path, budget)
    else:
        data, md = renderer.render(ref, path, budget)
    data, md = dict(data), dict(md or {})
    if bundle_size(data, md) > budget.bytes:
        log.debug("%s renderer overshot the budget for %s", kind, ref.id)
        data, md = summary.render(ref, path, budget, note="preview over budget")
    data.setdefault("text/plain", f"<{type(ref).__name__} {ref.id}>")
    return data, md


__all__ = [
    "Bundle",
    "MimeDict",
    "Renderer",
    "KindRenderer",
    "renderer_for",
    "renderer_id",
    "disk_cacheable",
    "live_hook",
    "viewer_hook",
    "render_path",
]
