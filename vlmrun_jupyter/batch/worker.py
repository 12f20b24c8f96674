"""One attempt at one item, on whatever runs it: a thread here or a Dask worker.

Workers talk through a copy of the caller's client with its own retries off (the
schedule in runner.py does them). The copy is built from a picklable `ClientFactory`,
which travels to Dask workers with the prompt, the JSON schema and each item; the
outcome comes back as a plain dict and is typed on the caller's side.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import kinds
from ..errors import (
    NetworkError,
    RateLimitError,
    ServerError,
    VlmRunError,
    VlmRunTimeoutError,
    redact,
)
from ..refs import BaseRef, make_ref, registry
from .items import is_file

PLACEHOLDER = re.compile(r"\{\{\s*item\s*\}\}")
_RETRYABLE = (ServerError, NetworkError, VlmRunTimeoutError)


# -- what travels to a worker -------------------------------------------------------------


@dataclass(frozen=True)
class ClientFactory:
    """Rebuilds the caller's client (same key, base URL and cache) with retries off."""

    cls: type
    settings: Any
    timeout: float
    max_connections: int

    @classmethod
    def of(cls, client: Any, width: int) -> ClientFactory:
        return cls(type(client), client.settings, float(client.timeout), max(8, width))

    def __call__(self) -> Any:
        return self.cls(
            settings=self.settings,
            timeout=self.timeout,
            max_retries=0,
            max_connections=self.max_connections,
        )


@dataclass(frozen=True)
class WorkSpec:
    """Everything an attempt needs besides the item (picklable)."""

    factory: ClientFactory
    prompt: str
    schema: dict[str, Any] | None
    model: str
    agent: str | None = None
    input_name: str = "input"
    timeout: float | None = None


_WORKER_CLIENTS: dict[ClientFactory, Any] = {}
_WORKER_LOCK = threading.Lock()


def _worker_client(factory: ClientFactory) -> Any:
    """One client per worker process and factory (pools are reused across items)."""
    with _WORKER_LOCK:
        client = _WORKER_CLIENTS.get(factory)
        if client is None:
            client = _WORKER_CLIENTS[factory] = factory()
        return client


def _word(item: Any) -> str:
    """What the prompt says where `{{ item }}` stood."""
    if isinstance(item, BaseRef):
        return item.id
    if hasattr(item, "mode") and hasattr(item, "size"):
        return "the attached image"
    if isinstance(item, os.PathLike) or (isinstance(item, str) and is_file(item)):
        name = os.path.basename(os.fspath(item))  # not Path(item): that parses it again
        return f"the attached {kinds.kind_of_name(name) or 'file'}"
    return "the attached input"


def prompt_for(template: str, item: Any) -> str:
    """The prompt for one item: `{{ item }}` names the attached input (else appended)."""
    return PLACEHOLDER.sub(lambda _: _word(item), template)


def attempt(client: Any, spec: WorkSpec, item: Any) -> dict[str, Any]:
    """One try at one item; never raises (the outcome says whether to retry)."""
    t0 = time.monotonic()
    text = prompt_for(spec.prompt, item)
    try:
        with registry.quiet():  # the answer travels as text; typed where it is looked at
            answer, ns = _ask(client, spec, text, item)
    except RateLimitError as exc:
        return _failure(exc, "throttle", retry_after=exc.retry_after)
    except _RETRYABLE as exc:
        return _failure(exc, "backoff")
    except VlmRunError as exc:
        return _failure(exc, None)
    except Exception as exc:  # an input we could not turn into a request, for one
        return {
            "ok": False,
            "retry": None,
            "error": type(exc).__name__,
            "message": redact(str(exc)),
        }
    return {"ok": True, "answer": answer, "ns": ns, "latency": round(time.monotonic() - t0, 4)}


def _ask(client: Any, spec: WorkSpec, text: str, item: Any) -> tuple[Any, list[str] | None]:
    """The answer (JSON text, or the execution's response) and its namespace."""
    if spec.agent:
        ex = client.execute(
            spec.agent,
            prompt=text,
            inputs={spec.input_name: item},
            schema=spec.schema,
            model=spec.model,
            **({"timeout": spec.timeout} if spec.timeout else {}),
        )
        return ex.raw.get("response"), ["execution", ex.id]
    done = client.complete(
        text, inputs=[item], schema=spec.schema, model=spec.model, timeout=spec.timeout
    )
    return done.text, ["session", done.session_id] if done.session_id else None


def _failure(exc: VlmRunError, retry: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "ok": False,
        "retry": retry,
        "error": type(exc).__name__,
        "message": str(exc),
        "status": exc.status,
        **extra,
    }


def remote_attempt(spec: WorkSpec, item: Any) -> dict[str, Any]:
    """`attempt` on a worker process, with that process's own client."""
    return attempt(_worker_client(spec.factory), spec, item)


def portable(item: Any) -> Any:
    """An item as it should travel to another machine: a file's bytes rather than its path
    (the worker may not see this disk), a ref without the caller's client."""
    if isinstance(item, os.PathLike) or (isinstance(item, str) and is_file(item)):
        return Path(item).expanduser().read_bytes()
    if isinstance(item, BaseRef):
        ref = make_ref(item.id)
        ref._namespace = item.namespace
        return ref
    return item


__all__ = [
    "ClientFactory",
    "WorkSpec",
    "attempt",
    "remote_attempt",
    "portable",
    "prompt_for",
    "PLACEHOLDER",
]
