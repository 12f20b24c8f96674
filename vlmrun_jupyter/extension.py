"""`%load_ext vlmrun_jupyter`: what loading the extension changes in IPython.

Refs render without this (their reprs live on the classes). Loading adds display
formatters for things that cannot carry a repr of their own: a user's pydantic
result model holding refs (a result card), the official SDK's ref models (rendered
by id), and lists/tuples/dicts holding refs (a gallery). Objects without refs keep
their usual display: the formatter returns None for them.

`load` is idempotent and `unload` restores exactly the printers that were there
before, so `%reload_ext vlmrun_jupyter` leaves one registration. The state lives on
the shell object, so it survives a reload of this module.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_STATE = "_vlmrun_jupyter_state"
TYPES: tuple[type, ...] = (BaseModel, list, tuple, dict)
SCAN_LIMIT = 10_000  # containers are scanned for refs at most this many nodes deep


def _contains_ref(value: Any) -> bool:
    """A bounded search for a ref (ours or a foreign ref model) inside containers."""
    from .render.card import as_ref

    stack, seen = [value], 0
    while stack and seen < SCAN_LIMIT:
        v = stack.pop()
        seen += 1
        if as_ref(v) is not None:
            return True
        if isinstance(v, BaseModel):
            stack.extend(getattr(v, n, None) for n in type(v).model_fields)
        elif isinstance(v, dict):
            stack.extend(list(v.values())[:SCAN_LIMIT])
        elif isinstance(v, list | tuple):
            stack.extend(v[:SCAN_LIMIT])
    return False


def _printer(obj: Any) -> Any:
    """Mimebundle printer: a bundle for refs and results holding refs, else None."""
    try:
        from .render import ref_bundle, result_bundle
        from .render.card import as_ref

        method = getattr(type(obj), "_repr_mimebundle_", None)
        if method is not None:  # our refs, or anything with its own rich display
            return obj._repr_mimebundle_()
        ref = as_ref(obj)
        if ref is not None:
            return ref_bundle(ref)
        if _contains_ref(obj):
            return result_bundle(obj)
    except Exception:  # a display never raises; IPython falls back to the plain repr
        return None
    return None


_printer._vlmrun = True  # type: ignore[attr-defined]  # marks our printer across reloads


def _register_magics(ip: Any) -> None:
    """The %vlmrun magic and its short VlmRunError tracebacks (see magic.py)."""
    from .magic import register

    register(ip)


def _unregister_magics(ip: Any) -> None:
    """Remove the magic and restore the previous exception handler (see magic.py)."""
    from .magic import unregister

    unregister(ip)


def _sdk_printers() -> list[tuple[tuple[str, str], Any]]:
    """Printers for the official SDK's completion and execution objects, by name."""
    from . import sdk

    pairs = [(key, sdk.completion_bundle) for key in sdk.COMPLETION_TYPES]
    return pairs + [(key, sdk.execution_bundle) for key in sdk.EXECUTION_TYPES]


def load(ip: Any) -> None:
    """Register the formatters (once per shell) and the magic."""
    if ip is None:
        return
    if getattr(ip, _STATE, None) is None:
        from . import sdk
        from .refs import registry

        fmt = ip.display_formatter.mimebundle_formatter
        previous: dict[type, Any] = {}
        for typ in TYPES:
            old = fmt.type_printers.get(typ)
            if getattr(old, "_vlmrun", False):
                old = None  # a stale registration of ours: never restore it
            previous[typ] = old
            fmt.for_type(typ, _printer)
        previous_named: dict[tuple[str, str], Any] = {}
        for key, printer in _sdk_printers():
            previous_named[key] = fmt.deferred_printers.get(key)
            fmt.for_type_by_name(*key, printer)
        registry.add_finder(sdk.find_namespace)
        setattr(ip, _STATE, {"previous": previous, "previous_named": previous_named})
    _register_magics(ip)


def unload(ip: Any) -> None:
    """Restore the printers `load` replaced (only where ours is still in place)."""
    if ip is None:
        return
    _unregister_magics(ip)
    state = getattr(ip, _STATE, None)
    if state is None:
        return
    from . import sdk
    from .refs import registry

    fmt = ip.display_formatter.mimebundle_formatter
    for typ, old in state["previous"].items():
        if getattr(fmt.type_printers.get(typ), "_vlmrun", False):
            if old is None:
                fmt.type_printers.pop(typ, None)
            else:
                fmt.type_printers[typ] = old
    ours = {printer for _, printer in _sdk_printers()}
    for key, old in state.get("previous_named", {}).items():
        if fmt.deferred_printers.get(key) in ours:
            if old is None:
                fmt.deferred_printers.pop(key, None)
            else:
                fmt.deferred_printers[key] = old
        # once the class was imported, IPython moved the printer to type_printers
        for typ, printer in list(fmt.type_printers.items()):
            if printer in ours and (typ.__module__, typ.__name__) == key:
                fmt.type_printers.pop(typ)
    registry.remove_finder(sdk.find_namespace)
    delattr(ip, _STATE)


def registered(ip: Any) -> int:
    """How many of our printers are registered on `ip` (for tests and `%vlmrun config`)."""
    fmt = ip.display_formatter.mimebundle_formatter
    return sum(1 for p in fmt.type_printers.values() if getattr(p, "_vlmrun", False))
