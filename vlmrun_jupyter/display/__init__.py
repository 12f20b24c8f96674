"""Display: artifact refs and typed results as MIME bundles (design section 4).

- `ref_bundle(ref, include=None, exclude=None)` -> `(data, metadata)`: what
  `BaseRef._repr_mimebundle_` returns (`pipeline`: fetch -> stored preview -> render
  -> budget -> memo). `ref_html(ref)` is its HTML.
- `result_bundle(obj, include=None, exclude=None)` -> `data`: result cards and
  galleries (`card`).
- `set_inline_budget(nbytes)` / `inline_budget()`: the per-output byte budget (default
  2 MiB, or `VLMRUN_INLINE_BUDGET`); `Budget`, `bundle_size` (`budget`).
- `render_path(ref, path, budget)`: a local file through its kind's renderer.
- `show(ref, width=)` / `gallery(refs, columns=)`: size controls (`sizing`).

Renderers are found from `kinds.KINDS[kind].renderer` (`registry`, one module a kind
under `display/kinds/`); markup is written only by `html`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each public name -> the submodule defining it, imported on first use: a ref's display
# needs only `pipeline`, so a warm display after a kernel restart does not import cards,
# galleries or the document pager (see bench/render_display.py).
_LAZY = {
    "Budget": "budget",
    "bundle_size": "budget",
    "inline_budget": "budget",
    "set_inline_budget": "budget",
    "result_bundle": "card",
    "document_page": "docpages",
    "document_pages": "docpages",
    "ref_bundle": "pipeline",
    "ref_html": "pipeline",
    "render_path": "registry",
    "gallery": "sizing",
    "show": "sizing",
}

if TYPE_CHECKING:  # pragma: no cover
    from .budget import Budget, bundle_size, inline_budget, set_inline_budget
    from .card import result_bundle
    from .docpages import document_page, document_pages
    from .pipeline import ref_bundle, ref_html
    from .registry import render_path
    from .sizing import gallery, show


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:  # also how `from . import html` falls through to the submodule
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Budget",
    "ref_bundle",
    "ref_html",
    "result_bundle",
    "render_path",
    "set_inline_budget",
    "inline_budget",
    "bundle_size",
    "show",
    "gallery",
    "document_page",
    "document_pages",
]
