"""The VLM Run wire protocol as pure functions: bodies out, parsed answers in.

Nothing here does I/O, so the client, the magic's `--dry-run` and the unit tests
share one definition of every request body and every response parse (design.md
section 3). The HTTP side (`_http.py`) hands these functions status codes and bytes.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import httpx

from ..errors import (
    AuthenticationError,
    ExpiredError,
    IntegrityError,
    NotFoundError,
    RateLimitError,
    RequestError,
    ServerError,
    VlmRunError,
    redact,
)
from ..refs import BaseRef, Namespace, RefClient, bind_all, make_ref
from ..results import Completion, Execution, parse_result, schema_json

DEFAULT_MODEL = "vlmrun-orion-1:auto"
COMPLETIONS_PATH = "openai/chat/completions"
EXECUTE_PATH = "agent/execute"
ARTIFACTS_PATH = "artifacts"
ARTIFACT_LIST_PATH = "artifacts/list"
FILES_PATH = "files"
_DETAIL_MAX = 500  # characters of a server's error detail kept in a message


# -- request bodies ----------------------------------------------------------------------------


def completion_body(
    parts: list[dict[str, Any]],
    *,
    messages: list[dict[str, Any]] | None = None,
    schema: Any = None,
    model: str = DEFAULT_MODEL,
    session_id: str | None = None,
    stream: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """POST /openai/chat/completions: the user's parts appended as one user message;
    structured output as `{"type": "json_schema", "schema": ...}` (the API's flat form)."""
    msgs = list(messages or [])
    if parts:
        msgs.append({"role": "user", "content": parts})
    body: dict[str, Any] = {"model": model, "messages": msgs}
    js = schema_json(schema)
    if js is not None:
        body["response_format"] = {"type": "json_schema", "schema": js}
    if session_id:
        body["session_id"] = session_id
    if stream:
        body["stream"] = True
    if extra:
        body.update(extra)
    return body


def execution_body(
    name: str,
    *,
    inputs: dict[str, Any] | None = None,
    prompt: str | None = None,
    schema: Any = None,
    model: str = DEFAULT_MODEL,
) -> dict[str, Any]:
    """POST /agent/execute: `{name, inputs, batch, model, config: {prompt, json_schema}}`,
    with `config` holding only what was given (and left out when empty)."""
    config = {
        k: v
        for k, v in {"prompt": prompt, "json_schema": schema_json(schema)}.items()
        if v is not None
    }
    body: dict[str, Any] = {"name": name, "inputs": inputs, "batch": True, "model": model}
    if config:
        body["config"] = config
    return body


def artifact_params(ref: BaseRef, ns: Namespace) -> dict[str, str]:
    """GET /artifacts: the object id and exactly one of session_id / execution_id."""
    return {"object_id": ref.id, **ns.query}


# -- responses -----------------------------------------------------------------------------------


def completion_from(
    raw: Any,
    *,
    schema: Any,
    model: str,
    session_id: str | None,
    latency_s: float,
    client: RefClient | None = None,
) -> Completion:
    """A chat.completion dict -> `Completion` (refs bound to the answer's session, else to
    the session the request continued)."""
    if not isinstance(raw, dict):
        raise ServerError("the completion response is not a JSON object.")
    try:
        text = raw["choices"][0]["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ServerError("the completion response has no choices[0].message.") from None
    sid = raw.get("session_id") or session_id
    ns = Namespace("session", sid) if sid else None
    return Completion(
        id=str(raw.get("id", "")),
        model=str(raw.get("model", model)),
        session_id=sid,
        text=text,
        result=parse_result(text, schema, ns, client),
        usage=raw.get("usage"),
        latency_s=latency_s,
        raw=raw,
    )


class SseAssembler:
    """Feeds OpenAI-style `data:` lines in, gives the text pieces out, and assembles the
    same chat.completion dict a non-streamed request answers. `session_id` rides on chunks."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.out: dict[str, Any] = {"object": "chat.completion"}
        self.finish: str | None = None
        self.started = False  # a chunk arrived: the request must not be repeated
        self.done = False  # `data: [DONE]` seen

    def feed(self, line: str) -> str | None:
        """One line of the event stream -> the text it adds (None if none)."""
        if self.done or not line.startswith("data:"):
            return None
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return None
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):
            return None
        if not isinstance(chunk, dict):
            return None
        self.started = True
        for key in ("id", "model", "session_id", "created"):
            if chunk.get(key):
                self.out[key] = chunk[key]
        if chunk.get("usage"):
            self.out["usage"] = chunk["usage"]
        added: list[str] = []
        for choice in chunk.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                added.append(piece)
            self.finish = choice.get("finish_reason") or self.finish
        self.pieces.extend(added)
        return "".join(added) or None

    def result(self) -> dict[str, Any]:
        """The assembled chat.completion."""
        message = {"role": "assistant", "content": "".join(self.pieces)}
        choice = {"index": 0, "message": message, "finish_reason": self.finish}
        return {**self.out, "choices": [choice]}


def execution_id(data: Any) -> str:
    """The id of a started execution (it names a cache directory: validated)."""
    exec_id = str(data.get("id", "")) if isinstance(data, dict) else ""
    try:
        Namespace("execution", exec_id)
    except ValueError:
        raise ServerError("the execution response has no valid id.") from None
    return exec_id


def execution_status(data: Any) -> str:
    return str(data.get("status", "")) if isinstance(data, dict) else ""


def is_final(status: str) -> bool:
    """`failed` is final too (the SDK keeps polling a failed execution)."""
    return status in ("completed", "failed")


def failure_message(data: dict[str, Any]) -> str:
    """What a failed execution says about itself, wherever the server put it."""
    for where in (data, data.get("response")):
        if isinstance(where, dict):
            for key in ("error", "detail", "message"):
                if where.get(key):
                    return str(where[key])[:_DETAIL_MAX]
    return "no message from the server"


def execution_from(
    data: dict[str, Any],
    *,
    name: str,
    schema: Any,
    latency_s: float,
    client: RefClient | None = None,
) -> Execution:
    """A completed execution -> `Execution` (refs bound to the execution)."""
    exec_id = execution_id(data)
    return Execution(
        id=exec_id,
        name=str(data.get("name", name)),
        status=execution_status(data),
        result=parse_result(data.get("response"), schema, Namespace("execution", exec_id), client),
        usage=data.get("usage"),
        latency_s=latency_s,
        raw=data,
    )


def file_id(data: Any) -> str:
    """POST /files -> the id to send as `{"type": "input_file", "file_id": id}`."""
    try:
        return str(data["id"])
    except (KeyError, TypeError, IndexError):
        raise ServerError("the upload response has no file id.") from None


def artifact_list(data: Any, ns: Namespace, client: RefClient | None = None) -> list[BaseRef]:
    """GET /artifacts/list -> the refs in it, bound (workspace files without a kind skipped)."""
    items = data.get("items") if isinstance(data, dict) else None
    refs: list[BaseRef] = []
    for item in items if isinstance(items, list) else []:
        object_id = item.get("object_id") if isinstance(item, dict) else None
        try:
            ref = make_ref(object_id)  # type: ignore[arg-type]
        except ValueError:
            continue
        refs.append(bind_all(ref, ns, client))
    return refs


def url_from_body(body: bytes, ref_id: str, *secrets: str | None) -> str:
    """A url_ artifact's body is one URL: only http(s) URLs with a host are followed."""
    url = body.decode("utf-8", "replace").strip()
    try:
        target: httpx.URL | None = httpx.URL(url)
    except Exception:
        target = None
    if target is None or target.scheme not in ("http", "https") or not target.host:
        shown = redact(url, *secrets)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise IntegrityError(
            f"{ref_id}: the artifact points at {shown!r}, which is not an http(s) URL; refused.",
            hint="Only http and https links are downloaded.",
        )
    return url


# -- errors ----------------------------------------------------------------------------------------


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) -> seconds to wait, else None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def is_retryable(status: int) -> bool:
    """429 and 5xx are worth repeating; other errors are answers."""
    return status == 429 or status >= 500


def error_for(
    status: int,
    body: bytes,
    *,
    what: str,
    retry_after_header: str | None = None,
    secrets: tuple[str | None, ...] = (),
) -> VlmRunError:
    """An HTTP error response -> one exception from the tree, the server's `detail` in the
    message (redacted: the key never appears)."""
    try:
        parsed = json.loads(body)
        detail = parsed.get("detail", parsed) if isinstance(parsed, dict) else parsed
    except (ValueError, RecursionError):
        detail = body.decode("utf-8", "replace")[:_DETAIL_MAX]
    raw = detail if isinstance(detail, str) else json.dumps(detail)[:_DETAIL_MAX]
    text = redact(raw, *secrets)
    msg = f"{what} -> HTTP {status}: {text}" if text else f"{what} -> HTTP {status}."
    if status in (401, 403):
        return AuthenticationError(msg, status=status, detail=text)
    if status == 404:
        cls = ExpiredError if "expire" in text.lower() else NotFoundError
        return cls(msg, status=status, detail=text)
    if status == 429:
        wait = retry_after(retry_after_header)
        return RateLimitError(msg, status=status, detail=text, retry_after=wait)
    if status >= 500:
        return ServerError(msg, status=status, detail=text)
    return RequestError(msg, status=status, detail=text)


__all__ = [
    "DEFAULT_MODEL",
    "COMPLETIONS_PATH",
    "EXECUTE_PATH",
    "SseAssembler",
    "artifact_list",
    "artifact_params",
    "completion_body",
    "completion_from",
    "error_for",
    "execution_body",
    "execution_from",
    "execution_id",
    "execution_status",
    "failure_message",
    "file_id",
    "is_final",
    "is_retryable",
    "retry_after",
    "url_from_body",
]
