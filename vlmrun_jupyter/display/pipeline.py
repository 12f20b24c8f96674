"""Rendering: artifact refs and typed results as MIME bundles.

Entry points:

- `ref_bundle(ref, include=None, exclude=None)` -> `(data, metadata)`: what
  `BaseRef._repr_mimebundle_` returns. The first display fetches the artifact
  (through the cache), renders it, and keeps the bundle (on the ref object, per
  budget, and on disk beside the artifact as `<object_id>.preview.<key>.json`), so
  `_repr_html_` right after, or a re-display after a kernel restart, costs nothing.
- `result_bundle(obj, include=None, exclude=None)` -> `data`: result cards and
  galleries (see `card.py`).
- `set_inline_budget(nbytes)`: the per-output byte budget (default 2 MiB, or
  `VLMRUN_INLINE_BUDGET`).

Per-kind plug-in interface: a module `vlmrun_jupyter.render.<ref.kind>` (image,
video, audio, document, recon, array, url) defining

    def render(ref, path: Path, budget: Budget) -> dict | tuple[dict, dict]

which returns a MIME dict (`text/plain` and `text/html` at least), optionally with
IPython's per-MIME metadata dict, whose total size (`budget.bundle_size`) fits
`budget.bytes`. Bundles are cached on disk beside the artifact unless the module
sets `DISK_CACHE = False`; bump a module-level `VERSION = n` when its output changes so
stored previews are redone. The in-memory cache on the ref object applies to every kind. It may raise anything: the caller turns exceptions into an error
card. A kind without a module (e.g. recon before `render/recon.py` exists) gets
the summary card from `summary.py`. A module may also define

    def live(ref, data: dict) -> dict

for parts that belong to the running kernel, such as a widget view (recon's 3D
viewer): added to full-size displays only, kept on the ref, never stored on disk, so
a saved notebook still carries the static bundle. Failures there are ignored. Renderers are pure functions of the file, so
they can be tested on local media without a server.

A repr never raises: every failure becomes an error card (`errors.py`).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from .budget import Budget, bundle_size, default_budget, inline_budget, set_inline_budget
from .errors import error_bundle

log = logging.getLogger(__name__)

PREVIEW_VERSION = 1
ERROR_TTL = 2.0  # seconds an error card is reused (IPython may ask twice in a row)

Bundle = tuple[dict[str, Any], dict[str, Any]]


# -- per-kind dispatch ------------------------------------------------------------------------


def _kind_module(kind: str) -> Any | None:
    """The renderer module for a kind, or None if there is none (yet)."""
    if not kind.isidentifier():
        return None
    name = f"{__name__}.{kind}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


def _normalize(out: Any) -> Bundle:
    if isinstance(out, tuple) and len(out) == 2:
        data, md = out
    else:
        data, md = out, {}
    return dict(data), dict(md or {})


def renderer_id(kind: str) -> str:
    """Which renderer produced a stored preview: a preview made by the summary fallback
    (or an older module `VERSION`) is not reused once a newer renderer is installed."""
    try:
        module = _kind_module(kind)
    except Exception:
        return "broken"
    if module is None or not hasattr(module, "render"):
        return "summary"
    return f"{kind}:{getattr(module, 'VERSION', 1)}"


def disk_cacheable(kind: str) -> bool:
    """Whether a kind's bundles may be stored on disk (see the module docstring)."""
    try:
        module = _kind_module(kind)
    except Exception:
        return False
    return bool(getattr(module, "DISK_CACHE", True)) if module is not None else True


