"""The display formatters `%load_ext vlmrun_jupyter` registers, and their removal.

Refs render without these (their reprs live on the classes). Loading adds printers
for what cannot carry a repr of its own: a user's pydantic result model holding
refs (a result card), the official SDK's ref models (rendered by id), lists,
tuples and dicts holding refs (a gallery), and the SDK's completion and execution
objects (by module and class name, so the SDK is never imported). Objects without
refs keep their usual display: the printer returns None for them.

`register` remembers the printers it replaced and `unregister` puts them back
where ours is still in place, so `%reload_ext` leaves one registration.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from pydantic import BaseModel

from ..display import ref_bundle, result_bundle
from ..display.sdk import COMPLETION_TYPES, EXECUTION_TYPES, completion_bundle, execution_bundle
from ..refs import coerce_ref

TYPES: tuple[type, ...] = (BaseModel, list, tuple, dict)
SCAN_LIMIT = 10_000  # containers are scanned for refs at most this many nodes deep

Printers = dict[str, dict[Any, Any]]  # what `register` replaced, to restore
_RUNS: deque[tuple[Any, Any]] = deque(maxlen=32)  # (a magic's result, its run), newest last


class Answer(str):
    """A text answer from the magic: a str in every way, shown with its run's footer."""

    run: Any = None

    def __new__(cls, text: str, run: Any = None) -> Answer:
        obj = super().__new__(cls, text)
        obj.run = run
        return obj

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        if self.run is None:
            return None
        return result_bundle(self.run, include, exclude)


def keep_run(result: Any, run: Any) -> Any:
    """Remember which run a magic's result came from, so its display carries the run's
    footer (model, session, latency, usage); a text answer becomes an `Answer`."""
    if isinstance(result, str) and not isinstance(result, Answer):
        result = Answer(result, run)
    _RUNS.append((result, run))
    return result


def run_of(obj: Any) -> Any:
    """The run a magic's result came from (by identity), else None."""
    for result, run in reversed(_RUNS):
        if result is obj:
            return run
    return None


def contains_ref(value: Any) -> bool:
    """A bounded search for a ref (ours or a foreign ref model) inside containers."""
    return bool(refs_in(value, 1))


def refs_in(value: Any, limit: int) -> list[Any]:
    """Up to `limit` refs inside `value`, in the order a card shows them (bounded walk)."""
    found: list[Any] = []
    stack, seen = [value], 0
    while stack and seen < SCAN_LIMIT and len(found) < limit:
        v = stack.pop()
        seen += 1
        ref = coerce_ref(v)
        if ref is not None:
            found.append(ref)
            continue
        if isinstance(v, BaseModel):
            stack.extend(reversed([getattr(v, n, None) for n in type(v).model_fields]))
        elif isinstance(v, dict):
            stack.extend(reversed(list(v.values())[:SCAN_LIMIT]))
        elif isinstance(v, list | tuple):
            stack.extend(reversed(v[:SCAN_LIMIT]))
    return found


def printer(obj: Any) -> Any:
    """Mimebundle printer: a bundle for refs and results holding refs, else None."""
    try:
        run = run_of(obj)
        if run is not None:
            return result_bundle(run)  # the result card with the run's footer
        if getattr(type(obj), "_repr_mimebundle_", None) is not None:
            return obj._repr_mimebundle_()  # our refs, or anything with its own rich display
        ref = coerce_ref(obj)
        if ref is not None:
            return ref_bundle(ref)
        if contains_ref(obj):
            return result_bundle(obj)
    except Exception:  # a display never raises; IPython falls back to the plain repr
        return None
    return None


printer._vlmrun = True  # type: ignore[attr-defined]  # marks our printer across reloads


def sdk_printers() -> list[tuple[tuple[str, str], Any]]:
    """Printers for the official SDK's completion and execution objects, by name."""
    pairs = [(key, completion_bundle) for key in COMPLETION_TYPES]
    return pairs + [(key, execution_bundle) for key in EXECUTION_TYPES]


def register(ip: Any) -> Printers:
    """Install our printers; returns the ones they replaced (for `unregister`)."""
    fmt = ip.display_formatter.mimebundle_formatter
    by_type: dict[Any, Any] = {}
    for typ in TYPES:
        old = fmt.type_printers.get(typ)
        by_type[typ] = None if getattr(old, "_vlmrun", False) else old  # never restore ours
        fmt.for_type(typ, printer)
    by_name: dict[Any, Any] = {}
    for key, sdk_printer in sdk_printers():
        by_name[key] = fmt.deferred_printers.get(key)
        fmt.for_type_by_name(*key, sdk_printer)
    return {"type": by_type, "name": by_name}


def _restore(table: dict[Any, Any], key: Any, old: Any) -> None:
    if old is None:
        table.pop(key, None)
    else:
        table[key] = old


def unregister(ip: Any, previous: Printers) -> None:
    """Put back what `register` replaced, only where ours is still in place."""
    fmt = ip.display_formatter.mimebundle_formatter
    for typ, old in previous["type"].items():
        if getattr(fmt.type_printers.get(typ), "_vlmrun", False):
            _restore(fmt.type_printers, typ, old)
    ours = {p for _, p in sdk_printers()}
    for key, old in previous["name"].items():
        if fmt.deferred_printers.get(key) in ours:
            _restore(fmt.deferred_printers, key, old)
        # once the class was imported, IPython moved the printer to type_printers
        for typ, p in list(fmt.type_printers.items()):
            if p in ours and (typ.__module__, typ.__name__) == key:
                fmt.type_printers.pop(typ)


def registered(ip: Any) -> int:
    """How many of our printers are registered on `ip` (for tests and tools)."""
    fmt = ip.display_formatter.mimebundle_formatter
    return sum(1 for p in fmt.type_printers.values() if getattr(p, "_vlmrun", False))


__all__ = [
    "Answer",
    "keep_run",
    "run_of",
    "TYPES",
    "register",
    "unregister",
    "registered",
    "printer",
    "contains_ref",
]
