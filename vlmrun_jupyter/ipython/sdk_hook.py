"""Observing the official SDK's calls in this kernel: a reversible, version-guarded hook.

Installed by `%load_ext` only when the installed `vlmrun` is a version this module
was written against (`KNOWN_VERSIONS`) and the wrapped attributes are where that
version keeps them; otherwise it does nothing. `%unload_ext` puts every original
back (only where ours is still in place). What it does:

- `client.agent.completions.create`, `client.agent.execute`, `client.executions.get`
  (and so `wait`), `client.artifacts.list`: after the call, the ids in the answer are
  remembered with their session or execution, and which `VLMRun` client made it
  (`sdk_clients`), so refs render even when a helper never hands the `ChatCompletion`
  to the notebook;
- `client.artifacts.get(object_id=..., session_id|execution_id=...)` for images,
  videos, audio, documents, reconstructions and links: served from the shared cache
  (the SDK's own layout) when the file is there, else fetched once into it with that
  client's credentials; the return types are the SDK's (`PIL.Image.Image`, `Path`).
  Anything else (`filename=`, `raw_response=True`, arrays) and any failure of ours go
  to the SDK's own method unchanged, so its errors stay its errors.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

from .. import kinds
from ..refs import Namespace, make_ref, registry
from . import sdk_clients

KNOWN_VERSIONS = frozenset({"0.9.2"})
SERVED_PREFIXES = frozenset({"img", "vid", "aud", "doc", "recon", "url"})

_installed: list[tuple[Any, str, Any, Any]] = []  # (owner, attribute, original, ours)


def sdk_version() -> str | None:
    """The installed SDK's version if it is already imported or importable, else None."""
    try:
        from vlmrun.version import __version__
    except Exception:
        return None
    return str(__version__)


def remember_ids(text: str, ns: Namespace) -> None:
    for object_id in dict.fromkeys(kinds.ID_IN_TEXT_RE.findall(text or "")):
        registry.remember(object_id, ns)


def _observe_completion(response: Any, sdk_client: Any) -> None:
    from ..display.sdk import completion_text, session_id_of

    sid = session_id_of(response)
    if sid:
        ns = Namespace("session", sid)
        sdk_clients.note_namespace(ns, sdk_client)
        remember_ids(completion_text(response), ns)


def _observe_execution(response: Any, sdk_client: Any) -> None:
    eid = getattr(response, "id", None)
    if isinstance(eid, str) and eid:
        ns = Namespace("execution", eid)
        sdk_clients.note_namespace(ns, sdk_client)
        remember_ids(json.dumps(getattr(response, "response", None), default=str), ns)


def _after(observe: Any) -> Any:
    """Wrap a resource method: call it, then `observe(result, the VLMRun client)`."""

    def wrap(original: Any) -> Any:
        @functools.wraps(original)
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            try:
                observe(result, self._client)
            except Exception:  # observing never breaks the SDK call
                pass
            return result

        return method

    return wrap


def _completions(original: Any) -> Any:
    """`Agent.completions` (a cached property): its `create` observed."""

    def completions(self: Any) -> Any:
        value = original.func(self)
        create = value.create

        @functools.wraps(create)
        def observed(*args: Any, **kwargs: Any) -> Any:
            response = create(*args, **kwargs)
            if not kwargs.get("stream"):
                try:
                    _observe_completion(response, self._client)
                except Exception:
                    pass
            return response

        value.create = observed
        return value

    prop = functools.cached_property(completions)
    prop.__set_name__(type(None), "completions")
    return prop


