"""Where an official-SDK ref belongs: found among the notebook's variables.

The SDK's refs carry no session. At display time the refs registry asks this
finder, which looks through the notebook's variables (and lists of them) for the
SDK's `ChatCompletion` (with its `session_id`) or `AgentExecutionResponse` (with
its `id`) whose answer mentions the id. A substring test per object keeps it
cheap; the registry remembers hits. Classes are recognised by module and name
(`display.sdk`), so the SDK is never imported.
"""

from __future__ import annotations

import json
from typing import Any

from IPython import get_ipython

from ..display.sdk import (
    COMPLETION_TYPES,
    EXECUTION_TYPES,
    completion_text,
    is_one_of,
    session_id_of,
)
from ..refs import Namespace

SCAN_ITEMS = 2000  # variables and list items looked at per lookup


def namespace_in(value: Any, object_id: str) -> Namespace | None:
    """The namespace `value` (an SDK completion or execution) gives `object_id`, if any."""
    try:
        if is_one_of(value, COMPLETION_TYPES):
            sid = session_id_of(value)
            if sid and object_id in completion_text(value):
                return Namespace("session", sid)
        elif is_one_of(value, EXECUTION_TYPES):
            if object_id in json.dumps(getattr(value, "response", None), default=str):
                return Namespace("execution", str(value.id))
    except (ValueError, TypeError):
        return None
    return None


def find_namespace(object_id: str) -> Namespace | None:
    """Search the running notebook's variables (and lists of them) for `object_id`."""
    ip = get_ipython()
    if ip is None:
        return None
    seen = 0
    for name, value in list(ip.user_ns.items()):
        if name.startswith("_"):
            continue
        for item in value if isinstance(value, (list, tuple)) else (value,):
            seen += 1
            if seen > SCAN_ITEMS:
                return None
            found = namespace_in(item, object_id)
            if found is not None:
                return found
    return None


__all__ = ["namespace_in", "find_namespace"]
