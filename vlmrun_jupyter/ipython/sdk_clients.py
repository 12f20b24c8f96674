"""Credentials found the way official-SDK users hold them: a `VLMRun` client object.

A ref with no client of its own is fetched through (first that applies):

1. the `VLMRun` client that made its session or execution, when this kernel saw the
   call (`sdk_hook`, for SDK versions it knows);
2. the `VLMRun` client the notebook holds (the most recently assigned variable that
   holds one);
3. the default client: `%vlmrun local start` / `use_client`, else `VLMRUN_API_KEY` and
   `VLMRUN_BASE_URL`.

The SDK object's `api_key` and `base_url` are read when a client is needed and kept
only inside our `Client` (one per base URL and key); the key is never shown.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from IPython import get_ipython

from ..client import Client
from ..display.sdk import is_one_of
from ..refs import BaseRef, Namespace, registry

VLMRUN_TYPES = (("vlmrun.client.client", "VLMRun"),)
SCAN_ITEMS = 2000  # notebook variables looked at per lookup

_lock = threading.Lock()
_clients: dict[tuple[str, str], Client] = {}  # (base URL, sha256 of the key) -> ours
_made_by: dict[str, Client] = {}  # namespace id -> the client of the VLMRun that made it
_kinds: dict[str, str] = {}  # namespace id -> "session" | "execution", as observed


def client_from_sdk(sdk_client: Any) -> Client | None:
    """Our client with the credentials of an SDK `VLMRun` (None if it has none)."""
    key, base = getattr(sdk_client, "api_key", None), getattr(sdk_client, "base_url", None)
    if not isinstance(key, str) or not key or not isinstance(base, str) or not base:
        return None
    ident = (base.rstrip("/"), hashlib.sha256(key.encode()).hexdigest())
    with _lock:
        client = _clients.get(ident)
        if client is None:
            client = _clients[ident] = Client(api_key=key, base_url=ident[0])
        return client


def note_namespace(ns: Namespace, sdk_client: Any) -> None:
    """`sdk_client` made (or read) the session or execution `ns`."""
    client = client_from_sdk(sdk_client)
    with _lock:
        _kinds[ns.id] = ns.kind
        if client is not None:
            _made_by[ns.id] = client


def kind_of(ns_id: str) -> str | None:
    """Whether `ns_id` was seen as a session or an execution."""
    with _lock:
        return _kinds.get(ns_id)


def notebook_sdk_client() -> Any | None:
    """The `VLMRun` object the notebook holds (the most recently assigned), if any."""
    ip = get_ipython()
    if ip is None:
        return None
    items = list(ip.user_ns.items())[-SCAN_ITEMS:]
    for name, value in reversed(items):
        if not name.startswith("_") and is_one_of(value, VLMRUN_TYPES):
            return value
    return None


def find_client(ref: BaseRef) -> Client | None:
    """A client finder for `session.client_for`: steps 1 and 2 of the module docstring."""
    ns = ref.namespace or registry.lookup(ref.id)
    if ns is not None:
        with _lock:
            made = _made_by.get(ns.id)
        if made is not None:
            return made
    sdk_client = notebook_sdk_client()
    return client_from_sdk(sdk_client) if sdk_client is not None else None


def clients() -> list[Client]:
    """Our clients made from SDK clients so far."""
    with _lock:
        return list(_clients.values())


def forget() -> None:
    """Close our clients and drop what was observed (on `%unload_ext`)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
        _made_by.clear()
        _kinds.clear()
    for client in clients:
        client.close()


__all__ = [
    "VLMRUN_TYPES",
    "client_from_sdk",
    "note_namespace",
    "kind_of",
    "notebook_sdk_client",
    "find_client",
    "clients",
    "forget",
]