def render_path(ref: Any, path: Path, budget: Budget, kind: str | None = None) -> Bundle:
    """Render a local file as `kind` (default: the ref's kind) within `budget`.
    Raises what the renderer raises; falls back to the summary card if it overshoots."""
    from . import summary

    kind = kind or getattr(ref, "kind", "")
    module = _kind_module(kind)
    if module is None or not hasattr(module, "render"):
        data, md = _normalize(summary.render(ref, path, budget))
    else:
        data, md = _normalize(module.render(ref, path, budget))
    if bundle_size(data, md) > budget.bytes:
        log.debug("%s renderer overshot the budget for %s", kind, getattr(ref, "id", "?"))
        data, md = _normalize(summary.render(ref, path, budget, note="preview over budget"))
    data.setdefault("text/plain", f"<{type(ref).__name__} {getattr(ref, 'id', '?')}>")
    return data, md


# -- the per-object memo (the bundle cached "on the ref") -------------------------------------

_memo_lock = threading.Lock()
_memo: dict[int, tuple[weakref.ref, dict[str, tuple[float, Bundle]]]] = {}


def _memo_key(ref: Any, budget: Budget) -> str:
    ns = getattr(ref, "namespace", None)
    return f"{ns.kind if ns else '-'}:{ns.id if ns else '-'}:{budget.key}"


def _memo_get(ref: Any, key: str) -> Bundle | None:
    with _memo_lock:
        entry = _memo.get(id(ref))
        if entry is None or entry[0]() is not ref:
            return None
        hit = entry[1].get(key)
    if hit is None:
        return None
    expires, bundle = hit
    if expires and time.monotonic() > expires:
        return None
    return bundle


def _memo_put(ref: Any, key: str, bundle: Bundle, ttl: float | None = None) -> None:
    expires = time.monotonic() + ttl if ttl else 0.0
    oid = id(ref)
    try:
        wr = weakref.ref(ref, lambda _r, oid=oid: _forget(oid))
    except TypeError:  # not weak-referenceable: skip the memo
        return
    with _memo_lock:
        entry = _memo.get(oid)
        if entry is None or entry[0]() is not ref:
            entry = (wr, {})
            _memo[oid] = entry
        entry[1][key] = (expires, bundle)


def _forget(oid: int) -> None:
    with _memo_lock:
        entry = _memo.get(oid)
        if entry is not None and entry[0]() is None:
            del _memo[oid]


def forget(ref: Any) -> None:
    """Drop the in-memory bundles of `ref` (the next display renders again, from disk)."""
    with _memo_lock:
        _memo.pop(id(ref), None)


# -- the on-disk preview cache ----------------------------------------------------------------


def _preview_file(ref: Any, budget: Budget) -> Path | None:
    try:
        from ..cache import preview_path

        return preview_path(ref, f"{budget.key}.v{PREVIEW_VERSION}.json")
    except Exception:
        return None


def _stamp(path: Path) -> list[int]:
    """Identifies one download of the artifact (the cache touches mtimes for its LRU,
    and a re-download is a new file)."""
    st = path.stat()
    return [st.st_size, st.st_ino]


