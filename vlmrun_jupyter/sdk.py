"""Interop with code written for the official SDK (`vlmrun`), which stays optional:
nothing here imports it. Classes are recognised by module and name.

- `find_namespace(object_id)`: the SDK's refs carry no session. At display time we
  look through the notebook's variables for the `ChatCompletion` (with its
  `session_id`) or `AgentExecutionResponse` (with its `id`) whose answer mentions
  the id. A substring test per object keeps this cheap; the registry remembers hits.
- `completion_bundle` / `execution_bundle`: those SDK objects displayed after
  `%load_ext` render as our result cards, artifacts inline.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .refs import Namespace

# (module, class name) pairs the extension registers display printers for.
COMPLETION_TYPES = (("openai.types.chat.chat_completion", "ChatCompletion"),)
EXECUTION_TYPES = (("vlmrun.client.types", "AgentExecutionResponse"),)
_SCAN_ITEMS = 2000  # variables and list items looked at per lookup


def _is(value: Any, names: tuple[tuple[str, str], ...]) -> bool:
    cls = type(value)
    return any(cls.__name__ == name and cls.__module__ == module for module, name in names)


def _completion_text(value: Any) -> str:
    try:
        return "".join(c.message.content or "" for c in value.choices)
    except Exception:
        return ""


def _session_id(value: Any) -> str | None:
    sid = getattr(value, "session_id", None)
    if sid is None:
        sid = (getattr(value, "model_extra", None) or {}).get("session_id")
    return sid if isinstance(sid, str) else None


def namespace_in(value: Any, object_id: str) -> Namespace | None:
    """The namespace `value` (an SDK completion or execution) gives `object_id`, if any."""
    try:
        if _is(value, COMPLETION_TYPES):
            sid = _session_id(value)
            if sid and object_id in _completion_text(value):
                return Namespace("session", sid)
        elif _is(value, EXECUTION_TYPES):
            if object_id in json.dumps(getattr(value, "response", None), default=str):
                return Namespace("execution", str(value.id))
    except (ValueError, TypeError):
        return None
    return None


def find_namespace(object_id: str) -> Namespace | None:
    """Search the running notebook's variables (and lists of them) for `object_id`."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    ip = get_ipython()
    if ip is None:
        return None
    seen = 0
    for name, value in list(ip.user_ns.items()):
        if name.startswith("_"):
            continue
        candidates = value if isinstance(value, (list, tuple)) else (value,)
        for item in candidates:
            seen += 1
            if seen > _SCAN_ITEMS:
                return None
            found = namespace_in(item, object_id)
            if found is not None:
                return found
    return None


def _usage(value: Any) -> dict[str, Any] | None:
    usage = getattr(value, "usage", None)
    if usage is None:
        return None
    dump = getattr(usage, "model_dump", None)
    return dump(exclude_none=True) if dump else dict(usage)


def as_completion(value: Any) -> Any:
    """An SDK/OpenAI `ChatCompletion` as our `Completion` (refs bound to its session)."""
    from .client import Completion, parse_result

    sid = _session_id(value)
    text = _completion_text(value)
    ns = Namespace("session", sid) if sid else None
    return Completion(
        id=str(getattr(value, "id", "")),
        model=str(getattr(value, "model", "")),
        session_id=sid,
        text=text,
        result=parse_result(text, None, ns),
        usage=_usage(value),
        latency_s=float("nan"),
    )


def as_execution(value: Any) -> Any:
    """An SDK `AgentExecutionResponse` as our `Execution` (refs bound to its id)."""
    from .client import Execution, parse_result

    ns = Namespace("execution", str(value.id))
    started, done = getattr(value, "created_at", None), getattr(value, "completed_at", None)
    latency = (
        (done - started).total_seconds()
        if isinstance(started, datetime) and isinstance(done, datetime)
        else float("nan")
    )
    return Execution(
        id=str(value.id),
        name=str(getattr(value, "name", "")),
        status=str(getattr(value, "status", "")),
        result=parse_result(getattr(value, "response", None), None, ns),
        usage=_usage(value),
        latency_s=latency,
    )


def completion_bundle(value: Any) -> Any:
    """Display printer for `ChatCompletion` (None: IPython falls back to its own repr)."""
    try:
        from .render import result_bundle

        return result_bundle(as_completion(value))
    except Exception:
        return None


def execution_bundle(value: Any) -> Any:
    """Display printer for `AgentExecutionResponse`."""
    try:
        from .render import result_bundle

        return result_bundle(as_execution(value))
    except Exception:
        return None
