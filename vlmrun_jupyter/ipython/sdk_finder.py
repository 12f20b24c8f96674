"""Where an official-SDK ref belongs: found among the notebook's variables.

The SDK's refs carry no session. At display time the refs registry asks this
finder, which looks through the notebook's variables (and lists and tuples of them)
for, first that applies:

- the SDK's `ChatCompletion` (with its `session_id`) or `AgentExecutionResponse`
  (with its `id`) whose answer mentions the id (a substring test per object);
- a tuple pairing a result that holds the ref with an id string, as cookbook helpers
  return `(result, response.session_id)`;
- the one string variable named like `session_id` / `execution_id` (when there is
  exactly one of them, it is the session the notebook is working in).

The registry remembers hits. Classes are recognised by module and name
(`display.sdk`), so the SDK is never imported.
"""

from __future__ import annotations

import json
import re
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
from .sdk_clients import kind_of
from .sdk_display import NAMESPACE_ID_RE, iter_sdk_refs

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


def namespace_in_pair(value: Any, object_id: str) -> Namespace | None:
    """`(result, "<session id>")`: the id string of a short tuple whose other items hold
    the ref (a session, unless this kernel saw it as an execution)."""
    if not isinstance(value, tuple) or not 2 <= len(value) <= 4:
        return None
    ids = [v for v in value if isinstance(v, str) and NAMESPACE_ID_RE.match(v)]
    if len(ids) != 1:
        return None
    for item in value:
        if item is not ids[0] and any(r.id == object_id for r in iter_sdk_refs(item)):
            return Namespace(kind_of(ids[0]) or "session", ids[0])
    return None


_ID_VARIABLE = re.compile(r"(session|execution)_?id$|^(sid|eid)$", re.I)


def namespace_from_variables(items: list[tuple[str, Any]]) -> Namespace | None:
    """The one string variable named like a session or execution id, if exactly one."""
    found = {
        (("execution" if "e" == m.group(0)[0].lower() else "session"), value)
        for name, value in items
        if isinstance(value, str)
        and NAMESPACE_ID_RE.match(value)
        and (m := _ID_VARIABLE.search(name))
    }
    if len(found) != 1:
        return None
    kind, ns_id = found.pop()
    return Namespace(kind_of(ns_id) or kind, ns_id)


def find_namespace(object_id: str) -> Namespace | None:
    """Search the running notebook's variables (and lists of them) for `object_id`."""
    ip = get_ipython()
    if ip is None:
        return None
    seen = 0
    items = [(n, v) for n, v in list(ip.user_ns.items()) if not n.startswith("_")]
    for _name, value in items:
        found = namespace_in_pair(value, object_id)
        if found is not None:
            return found
        for item in value if isinstance(value, (list, tuple)) else (value,):
            seen += 1
            if seen > SCAN_ITEMS:
                return None
            found = namespace_in(item, object_id)
            if found is not None:
                return found
    return namespace_from_variables(items)


__all__ = ["namespace_in", "namespace_in_pair", "namespace_from_variables", "find_namespace"]