def _disk_get(ref: Any, path: Path, budget: Budget) -> Bundle | None:
    pf = _preview_file(ref, budget)
    if pf is None:
        return None
    try:
        saved = json.loads(pf.read_text("utf-8"))
        if saved.get("stamp") != _stamp(path) or saved.get("renderer") != renderer_id(
            getattr(ref, "kind", "")
        ):
            return None
        return dict(saved["data"]), dict(saved.get("metadata") or {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _disk_put(ref: Any, path: Path, budget: Budget, bundle: Bundle) -> None:
    pf = _preview_file(ref, budget)
    if pf is None:
        return
    record = {
        "stamp": _stamp(path),
        "renderer": renderer_id(getattr(ref, "kind", "")),
        "data": bundle[0],
        "metadata": bundle[1],
    }
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=pf.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(tmp, pf)
    except (OSError, TypeError, ValueError):
        with contextlib.suppress(Exception):
            os.unlink(tmp)


# -- public entry points ----------------------------------------------------------------------


def _filter(bundle: Bundle, include: Any, exclude: Any) -> Bundle:
    data, md = bundle
    if include:
        data = {k: v for k, v in data.items() if k in include}
        md = {k: v for k, v in md.items() if k in include}
    if exclude:
        data = {k: v for k, v in data.items() if k not in exclude}
        md = {k: v for k, v in md.items() if k not in exclude}
    return data, md


def _compute(ref: Any, budget: Budget, path: Path | BaseException | None = None) -> Bundle:
    """Fetch (unless given), then render from disk preview or afresh; errors become cards."""
    key = _memo_key(ref, budget)
    if path is None:
        try:
            ref.require_namespace()  # say "unbound" before "not configured"
            path = ref.fetch()
        except Exception as exc:
            path = exc
    if isinstance(path, BaseException):
        bundle: Bundle = (error_bundle(path, ref), {})
        _memo_put(ref, key, bundle, ttl=ERROR_TTL)
        return bundle
    try:
        on_disk = disk_cacheable(getattr(ref, "kind", ""))
        bundle = (on_disk and _disk_get(ref, path, budget)) or ()  # type: ignore[assignment]
        if not bundle:
            bundle = render_path(ref, path, budget)
            if on_disk:
                _disk_put(ref, path, budget, bundle)
        _memo_put(ref, key, bundle)
        return bundle
    except Exception as exc:
        bundle = (error_bundle(exc, ref, path), {})
        _memo_put(ref, key, bundle, ttl=ERROR_TTL)
        return bundle


def ref_bundle(
    ref: Any,
    include: Any = None,
    exclude: Any = None,
    *,
    budget: Budget | None = None,
    path: Path | BaseException | None = None,
) -> Bundle:
    """`(data, metadata)` for one ref; never raises. `path`: an already fetched file (or
    the exception fetching it raised), as galleries pass after `fetch_all`."""
    try:
        budget = budget or default_budget()
        cached = _memo_get(ref, _memo_key(ref, budget))
        bundle = cached if cached is not None else _compute(ref, budget, path)
        if not (budget.html_only or budget.thumbnail):
            bundle = _with_live(ref, bundle)
        return _filter(bundle, include, exclude)
    except Exception as exc:  # the last line of defence
        try:
            return _filter((error_bundle(exc, ref), {}), include, exclude)
        except Exception:
            return {"text/plain": f"<{type(ref).__name__}>"}, {}


def _with_live(ref: Any, bundle: Bundle) -> Bundle:
    """`bundle` plus the kind's kernel-bound parts (see the module docstring)."""
    module = _kind_module(getattr(ref, "kind", ""))
    live = getattr(module, "live", None)
    if live is None:
        return bundle
    hit = _memo_get(ref, "live")
    if hit is None:
        try:
            hit = (dict(live(ref, bundle[0]) or {}), {})
            _memo_put(ref, "live", hit)
        except Exception as exc:
            log.debug("no live view for %s: %s", getattr(ref, "id", "?"), exc)
            hit = ({}, {})
            _memo_put(ref, "live", hit, ttl=ERROR_TTL)
    if not hit[0]:
        return bundle
    return {**bundle[0], **hit[0]}, bundle[1]


def ref_html(ref: Any, budget: Budget | None = None) -> str:
    """The HTML of `ref_bundle` (what `_repr_html_` returns)."""
    return ref_bundle(ref, budget=budget)[0].get("text/html", "")


def result_bundle(obj: Any, include: Any = None, exclude: Any = None, **kw: Any) -> dict[str, Any]:
    """The MIME dict of a result card (a model, list, Completion or Execution holding
    refs); never raises. Unlike `ref_bundle` it has no metadata, so it is a plain dict."""
    from .card import result_bundle as _result_bundle

    return _result_bundle(obj, include, exclude, **kw)


__all__ = [
    "Budget",
    "ref_bundle",
    "ref_html",
    "result_bundle",
    "render_path",
    "set_inline_budget",
    "inline_budget",
    "bundle_size",
    "forget",
]
