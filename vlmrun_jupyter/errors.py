"""One exception tree for everything a user can hit.

Every message says what happened and what to do next, in one or two lines, so a
notebook traceback can be reduced to that message. No message ever contains the
API key: `redact()` is applied to anything that came from outside.
"""

from __future__ import annotations

import re

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")


def redact(text: str, *secrets: str | None) -> str:
    """Remove secrets (and any bearer token) from text that may be shown to a user."""
    out = _BEARER.sub(r"\1***", text)
    for s in secrets:
        if s:
            out = out.replace(s, "***")
    return out


class VlmRunError(Exception):
    """Base class. `status` is the HTTP status when there was one; `hint` says what to do."""

    title = "VLM Run error"
    default_hint = ""
    attempts: int = 1  # set by the client's retry loop on the error it finally raises
    elapsed: float | None = None  # seconds from the first attempt to that error

    def __init_subclass__(
        cls, *, title: str | None = None, hint: str | None = None, **kw: object
    ) -> None:
        """`class X(VlmRunError, title=..., hint=...)`: a subclass states its card title and
        its default hint in its header (or sets `title` / `default_hint` in its body)."""
        super().__init_subclass__(**kw)
        if title is not None:
            cls.title = title
        if hint is not None:
            cls.default_hint = hint

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        hint: str | None = None,
        detail: object = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.hint = hint if hint is not None else self.default_hint
        self.detail = detail

    def __str__(self) -> str:
        parts = [self.message]
        if self.hint and self.hint not in self.message:
            parts.append(self.hint)
        return " ".join(parts)


class ConfigurationError(
    VlmRunError,
    title="Not configured",
    hint="Set VLMRUN_API_KEY (and VLMRUN_BASE_URL if needed), or run `%vlmrun local start` "
    "to use the offline local server.",
):
    """No key, or a base URL that is not http(s): raised before anything is sent."""


class AuthenticationError(
    VlmRunError,
    title="Authentication failed",
    hint="Check VLMRUN_API_KEY: the server rejected the key (HTTP 401).",
):
    """401/403: never retried (the same key would be refused again)."""


class RequestError(
    VlmRunError, title="Request rejected", hint="Check the prompt, the inputs and the schema."
):
    """400/422: the server could not accept what we sent."""


class NotFoundError(
    VlmRunError,
    title="Not found",
    hint="Check the id and the session or execution it belongs to.",
):
    """404 for an id the server does not know in that session or execution."""


class ExpiredError(
    NotFoundError,
    title="Session expired",
    hint="Artifacts live 24 hours; run the request again to get fresh artifacts.",
):
    """404 whose detail says the session expired: the artifacts are gone, not mistyped."""


class RateLimitError(
    VlmRunError, title="Rate limited", hint="Too many requests; wait a little and try again."
):
    """429, raised once the retries (which wait `Retry-After`, capped) are used up;
    `retry_after` is what the server last asked for."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(VlmRunError, title="Server error", hint="The server failed; try again later."):
    """5xx after the bounded retries, or an answer we cannot parse (invalid JSON, no
    choices, no file id)."""


class NetworkError(
    VlmRunError,
    title="Network error",
    hint="Could not reach the server; check VLMRUN_BASE_URL and your connection.",
):
    """Connecting failed or the connection dropped, after the bounded retries."""


class VlmRunTimeoutError(
    VlmRunError,
    title="Timed out",
    hint="The server took too long; raise the timeout or try again.",
):
    """A request past its timeout (not retried: it would wait as long again), or an
    execution still running at the caller's deadline."""


class LimitError(
    VlmRunError,
    title="Over a limit",
    hint="The message names the limit and the setting that raises it.",
):
    """An answer or an artifact past a size budget (decoded JSON, a compressed body, the
    per-artifact cap): refused before it could fill memory or the disk; nothing was kept."""


class PreviewLimitError(
    LimitError,
    title="Preview skipped: over a limit",
    hint="Raise it with VLMRUN_MAX_DECODE_BYTES=<bytes>, or open the file yourself "
    "(`ref.fetch()` gives its path).",
):
    """Decoding an artifact for its preview would need more memory than the decode
    budget (checked from the file's header, before any pixel is decoded)."""


class IntegrityError(
    VlmRunError,
    title="Corrupt download",
    hint="The partial file was discarded; fetching again usually fixes it.",
):
    """A download was truncated, or the bytes are not what the content type promised."""


class UnboundRefError(
    VlmRunError,
    title="Ref has no session",
    hint="Bind it first: `ref.bind(session_id=...)` or "
    "`vlmrun_jupyter.bind(ref, session_id=...)` (or `execution_id=...`).",
):
    """A ref with no session or execution: neither bound nor seen in any response."""


class ExecutionFailedError(
    VlmRunError,
    title="Agent execution failed",
    hint="The server reported the execution as failed; see its message above.",
):
    """The server reported the agent execution as `failed` (final; never polled again)."""


class ResponseSchemaError(
    VlmRunError,
    title="Answer does not match the schema",
    hint="The raw answer is in the error's `detail`; try again or loosen the schema.",
):
    """The model answered, but not with JSON matching the requested schema."""


class CancelledError(
    VlmRunError, title="Cancelled", hint="Interrupted by the user; nothing was stored."
):
    """Ctrl-C while waiting: the request was abandoned and nothing was stored."""


__all__ = [
    "VlmRunError",
    "ConfigurationError",
    "AuthenticationError",
    "RequestError",
    "NotFoundError",
    "ExpiredError",
    "RateLimitError",
    "ServerError",
    "NetworkError",
    "VlmRunTimeoutError",
    "IntegrityError",
    "LimitError",
    "PreviewLimitError",
    "UnboundRefError",
    "ExecutionFailedError",
    "ResponseSchemaError",
    "CancelledError",
    "redact",
]