def _artifacts_get(original: Any) -> Any:
    @functools.wraps(original)
    def get(self: Any, object_id: Any = None, session_id: Any = None, execution_id: Any = None,
            filename: Any = None, raw_response: bool = False) -> Any:  # fmt: skip
        call = functools.partial(original, self, object_id, session_id, execution_id,
                                 filename, raw_response)  # fmt: skip
        if filename is not None or raw_response or (session_id is None) == (execution_id is None):
            return call()
        kind = kinds.kind_of_id(object_id) if isinstance(object_id, str) else None
        if kind is None or kind.prefix not in SERVED_PREFIXES:
            return call()
        try:
            ns = Namespace("session", session_id) if session_id else Namespace(
                "execution", execution_id)  # fmt: skip
            sdk_clients.note_namespace(ns, self._client)
            registry.remember(object_id, ns)
            client = sdk_clients.client_from_sdk(self._client)
            if client is None:
                return call()
            ref = make_ref(object_id).bind(**{f"{ns.kind}_id": ns.id}, client=client)
            path = client.fetch(ref)
        except Exception:
            return call()  # the SDK's own behaviour and errors
        if kind.prefix == "img":
            from PIL import Image

            with Image.open(path) as im:
                return im.convert("RGB")
        return Path(path)

    return get


def _artifacts_list(original: Any) -> Any:
    @functools.wraps(original)
    def list_(self: Any, session_id: Any = None, execution_id: Any = None) -> Any:
        result = original(self, session_id, execution_id)
        try:
            ns_kind = "session" if session_id is not None else "execution"
            ns = Namespace(ns_kind, str(session_id or execution_id))
            sdk_clients.note_namespace(ns, self._client)
            for item in getattr(result, "items", []) or []:
                if kinds.is_object_id(getattr(item, "object_id", None)):
                    registry.remember(item.object_id, ns)
        except Exception:
            pass
        return result

    return list_


def _targets() -> list[tuple[Any, str, Any]] | None:
    """(owner, attribute, wrapper factory) for the known SDK; None if anything moved."""
    try:
        from vlmrun.client.agent import Agent
        from vlmrun.client.artifacts import Artifacts
        from vlmrun.client.executions import Executions
    except Exception:
        return None
    targets = [
        (Agent, "completions", _completions),
        (Agent, "execute", _after(_observe_execution)),
        (Executions, "get", _after(_observe_execution)),
        (Artifacts, "get", _artifacts_get),
        (Artifacts, "list", _artifacts_list),
    ]
    for owner, name, _ in targets:
        attr = owner.__dict__.get(name)
        wanted = functools.cached_property if name == "completions" else type(lambda: None)
        if not isinstance(attr, wanted):
            return None
    return targets


def install() -> bool:
    """Wrap the SDK's methods (once); False, doing nothing, for an unknown SDK version."""
    if _installed:
        return True
    if sdk_version() not in KNOWN_VERSIONS:
        return False
    targets = _targets()
    if targets is None:
        return False
    for owner, name, factory in targets:
        original = owner.__dict__[name]
        ours = factory(original)
        setattr(owner, name, ours)
        _installed.append((owner, name, original, ours))
    return True


def uninstall() -> None:
    """Put the SDK's originals back where ours is still in place."""
    while _installed:
        owner, name, original, ours = _installed.pop()
        if owner.__dict__.get(name) is ours:
            setattr(owner, name, original)


def installed() -> bool:
    return bool(_installed)


_MENTION = re.compile(r"\bvlmrun\b(?![_-])")


def _before_cell(info: Any) -> None:
    """Install just before the first cell that uses the SDK runs (loading the extension
    never imports the SDK itself: importing it creates its directories)."""
    if not _installed and _MENTION.search(getattr(info, "raw_cell", "") or ""):
        if importlib.util.find_spec("vlmrun") is not None:
            install()


def watch(ip: Any) -> None:
    """Install now if the SDK is already imported, else before the first cell using it."""
    if "vlmrun" in sys.modules:
        install()
    ip.events.register("pre_run_cell", _before_cell)


def unwatch(ip: Any) -> None:
    """Stop watching and put the SDK back as it was."""
    try:
        ip.events.unregister("pre_run_cell", _before_cell)
    except ValueError:
        pass
    uninstall()


__all__ = [
    "KNOWN_VERSIONS",
    "install",
    "uninstall",
    "installed",
    "sdk_version",
    "watch",
    "unwatch",
]
