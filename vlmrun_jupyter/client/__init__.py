"""The HTTP client: completions, agent executions, artifacts and file uploads.

`Client` is a facade over four private modules, each readable on its own:

- `_http`: the two connection pools (the API's, with the key and no redirects; an
  external one with no credentials), retries with backoff, deadlines, error mapping,
  and the `transport=` seam (`httpx.MockTransport` in tests);
- `_protocol`: pure request-body builders and response parsers (SSE included), so
  `build_request` / `build_execution_request` show exactly what would be sent;
- `_content`: Python inputs (images, arrays, paths, URLs, refs) -> content parts;
- `_artifacts`: downloads into the cache (redirects and url_ targets without the key).

Every failure is one exception from `errors.py` whose message says what happened and
what to do; nothing shown to a user ever contains the API key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from .._config import Settings
from ..cache import ArtifactCache
from ..errors import ExecutionFailedError, RequestError, VlmRunTimeoutError
from ..refs import BaseRef, coerce_ref, make_ref, namespace
from ..results import Completion, Execution, parse_result
from . import _protocol as protocol
from ._artifacts import ArtifactDownloader, fetch_concurrently
from ._batch import BatchMethods
from ._content import PartBuilder
from ._http import Http, OnProgress, post_file
from ._protocol import COMPLETIONS_PATH, DEFAULT_MODEL, EXECUTE_PATH
from ._retry import Deadline, RetryPolicy


class Client(BatchMethods):
    """VLM Run over HTTP, with an artifact cache. Thread-safe; use one per process."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        cache_dir: str | Path | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        settings: Settings | None = None,
        backoff_base: float = 0.2,
        backoff_max: float = 8.0,
        retry_after_max: float = 30.0,
        max_connections: int = 32,
        transport: httpx.BaseTransport | None = None,
        deadline: float | None = None,
    ) -> None:
        self.settings = _settings(settings, api_key, base_url, cache_dir, deadline)
        self.base_url = self.settings.base_url
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.deadline = self.settings.deadline  # seconds in all per fetch / completion
        st = self.settings
        self.cache = ArtifactCache(st.cache_dir, st.cache_max_bytes, st.max_artifact_bytes)
        policy = RetryPolicy(self.max_retries, backoff_base, backoff_max, retry_after_max)
        self._http = Http(
            self.base_url, st.api_key, timeout=timeout, policy=policy,
            max_connections=max_connections, transport=transport, deadline=st.deadline,
            max_json_bytes=st.max_json_bytes, max_decoded_bytes=st.max_decoded_bytes,
        )  # fmt: skip
        self._artifacts = ArtifactDownloader(self._http, self.cache)

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        """A JSON API call with retries (for endpoints without a method of their own)."""
        return self._http.json(method, path, **kw)

    # -- completions -------------------------------------------------------------------------
    def _completion_body(
        self,
        prompt: str | None,
        messages: list[dict[str, Any]] | None,
        inputs: Any,
        builder: PartBuilder,
        **options: Any,
    ) -> dict[str, Any]:
        if prompt is None and not messages and not inputs:
            raise RequestError("nothing to send: give a prompt, messages or inputs.")
        if inputs is None:
            inputs = []
        items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        parts = [{"type": "text", "text": prompt}] if prompt else []
        parts.extend(builder.parts(items))  # may continue the session of a ref passed back
        options["session_id"] = builder.session_id
        return protocol.completion_body(parts, messages=messages, **options)

    def build_request(
        self,
        prompt: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        inputs: Any = (),
        schema: Any = None,
        model: str = DEFAULT_MODEL,
        session_id: str | None = None,
        stream: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The JSON body `complete()` would send, without sending or uploading anything
        (large inputs show as `<to upload: ...>` placeholders). Never contains the key."""
        return self._completion_body(
            prompt, messages, inputs, PartBuilder(session_id=session_id),
            schema=schema, model=model, stream=stream, extra=extra,
        )  # fmt: skip

    def complete(
        self,
        prompt: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        inputs: Any = (),
        schema: Any = None,
        model: str = DEFAULT_MODEL,
        session_id: str | None = None,
        stream: bool = False,
        timeout: float | None = None,
        on_chunk: Callable[[str], None] | None = None,
        extra: dict[str, Any] | None = None,
        on_progress: OnProgress | None = None,
    ) -> Completion:
        """Run a chat completion; returns the typed result with refs bound to the session.
        `on_progress(phase, done, total)` hears 'uploading' (large inputs) and 'waiting'.
        `timeout` (default: the client's `deadline`) bounds the whole call, streamed or
        not: uploads, every attempt and every wait between attempts."""
        self._http.require_key()
        seconds = float(timeout) if timeout is not None else None
        with self._http.within("the completion", seconds):
            builder = _run_builder(self, on_progress, session_id=session_id)
            body = self._completion_body(
                prompt, messages, inputs, builder,
                schema=schema, model=model, stream=stream, extra=extra,
            )  # fmt: skip
            t0 = time.monotonic()
            if on_progress is not None:
                on_progress("waiting", None, None)
            if stream:
                raw = self._http.retry(
                    lambda: self._http.stream_sse(COMPLETIONS_PATH, body, timeout, on_chunk)
                )
            else:
                raw = self._http.json("POST", COMPLETIONS_PATH, json=body, timeout=timeout)
            return protocol.completion_from(
                raw, schema=schema, model=model, session_id=body.get("session_id"),
                latency_s=time.monotonic() - t0, client=self,
            )  # fmt: skip

    # -- agent executions ------------------------------------------------------------------------
    def build_execution_request(
        self,
        name: str,
        *,
        prompt: str | None = None,
        inputs: Any = None,
        schema: Any = None,
        model: str = DEFAULT_MODEL,
    ) -> dict[str, Any]:
        """The JSON body `execute()` would send, without uploading or fetching anything
        (large inputs show as `<to upload: ...>` placeholders). Never contains the key."""
        fields = {"prompt": prompt, "schema": schema, "model": model}
        return self._execution_body(name, inputs, PartBuilder(), **fields)

    def _execution_body(
        self, name: str, inputs: Any, builder: PartBuilder, **fields: Any
    ) -> dict[str, Any]:
        """One body for the dry run and the real run: only the builder differs."""
        return protocol.execution_body(name, inputs=builder.execution_inputs(inputs), **fields)

    def execute(
        self,
        name: str,
        *,
        prompt: str | None = None,
        inputs: Any = None,
        schema: Any = None,
        model: str = DEFAULT_MODEL,
        timeout: float = 180.0,
        poll_interval: float = 0.5,
        on_status: Callable[[str, float], None] | None = None,
        on_progress: OnProgress | None = None,
    ) -> Execution:
        """Start an agent execution and wait for it (failed -> ExecutionFailedError)."""
        self._http.require_key()
        builder = _run_builder(self, on_progress)
        fields = {"prompt": prompt, "schema": schema, "model": model}
        body = self._execution_body(name, inputs, builder, **fields)
        deadline = Deadline(timeout)
        if on_progress is not None:
            on_progress("waiting", None, None)
        data = self._http.json("POST", EXECUTE_PATH, json=body)
        exec_id = protocol.execution_id(data)
        status = protocol.execution_status(data)
        while not protocol.is_final(status):
            if on_status is not None:
                on_status(status, deadline.elapsed)
            if deadline.remaining <= 0:
                raise VlmRunTimeoutError(
                    f"execution {exec_id} still {status or 'pending'} after {timeout:.0f} s.",
                    hint=f"Raise timeout=, or poll it later with GET /agent/executions/{exec_id}.",
                )
            time.sleep(min(poll_interval, deadline.remaining))
            data = self._http.json("GET", f"agent/executions/{exec_id}")
            status = protocol.execution_status(data)
        if on_status is not None:
            on_status(status, deadline.elapsed)
        if status == "failed":
            message = self._http.redact(protocol.failure_message(data))
            raise ExecutionFailedError(
                f"execution {exec_id} ({name}) failed: {message}", detail=data
            )
        return protocol.execution_from(
            data, name=name, schema=schema, latency_s=deadline.elapsed, client=self
        )

    # -- files and artifacts ---------------------------------------------------------------------
    def upload(
        self,
        path_or_bytes: str | Path | bytes,
        filename: str | None = None,
        on_progress: OnProgress | None = None,
    ) -> str:
        """Upload a file (streamed from disk) through POST /files; returns its file id."""
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            data: bytes | Path = bytes(path_or_bytes)
            name = filename or "upload.bin"
        else:
            data = Path(path_or_bytes).expanduser()
            if not data.is_file():
                raise RequestError(f"cannot upload {data.name!r}: no such file.")
            name = filename or data.name
        answer = post_file(
            self._http,
            protocol.FILES_PATH,
            data,
            name,
            params={"purpose": "assistants"},
            on_progress=on_progress,
        )
        return protocol.file_id(answer)

    def artifacts(
        self, session_id: str | None = None, execution_id: str | None = None
    ) -> list[BaseRef]:
        """The refs stored in a session or execution, bound to it."""
        ns = namespace(session_id=session_id, execution_id=execution_id)
        data = self._http.json("GET", protocol.ARTIFACT_LIST_PATH, params=ns.query)
        return protocol.artifact_list(data, ns, self)

    def fetch(self, ref: BaseRef | str | Any, on_progress: OnProgress | None = None) -> Path:
        """The artifact's file in the cache, downloading it once (streamed to disk).
        Takes our refs, the official SDK's, or an id string (namespace from the registry).
        `on_progress(phase, done, total)` hears 'downloading' with bytes so far."""
        ref = _as_ref(ref)
        with self._http.within(f"fetching {ref.id}"):
            return self._artifacts.fetch(ref, on_progress)

    def fetch_all(
        self,
        refs: Iterable[BaseRef | str | Any],
        max_workers: int = 16,
        return_exceptions: bool = False,
        on_progress: OnProgress | None = None,
    ) -> list[Path | Exception]:
        """Fetch many artifacts concurrently (bounded pool); results in input order
        (`on_progress` is called from the pool's threads)."""
        fetch = self.fetch if on_progress is None else partial(self.fetch, on_progress=on_progress)
        return fetch_concurrently(fetch, refs, max_workers, return_exceptions)


def _settings(
    base: Settings | None,
    api_key: str | None,
    base_url: str | None,
    cache_dir: str | Path | None,
    deadline: float | None,
) -> Settings:
    """The environment's settings (or `base`) with the constructor's explicit values."""
    overrides: dict[str, Any] = {}
    if api_key is not None:
        overrides["api_key"] = api_key
    if base_url is not None:
        overrides["base_url"] = str(base_url).rstrip("/")
    if cache_dir is not None:
        overrides["cache_dir"] = Path(cache_dir).expanduser()
    if deadline is not None:
        overrides["deadline"] = float(deadline)
    return replace(base if base is not None else Settings.from_env(), **overrides)


def _run_builder(client: Client, on_progress: OnProgress | None, **kw: Any) -> PartBuilder:
    """Content parts for a real run: large inputs uploaded, foreign refs fetched (both
    reporting to `on_progress` when given)."""
    if on_progress is None:
        return PartBuilder(upload=client.upload, fetch=client.fetch, **kw)
    upload = partial(client.upload, on_progress=on_progress)
    fetch = partial(client.fetch, on_progress=on_progress)
    return PartBuilder(upload=upload, fetch=fetch, **kw)


def _as_ref(value: Any) -> BaseRef:
    """What `fetch` takes -> our ref (a clear RequestError for anything else)."""
    try:
        ref = make_ref(value) if isinstance(value, str) else coerce_ref(value)
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    if ref is None:
        raise RequestError(f"cannot fetch a {type(value).__name__}: expected an artifact ref.")
    return ref


__all__ = [
    "Client",
    "Completion",
    "Execution",
    "parse_result",
    "DEFAULT_MODEL",
    "COMPLETIONS_PATH",
    "EXECUTE_PATH",
]
