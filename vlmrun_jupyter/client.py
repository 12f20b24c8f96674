"""The HTTP client: completions, agent executions, artifacts and file uploads.

One pooled `httpx.Client` carries the API key, bound to the configured base URL
and never following redirects, so the key only ever goes to that origin. A second
pool without any credentials downloads the targets of `url_` artifacts and artifact
downloads the API redirects elsewhere (object storage).

Every failure becomes one exception from `errors.py` whose message says what
happened and what to do, with anything from outside passed through `redact()`.
Retries (429 honouring Retry-After, 5xx, dropped connections, truncated
downloads) are bounded by `max_retries` with exponential backoff and jitter.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from .cache import (
    ArtifactCache,
    TruncatedDownload,
    check_content_type,
)
from .kinds import media_type
from ._config import Settings
from .content import PartBuilder
from .results import Completion, Execution, parse_result, schema_json
from .errors import (
    AuthenticationError,
    ConfigurationError,
    ExecutionFailedError,
    ExpiredError,
    IntegrityError,
    NetworkError,
    NotFoundError,
    RateLimitError,
    RequestError,
    ResponseSchemaError,
    ServerError,
    VlmRunError,
    VlmRunTimeoutError,
    redact,
)
from .refs import (
    BaseRef,
    ImageRef,
    Namespace,
    UrlRef,
    bind_all,
    make_ref,
    namespace,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_MODEL = "vlmrun-orion-1:auto"
CHUNK = 1024 * 1024
_URL_BODY_MAX = 64 * 1024  # a url_ artifact's body is one URL


class _Retry(Exception):
    """Internal: this attempt failed in a way worth repeating."""

    def __init__(self, error: VlmRunError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _version() -> str:
    try:
        from . import __version__

        return __version__
    except Exception:  # pragma: no cover
        return "0"


# -- the client ------------------------------------------------------------------------------


class Client:
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
    ) -> None:
        base = settings if settings is not None else Settings.from_env()
        overrides: dict[str, Any] = {}
        if api_key is not None:
            overrides["api_key"] = api_key
        if base_url is not None:
            overrides["base_url"] = str(base_url).rstrip("/")
        if cache_dir is not None:
            overrides["cache_dir"] = Path(cache_dir).expanduser()
        self.settings = replace(base, **overrides)
        self._key = self.settings.api_key
        self.base_url = self.settings.base_url
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.cache = ArtifactCache(self.settings.cache_dir, self.settings.cache_max_bytes)

        try:
            origin = httpx.URL(self.base_url)
        except Exception:
            raise ConfigurationError(f"invalid base URL {self.base_url!r}.") from None
        if origin.scheme not in ("http", "https"):
            raise ConfigurationError(f"base URL must be http(s), not {self.base_url!r}.")

        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        headers = {"User-Agent": f"vlmrun-jupyter/{_version()}"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers=headers,
            timeout=timeout,
            limits=limits,
            follow_redirects=False,  # the key goes to this origin only
        )
        # No credentials at all: for url_ targets, which may live anywhere.
        self._external = httpx.Client(
            headers={"User-Agent": headers["User-Agent"]},
            timeout=timeout,
            limits=limits,
            follow_redirects=True,
        )

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()
        self._external.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- low level -----------------------------------------------------------------------
    def _require_key(self) -> None:
        if not self._key:
            raise ConfigurationError("This client has no API key (VLMRUN_API_KEY is not set).")

    def _redact(self, text: str) -> str:
        return redact(text, self._key)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, min(retry_after, self.retry_after_max))
        d = min(self.backoff_max, self.backoff_base * (2**attempt))
        return d / 2 + random.uniform(0, d / 2)

    def _retry(self, attempt_fn: Callable[[], T]) -> T:
        """Run `attempt_fn` up to 1 + max_retries times while it raises `_Retry`."""
        for attempt in range(self.max_retries + 1):
            try:
                return attempt_fn()
            except _Retry as r:
                if attempt >= self.max_retries:
                    raise r.error from None
                delay = self._delay(attempt, r.retry_after)
                log.debug("retrying in %.2fs after: %s", delay, r.error.message)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _what(self, method: str, path: str) -> str:
        return f"{method} {path.split('?', 1)[0]}"

    def _transport_error(self, exc: Exception, what: str) -> VlmRunError:
        if isinstance(exc, httpx.TimeoutException):
            return VlmRunTimeoutError(
                f"{what} timed out ({type(exc).__name__}).", detail=self._redact(str(exc))
            )
        return NetworkError(
            f"{what} failed: could not talk to {self.base_url} ({type(exc).__name__}).",
            detail=self._redact(str(exc)),
        )

    def _error_for(self, resp: httpx.Response, what: str) -> VlmRunError:
        """Map an HTTP error response to the exception tree (detail redacted)."""
        status = resp.status_code
        try:
            body = resp.json()
            detail = body.get("detail", body) if isinstance(body, dict) else body
        except Exception:
            detail = resp.text[:500]
        text = self._redact(detail if isinstance(detail, str) else json.dumps(detail)[:500])
        msg = f"{what} -> HTTP {status}: {text}" if text else f"{what} -> HTTP {status}."
        if status in (401, 403):
            return AuthenticationError(msg, status=status, detail=text)
        if status == 404:
            cls = ExpiredError if "expire" in text.lower() else NotFoundError
            return cls(msg, status=status, detail=text)
        if status == 429:
            return RateLimitError(
                msg, status=status, detail=text, retry_after=_retry_after(resp.headers)
            )
        if status >= 500:
            return ServerError(msg, status=status, detail=text)
        return RequestError(msg, status=status, detail=text)

    def _send(
        self,
        method: str,
        path: str,
        *,
        stream: bool = False,
        timeout: float | None = None,
        **kw: Any,
    ) -> httpx.Response:
        """One attempt. Returns a successful response (the caller closes a streamed one);
        raises `_Retry` for retryable failures and a VlmRunError for the rest."""
        self._require_key()
        what = self._what(method, path)
        try:
            req = self._http.build_request(
                method, path, timeout=timeout if timeout is not None else self.timeout, **kw
            )
            resp = self._http.send(req, stream=stream)
        except httpx.TimeoutException as exc:
            raise self._transport_error(exc, what) from None
        except httpx.TransportError as exc:
            raise _Retry(self._transport_error(exc, what)) from None
        if resp.status_code < 400:
            return resp
        try:
            if stream:
                resp.read()
        except httpx.HTTPError:
            pass
        finally:
            resp.close()
        err = self._error_for(resp, what)
        if resp.status_code == 429 or resp.status_code >= 500:
            retry_after = err.retry_after if isinstance(err, RateLimitError) else None
            raise _Retry(err, retry_after)
        raise err

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        """A JSON API call with retries."""

        def attempt() -> Any:
            resp = self._send(method, path, **kw)
            try:
                return resp.json()
            except ValueError:
                raise _Retry(
                    ServerError(f"{self._what(method, path)}: the server sent invalid JSON.")
                ) from None

        return self._retry(attempt)

    # -- completions ---------------------------------------------------------------------
    def _build(
        self,
        prompt: str | None,
        messages: list[dict[str, Any]] | None,
        inputs: Any,
        schema: Any,
        model: str,
        session_id: str | None,
        stream: bool,
        extra: dict[str, Any] | None,
        dry_run: bool,
    ) -> dict[str, Any]:
        if prompt is None and not messages and not inputs:
            raise RequestError("nothing to send: give a prompt, messages or inputs.")
        if isinstance(inputs, (list, tuple)):
            items = list(inputs)
        elif inputs is None:
            items = []
        else:
            items = [inputs]
        builder = PartBuilder(
            session_id=session_id,
            upload=None if dry_run else self.upload,
            fetch=None if dry_run else self.fetch,
        )
        parts: list[dict[str, Any]] = []
        if prompt:
            parts.append({"type": "text", "text": prompt})
        parts.extend(builder.parts(items))
        msgs = list(messages or [])
        if parts:
            msgs.append({"role": "user", "content": parts})
        body: dict[str, Any] = {"model": model, "messages": msgs}
        js = schema_json(schema)
        if js is not None:
            body["response_format"] = {"type": "json_schema", "schema": js}
        if builder.session_id:
            body["session_id"] = builder.session_id
        if stream:
            body["stream"] = True
        if extra:
            body.update(extra)
        return body

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
        return self._build(
            prompt, messages, inputs, schema, model, session_id, stream, extra, dry_run=True
        )

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
    ) -> Completion:
        """Run a chat completion; returns the typed result with refs bound to the session."""
        self._require_key()
        body = self._build(
            prompt, messages, inputs, schema, model, session_id, stream, extra, dry_run=False
        )
        t0 = time.monotonic()
        if stream:
            raw = self._retry(lambda: self._stream_completion(body, timeout, on_chunk))
        else:
            raw = self._json("POST", "openai/chat/completions", json=body, timeout=timeout)
        latency = time.monotonic() - t0
        if not isinstance(raw, dict):
            raise ServerError("the completion response is not a JSON object.")
        try:
            text = raw["choices"][0]["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ServerError("the completion response has no choices[0].message.") from None
        sid = raw.get("session_id") or body.get("session_id")
        ns = Namespace("session", sid) if sid else None
        return Completion(
            id=str(raw.get("id", "")),
            model=str(raw.get("model", model)),
            session_id=sid,
            text=text,
            result=parse_result(text, schema, ns, self),
            usage=raw.get("usage"),
            latency_s=latency,
            raw=raw,
        )

    def _stream_completion(
        self, body: dict[str, Any], timeout: float | None, on_chunk: Callable[[str], None] | None
    ) -> dict[str, Any]:
        """Assemble OpenAI-style SSE chunks into one chat.completion dict."""
        what = "POST openai/chat/completions"
        resp = self._send(
            "POST", "openai/chat/completions", json=body, timeout=timeout, stream=True
        )
        pieces: list[str] = []
        out: dict[str, Any] = {"object": "chat.completion"}
        finish = None
        started = False
        try:
            for line in resp.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except ValueError:
                    continue
                started = True
                for key in ("id", "model", "session_id", "created"):
                    if chunk.get(key):
                        out[key] = chunk[key]
                if chunk.get("usage"):
                    out["usage"] = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    piece = delta.get("content")
                    if piece:
                        pieces.append(piece)
                        if on_chunk is not None:
                            on_chunk(piece)
                    finish = choice.get("finish_reason") or finish
        except httpx.TimeoutException as exc:
            raise self._transport_error(exc, what) from None
        except httpx.TransportError as exc:
            err = self._transport_error(exc, what)
            if started:  # text was already shown: do not repeat the request
                raise err from None
            raise _Retry(err) from None
        finally:
            resp.close()
        out["choices"] = [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(pieces)},
                "finish_reason": finish,
            }
        ]
        return out

    # -- agent executions ------------------------------------------------------------------
    def _execution_inputs(self, inputs: Any) -> Any:
        """Inputs for /agent/execute: models dumped, media turned into URLs or file ids."""
        if inputs is None:
            return None
        if isinstance(inputs, BaseModel):
            return inputs.model_dump(mode="json", exclude_none=True)
        if not isinstance(inputs, dict):
            raise RequestError("execution inputs must be a dict or a pydantic model.")
        builder = PartBuilder(upload=self.upload, fetch=self.fetch)
        out: dict[str, Any] = {}
        for key, value in inputs.items():
            if value is None or isinstance(value, (str, int, float, bool, list, dict)):
                out[key] = value
                continue
            if isinstance(value, BaseRef):
                out[key] = value.id
                continue
            part = builder.part(value)
            kind = part["type"]
            out[key] = part["file_id"] if kind == "input_file" else part[kind]["url"]
        return out

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
    ) -> Execution:
        """Start an agent execution and wait for it (failed -> ExecutionFailedError)."""
        self._require_key()
        config = {
            k: v
            for k, v in {"prompt": prompt, "json_schema": schema_json(schema)}.items()
            if v is not None
        }
        body: dict[str, Any] = {
            "name": name,
            "inputs": self._execution_inputs(inputs),
            "batch": True,
            "model": model,
        }
        if config:
            body["config"] = config
        t0 = time.monotonic()
        deadline = t0 + timeout
        data = self._json("POST", "agent/execute", json=body)
        exec_id = str(data.get("id", ""))
        if not exec_id or not _namespace_ok(exec_id):
            raise ServerError("the execution response has no valid id.")
        status = str(data.get("status", ""))
        while status not in ("completed", "failed"):
            if on_status is not None:
                on_status(status, time.monotonic() - t0)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise VlmRunTimeoutError(
                    f"execution {exec_id} still {status or 'pending'} after {timeout:.0f} s.",
                    hint=f"Raise timeout=, or poll it later with GET /agent/executions/{exec_id}.",
                )
            time.sleep(min(poll_interval, remaining))
            data = self._json("GET", f"agent/executions/{exec_id}")
            status = str(data.get("status", ""))
        if on_status is not None:
            on_status(status, time.monotonic() - t0)
        if status == "failed":
            raise ExecutionFailedError(
                f"execution {exec_id} ({name}) failed: {self._redact(_failure_message(data))}",
                detail=data,
            )
        ns = Namespace("execution", exec_id)
        return Execution(
            id=exec_id,
            name=str(data.get("name", name)),
            status=status,
            result=parse_result(data.get("response"), schema, ns, self),
            usage=data.get("usage"),
            latency_s=time.monotonic() - t0,
            raw=data,
        )

    # -- files -------------------------------------------------------------------------------
    def upload(self, path_or_bytes: str | Path | bytes, filename: str | None = None) -> str:
        """Upload a file (streamed from disk) through POST /files; returns its file id."""
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            data: bytes | None = bytes(path_or_bytes)
            path = None
            name = filename or "upload.bin"
        else:
            data = None
            path = Path(path_or_bytes).expanduser()
            if not path.is_file():
                raise RequestError(f"cannot upload {path.name!r}: no such file.")
            name = filename or path.name

        def attempt() -> str:
            f = open(path, "rb") if path is not None else None  # noqa: SIM115
            try:
                files = {"file": (name, f if f is not None else data)}
                resp = self._send("POST", "files", params={"purpose": "assistants"}, files=files)
            finally:
                if f is not None:
                    f.close()
            try:
                return str(resp.json()["id"])
            except (ValueError, KeyError, TypeError):
                raise ServerError("the upload response has no file id.") from None

        return self._retry(attempt)

    # -- artifacts -----------------------------------------------------------------------------
    def artifacts(
        self, session_id: str | None = None, execution_id: str | None = None
    ) -> list[BaseRef]:
        """The refs stored in a session or execution, bound to it."""
        ns = namespace(session_id=session_id, execution_id=execution_id)
        data = self._json("GET", "artifacts/list", params=ns.query)
        refs: list[BaseRef] = []
        for item in (data or {}).get("items", []) if isinstance(data, dict) else []:
            object_id = item.get("object_id") if isinstance(item, dict) else None
            try:
                ref = make_ref(object_id)
            except ValueError:
                continue  # workspace files without a ref kind
            refs.append(bind_all(ref, ns, self))
        return refs

    def fetch(self, ref: BaseRef | str | Any) -> Path:
        """The artifact's file in the cache, downloading it once (streamed to disk)."""
        ref = as_ref(ref)
        ns = ref.require_namespace()
        if isinstance(ref, UrlRef):
            return self.cache.get_or_fetch(ref, ns, lambda: self._download_url_ref(ref, ns))
        return self.cache.get_or_fetch(
            ref, ns, lambda: self._retry(lambda: self._download(ref, ns))
        )

    def fetch_all(
        self,
        refs: Iterable[BaseRef | str | Any],
        max_workers: int = 16,
        return_exceptions: bool = False,
    ) -> list[Path | Exception]:
        """Fetch many artifacts concurrently (bounded pool); results in input order."""
        items = list(refs)
        if not items:
            return []
        workers = max(1, min(int(max_workers), len(items)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vlmrun-fetch") as pool:
            futures = [pool.submit(self.fetch, r) for r in items]
            out: list[Path | Exception] = []
            for fut in futures:
                try:
                    out.append(fut.result())
                except Exception as exc:
                    if not return_exceptions:
                        for other in futures:
                            other.cancel()
                        raise
                    out.append(exc)
            return out

    def _artifact_params(self, ref: BaseRef, ns: Namespace) -> dict[str, str]:
        return {"object_id": ref.id, **ns.query}

    def _download(self, ref: BaseRef, ns: Namespace) -> Path:
        """One attempt at streaming an artifact into the cache. A redirect (e.g. to
        object storage) is followed without our credentials."""
        resp = self._send(
            "GET",
            "artifacts",
            params=self._artifact_params(ref, ns),
            headers={"Accept-Encoding": "identity"},
            stream=True,
        )
        try:
            if resp.is_redirect and resp.headers.get("location"):
                target = resp.url.join(resp.headers["location"])
                resp.close()
                if target.scheme not in ("http", "https"):
                    raise IntegrityError(f"{ref.id}: redirected to a non-http(s) URL; refused.")
                resp = self._get_external(target)
            content_type = resp.headers.get("content-type")
            check_content_type(ref, content_type)
            ext = (
                "png"
                if isinstance(ref, ImageRef) and media_type(content_type) == "image/png"
                else ref.ext
            )
            dest = self.cache.ns_dir(ns) / f"{ref.id}.{ext}"
            return self._store(resp, dest, ref.kind, ref.id)
        finally:
            resp.close()

    def _get_external(self, url: httpx.URL) -> httpx.Response:
        """One streamed GET without any credentials (url_ targets, storage redirects).
        Returns a successful response; raises `_Retry` or a VlmRunError otherwise."""
        what = f"GET {url.host}"
        try:
            resp = self._external.send(
                self._external.build_request("GET", url, headers={"Accept-Encoding": "identity"}),
                stream=True,
            )
        except httpx.TimeoutException as exc:
            raise self._transport_error(exc, what) from None
        except httpx.TransportError as exc:
            raise _Retry(self._transport_error(exc, what)) from None
        if resp.status_code < 400:
            return resp
        try:
            resp.read()
        except httpx.HTTPError:
            pass
        finally:
            resp.close()
        err = self._error_for(resp, what)
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Retry(err, getattr(err, "retry_after", None))
        raise err

    def _store(self, resp: httpx.Response, dest: Path, kind: str, what: str) -> Path:
        """Stream a response body into the cache, turning mid-body failures into retries."""
        encoded = resp.headers.get("content-encoding", "identity").lower() not in ("", "identity")
        expected = None if encoded else _content_length(resp.headers)
        chunks = resp.iter_bytes(CHUNK) if encoded else resp.iter_raw(CHUNK)
        try:
            return self.cache.store(
                dest, _guard(chunks, self, what), kind=kind, expected_size=expected, what=what
            )
        except TruncatedDownload as exc:
            raise _Retry(exc) from None

    def _download_url_ref(self, ref: BaseRef, ns: Namespace) -> Path:
        """url_ artifacts: read the URL from the API, then download it without credentials."""

        def read_url() -> str:
            resp = self._send(
                "GET", "artifacts", params=self._artifact_params(ref, ns), stream=True
            )
            try:
                body = b""
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > _URL_BODY_MAX:
                        raise IntegrityError(f"{ref.id}: the url artifact body is too large.")
            except httpx.TimeoutException as exc:
                raise self._transport_error(exc, "GET artifacts") from None
            except httpx.TransportError as exc:
                raise _Retry(self._transport_error(exc, "GET artifacts")) from None
            finally:
                resp.close()
            return body.decode("utf-8", "replace").strip()

        url = self._retry(read_url)
        try:
            target = httpx.URL(url)
        except Exception:
            target = None
        if target is None or target.scheme not in ("http", "https") or not target.host:
            raise IntegrityError(
                f"{ref.id}: the artifact points at {_short(self._redact(url), 80)!r}, "
                "which is not an http(s) URL; refused.",
                hint="Only http and https links are downloaded.",
            )
        dest = self.cache.url_dest(ref, ns, url)

        def download() -> Path:
            resp = self._get_external(target)
            try:
                return self._store(resp, dest, "url", ref.id)
            finally:
                resp.close()

        path = self._retry(download)
        self.cache.write_url_sidecar(ref, ns, url)
        return path


# -- helpers -----------------------------------------------------------------------------------


def _namespace_ok(value: str) -> bool:
    try:
        Namespace("execution", value)
        return True
    except ValueError:
        return False


def _guard(chunks: Iterator[bytes], client: Client, what: str) -> Iterator[bytes]:
    """Re-raise httpx errors met mid-body as ours (truncation is retried)."""
    try:
        yield from chunks
    except httpx.TimeoutException as exc:
        raise VlmRunTimeoutError(
            f"{what}: the download stalled ({type(exc).__name__}); nothing was cached."
        ) from None
    except httpx.TransportError as exc:
        raise _Retry(
            TruncatedDownload(
                f"{what}: the connection dropped mid-download ({type(exc).__name__}); "
                "nothing was cached.",
                detail=client._redact(str(exc)),
            )
        ) from None


def _content_length(headers: httpx.Headers) -> int | None:
    try:
        n = int(headers.get("content-length", ""))
        return n if n >= 0 else None
    except ValueError:
        return None


def _retry_after(headers: httpx.Headers) -> float | None:
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _failure_message(data: dict[str, Any]) -> str:
    for key in ("error", "detail", "message"):
        if data.get(key):
            return str(data[key])[:500]
    resp = data.get("response")
    if isinstance(resp, dict):
        for key in ("error", "detail", "message"):
            if resp.get(key):
                return str(resp[key])[:500]
    return "no message from the server"


def as_ref(value: Any) -> BaseRef:
    """Ours as is; an id string or the SDK's ref model -> our ref (namespace from the registry)."""
    if isinstance(value, BaseRef):
        return value
    object_id = value if isinstance(value, str) else getattr(value, "id", None)
    try:
        return make_ref(object_id)  # type: ignore[arg-type]
    except ValueError as exc:
        raise RequestError(str(exc)) from None


__all__ = [
    "Client",
    "Completion",
    "Execution",
    "as_ref",
    "DEFAULT_MODEL",
]
