"""Which client (and so which credentials and cache) a ref is fetched through.

A ref bound by a client remembers that client. Otherwise client finders (added by
the IPython extension: the official SDK's `VLMRun` client that made the ref's session,
else the one the notebook holds) are asked. Everything else goes through the
process-wide default client: the one set by `set_default_client` / `use_client`
(the magic's `local start` does this), else one created from the environment on
first use. `cache_for` never creates a client, so displaying a ref that is already
on disk needs no key.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from ._config import Settings
from .cache import ArtifactCache
from .client import Client
from .errors import ConfigurationError
from .refs import BaseRef

_default: Client | None = None
_default_lock = threading.Lock()
_caches: dict[str, ArtifactCache] = {}
ClientFinder = Callable[[BaseRef], "Client | None"]
_finders: list[ClientFinder] = []


def add_client_finder(finder: ClientFinder) -> None:
    """Ask `finder` for the client of refs that have none of their own (before the default)."""
    with _default_lock:
        if finder not in _finders:
            _finders.append(finder)


def remove_client_finder(finder: ClientFinder) -> None:
    with _default_lock:
        if finder in _finders:
            _finders.remove(finder)


def found_client(ref: BaseRef | None) -> Client | None:
    """The client a finder names for `ref`, if any (a finder never breaks a lookup)."""
    if ref is None:
        return None
    with _default_lock:
        finders = list(_finders)
    for finder in finders:
        try:
            client = finder(ref)
        except Exception:
            client = None
        if client is not None:
            return client
    return None


def default_client() -> Client:
    """The process-wide client, created from the environment on first use."""
    global _default
    with _default_lock:
        if _default is None:
            settings = Settings.from_env()
            if not settings.api_key:
                raise ConfigurationError(
                    "No VLM Run API key.",
                    hint="Set VLMRUN_API_KEY (and VLMRUN_BASE_URL if needed), or run "
                    "`%vlmrun local start` to use the offline local server.",
                )
            _default = Client(settings=settings)
        return _default


def current_default() -> Client | None:
    """The default client if one exists (never creates one)."""
    return _default


def set_default_client(client: Client | None) -> None:
    """Use `client` for refs without their own client (None: recreate from env on next use)."""
    global _default
    with _default_lock:
        _default = client


@contextlib.contextmanager
def use_client(client: Client) -> Iterator[Client]:
    """Within the block, refs without a client of their own use `client`."""
    previous = current_default()
    set_default_client(client)
    try:
        yield client
    finally:
        set_default_client(previous)


def client_for(ref: BaseRef | None = None) -> Client:
    """The client that fetches `ref`: its own, else the one a finder names, else the default."""
    own = getattr(ref, "_client", None) if ref is not None else None
    if own is not None:
        return own
    return found_client(ref) or default_client()


def cache_for(ref: BaseRef | None = None) -> ArtifactCache:
    """The cache `ref` is fetched into: its client's, else the default client's, else the
    one the environment configures (no client is created, so no key is needed)."""
    own = getattr(ref, "_client", None) if ref is not None else None
    if own is None:
        own = found_client(ref)
    if own is not None:
        return own.cache
    default = current_default()
    if default is not None:
        return default.cache
    s = Settings.from_env()
    with _default_lock:
        key = str(s.cache_dir)
        if key not in _caches:
            _caches[key] = ArtifactCache(s.cache_dir, s.cache_max_bytes)
        return _caches[key]


__all__ = [
    "add_client_finder",
    "remove_client_finder",
    "found_client",
    "default_client",
    "current_default",
    "set_default_client",
    "use_client",
    "client_for",
    "cache_for",
]
