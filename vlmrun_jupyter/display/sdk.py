"""The official SDK's (`vlmrun`) results as our result cards; the SDK stays optional.

Nothing here imports it: its classes are recognised by module and name
(`COMPLETION_TYPES`, `EXECUTION_TYPES`, `is_one_of`). `completion_bundle` /
`execution_bundle` are the display printers the IPython extension registers for them:
the SDK's `ChatCompletion` and `AgentExecutionResponse` render as our `Completion` /
`Execution` cards, artifacts inline, refs bound to the session or execution.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..refs import Namespace
from ..results import Completion, Execution, parse_result
from .card import result_bundle

# (module, class name) of the SDK objects that get display printers.
COMPLETION_TYPES = (("openai.types.chat.chat_completion", "ChatCompletion"),)
EXECUTION_TYPES = (("vlmrun.client.types", "AgentExecutionResponse"),)


def is_one_of(value: Any, names: tuple[tuple[str, str], ...]) -> bool:
    """Whether `value`'s class is one of the (module, class name) pairs."""
    cls = type(value)
    return any(cls.__name__ == name and cls.__module__ == module for module, name in names)


def completion_text(value: Any) -> str:
    """The assistant's text of a `ChatCompletion` (all choices), or ""."""
    try:
        return "".join(c.message.content or "" for c in value.choices)
    except Exception:
        return ""


def session_id_of(value: Any) -> str | None:
    """The VLM Run session id of a `ChatCompletion` (a field or an extra), if any."""
    sid = getattr(value, "session_id", None)
    if sid is None:
        sid = (getattr(value, "model_extra", None) or {}).get("session_id")
    return sid if isinstance(sid, str) else None


def _usage(value: Any) -> dict[str, Any] | None:
    usage = getattr(value, "usage", None)
    if usage is None:
        return None
    dump = getattr(usage, "model_dump", None)
    return dump(exclude_none=True) if dump else dict(usage)


def as_completion(value: Any) -> Completion:
    """An SDK/OpenAI `ChatCompletion` as our `Completion` (refs bound to its session)."""
    sid = session_id_of(value)
    text = completion_text(value)
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


def as_execution(value: Any) -> Execution:
    """An SDK `AgentExecutionResponse` as our `Execution` (refs bound to its id)."""
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


def completion_bundle(value: Any) -> dict[str, Any] | None:
    """Display printer for `ChatCompletion` (None: IPython falls back to its own repr)."""
    try:
        return result_bundle(as_completion(value))
    except Exception:
        return None


def execution_bundle(value: Any) -> dict[str, Any] | None:
    """Display printer for `AgentExecutionResponse`."""
    try:
        return result_bundle(as_execution(value))
    except Exception:
        return None


__all__ = [
    "COMPLETION_TYPES",
    "EXECUTION_TYPES",
    "is_one_of",
    "completion_text",
    "session_id_of",
    "as_completion",
    "as_execution",
    "completion_bundle",
    "execution_bundle",
]
