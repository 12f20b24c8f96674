"""The per-object memo: bundles kept "on the ref" while the ref object lives.

IPython asks for `_repr_mimebundle_` and then `_repr_html_`, and a card asks for each of
its refs again when it is shown twice; all of these reuse the first rendering. Entries
are keyed by `id(obj)` and checked against a weak reference (refs are mutable pydantic
models: unhashable, and a private attribute would take part in their `==`), so a bundle
never outlives its ref nor passes to a new object that reuses the address. Error cards
are kept briefly (`ttl`), so a fixed problem shows as fixed on the next display.
"""

from __future__ import annotations

import threading
import time
import weakref

from ..refs import BaseRef
from .budget import Budget, Bundle

_lock = threading.Lock()
_memo: dict[int, tuple[weakref.ref, dict[str, tuple[float, Bundle]]]] = {}


def key_for(ref: BaseRef, budget: Budget) -> str:
    """Bundles differ by where the ref is bound and by the budget they were made for."""
    ns = ref.namespace
    return f"{ns.kind if ns else '-'}:{ns.id if ns else '-'}:{budget.key}"


def get(obj: object, key: str) -> Bundle | None:
    """The bundle kept for `obj` under `key`, unless it expired."""
    with _lock:
        entry = _memo.get(id(obj))
        if entry is None or entry[0]() is not obj:
            return None
        hit = entry[1].get(key)
    if hit is None:
        return None
    expires, bundle = hit
    if expires and time.monotonic() > expires:
        return None
    return bundle


def put(obj: object, key: str, bundle: Bundle, ttl: float | None = None) -> None:
    """Keep `bundle` for `obj` under `key` (for `ttl` seconds if given)."""
    expires = time.monotonic() + ttl if ttl else 0.0
    oid = id(obj)
    try:
        wr = weakref.ref(obj, lambda _r, oid=oid: _drop(oid))
    except TypeError:  # not weak-referenceable: skip the memo
        return
    with _lock:
        entry = _memo.get(oid)
        if entry is None or entry[0]() is not obj:
            entry = (wr, {})
            _memo[oid] = entry
        entry[1][key] = (expires, bundle)


def _drop(oid: int) -> None:
    with _lock:
        entry = _memo.get(oid)
        if entry is not None and entry[0]() is None:
            del _memo[oid]


__all__ = ["key_for", "get", "put"]
