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


class ConfigurationError(VlmRunError):
    title = "Not configured"
    default_hint = (
        "Set VLMRUN_API_KEY (and VLMRUN_BASE_URL if needed), or run `%vlmrun local start` "
        "to use the offline local server."
    )


class AuthenticationError(VlmRunError):
    title = "Authentication failed"
    default_hint = "Check VLMRUN_API_KEY: the server rejected the key (HTTP 401)."


class RequestError(VlmRunError):
    """400/422: the server could not accept what we sent."""

    title = "Request rejected"
    default_hint = "Check the prompt, the inputs and the schema."


class NotFoundError(VlmRunError):
    title = "Not found"
    default_hint = "Check the id and the session or execution it belongs to."


class ExpiredError(NotFoundError):
    title = "Session expired"
    default_hint = "Artifacts live 24 hours; run the request again to get fresh artifacts."


class RateLimitError(VlmRunError):
    title = "Rate limited"
    default_hint = "Too many requests; wait a little and try again."

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(VlmRunError):
    title = "Server error"
    default_hint = "The server failed; try again later."


class NetworkError(VlmRunError):
    title = "Network error"
    default_hint = "Could not reach the server; check VLMRUN_BASE_URL and your connection."


class VlmRunTimeoutError(VlmRunError):
    title = "Timed out"
    default_hint = "The server took too long; raise the timeout or try again."


class IntegrityError(VlmRunError):
    """A download was truncated, or the bytes are not what the content type promised."""

    title = "Corrupt download"
    default_hint = "The partial file was discarded; fetching again usually fixes it."


class UnboundRefError(VlmRunError):
    title = "Ref has no session"
    default_hint = (
        "Bind it first: `ref.bind(session_id=...)` or `vlmrun_jupyter.bind(ref, session_id=...)` "
        "(or `execution_id=...`)."
    )


class ExecutionFailedError(VlmRunError):
    title = "Agent execution failed"
    default_hint = "The server reported the execution as failed; see its message above."


class ResponseSchemaError(VlmRunError):
    """The model answered, but not with JSON matching the requested schema."""

    title = "Answer does not match the schema"
    default_hint = "The raw answer is in the error's `detail`; try again or loosen the schema."


class CancelledError(VlmRunError):
    title = "Cancelled"
    default_hint = "Interrupted by the user; nothing was stored."


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
    "UnboundRefError",
    "ExecutionFailedError",
    "ResponseSchemaError",
    "CancelledError",
    "redact",
]
