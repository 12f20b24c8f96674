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

from .budget import Budget, bundle_size, inline_budget, set_inline_budget
from .card import result_bundle
from .docpages import document_page, document_pages
from .pipeline import ref_bundle, ref_html
from .registry import render_path
from .sizing import gallery, show

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
