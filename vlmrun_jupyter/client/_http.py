"""HTTP plumbing: two connection pools, error mapping, bounded reads (the retry policy and
deadlines they run under: `_retry`).

The API pool carries the key, is bound to the configured base URL and never follows
redirects, so the key only ever goes to that origin. The external pool carries no
credentials at all: it downloads `url_` targets and artifacts the API redirects
elsewhere (object storage). Both take the same `transport=` (an `httpx.MockTransport`
in unit tests), and every failure on either goes through one attempt function, so a
status code means the same exception wherever it came from.
"""

from __future__ import annotations

import importlib.metadata
import io
import json as jsonlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from .._config import DEFAULT_DEADLINE, DEFAULT_MAX_DECODED_BYTES, DEFAULT_MAX_JSON_BYTES
from ..cache import TruncatedDownload
from ..errors import (
    ConfigurationError,
    NetworkError,
    RateLimitError,
    ServerError,
    VlmRunError,
    VlmRunTimeoutError,
    redact,
)
from . import _protocol
from ._decode import decoded, over_limit
from ._reads import transport as compact_transport
from ._retry import Deadline, Retry, RetryPolicy, within

T = TypeVar("T")
# A progress callback: (phase, bytes done, bytes in all); phases are "uploading",
# "waiting" and "downloading"; either number may be None when it is not known.
OnProgress = Callable[[str, int | None, int | None], None]


class _Counted:
    """A file object for httpx's multipart upload that reports how much was read."""

    def __init__(self, f: Any, total: int, on_progress: OnProgress) -> None:
        self._f, self.total, self.done, self._report = f, total, 0, on_progress
        self.name = getattr(f, "name", "upload.bin")

    def read(self, n: int = -1) -> bytes:
        chunk = self._f.read(n)
        self.done += len(chunk)
        self._report("uploading", self.done, self.total)
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()


def counted(
    chunks: Iterable[bytes], total: int | None, on_progress: OnProgress | None
) -> Iterator[bytes]:
    """Pass chunks through, reporting 'downloading' with the bytes seen so far."""
    if on_progress is None:
        yield from chunks
        return
    done = 0
    on_progress("downloading", 0, total)
    for chunk in chunks:
        done += len(chunk)
        on_progress("downloading", done, total)
        yield chunk


def _user_agent() -> str:
    try:
        version = importlib.metadata.version("vlmrun-jupyter")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        version = "0"
    return f"vlmrun-jupyter/{version}"


class Http:
    """The API and external pools, the retry policy, and the mapping of failures."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float,
        policy: RetryPolicy,
        max_connections: int = 32,
        transport: httpx.BaseTransport | None = None,
        deadline: float = DEFAULT_DEADLINE,
        max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
        max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
    ) -> None:
        try:
            origin = httpx.URL(base_url)
        except Exception:
            raise ConfigurationError(f"invalid base URL {base_url!r}.") from None
        if origin.scheme not in ("http", "https"):
            raise ConfigurationError(f"base URL must be http(s), not {base_url!r}.")
        self.base_url = base_url
        self.timeout = timeout
        self.policy = policy
        self.deadline = deadline
        self.max_json_bytes = max_json_bytes
        self.max_decoded_bytes = max_decoded_bytes
        self._key = api_key
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        agent = {"User-Agent": _user_agent()}
        auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.api = httpx.Client(
            base_url=base_url + "/",
            headers={**agent, **auth},
            timeout=timeout,
            limits=limits,
            follow_redirects=False,  # the key goes to this origin only
            transport=transport or compact_transport(limits),
        )
        self._api_base = str(self.api.base_url)  # ends in "/" (httpx sees to it)
        self.external = httpx.Client(
            headers=agent,
            timeout=timeout,
            limits=limits,
            follow_redirects=True,
            transport=transport or compact_transport(limits),
        )

    def close(self) -> None:
        self.api.close()
        self.external.close()

    # -- helpers ---------------------------------------------------------------------------
    def require_key(self) -> None:
        if not self._key:
            raise ConfigurationError("This client has no API key (VLMRUN_API_KEY is not set).")

    @property
    def secrets(self) -> tuple[str | None, ...]:
        """What `redact` removes from anything shown to a user."""
        return (self._key,)

    def redact(self, text: str) -> str:
        return redact(text, *self.secrets)

    def retry(self, attempt_fn: Callable[[], T]) -> T:
        return self.policy.run(attempt_fn, Deadline.current())

    def within(self, what: str, seconds: float | None = None) -> Any:
        """One total deadline (default `self.deadline`) for the block: see `within`."""
        return within(what, seconds if seconds is not None else self.deadline)

    def transport_error(self, exc: Exception, what: str, where: str | None = None) -> VlmRunError:
        if isinstance(exc, httpx.TimeoutException):
            return VlmRunTimeoutError(
                f"{what} timed out ({type(exc).__name__}).", detail=self.redact(str(exc))
            )
        return NetworkError(
            f"{what} failed: could not talk to {where or self.base_url} ({type(exc).__name__}).",
            detail=self.redact(str(exc)),
        )

    # -- one attempt -------------------------------------------------------------------------
    def _attempt(
        self, pool: httpx.Client, request: httpx.Request, what: str, stream: bool
    ) -> httpx.Response:
        """Send once. A success is returned (the caller closes a streamed one); a timeout
        is final; a dropped connection, 429 or 5xx raises `Retry`; other errors raise."""
        deadline = Deadline.current()
        if deadline is not None:
            deadline.check(what)
            own = request.extensions.get("timeout", {}).get("read") or self.timeout
            request.extensions["timeout"] = httpx.Timeout(deadline.read_timeout(own)).as_dict()
        try:
            resp = _unlinked(pool.send(request, stream=stream))
        except httpx.TimeoutException as exc:
            if deadline is not None:
                deadline.check(what, slack=0.1)
            raise self.transport_error(exc, what, request.url.host) from None
        except httpx.TransportError as exc:
            raise Retry(self.transport_error(exc, what, request.url.host)) from None
        except httpx.HTTPError as exc:  # too many redirects, a bad URL: final
            raise NetworkError(
                f"{what} failed ({type(exc).__name__}).", detail=self.redact(str(exc))
            ) from None
        if resp.status_code < 400:
            return resp
        try:
            body = b"".join(bounded(self, resp, what, self.max_json_bytes, "VLMRUN_MAX_JSON_BYTES"))
        except (httpx.HTTPError, VlmRunError, Retry):
            body = b""
        finally:
            resp.close()
        err = _protocol.error_for(
            resp.status_code,
            body,
            what=what,
            retry_after_header=resp.headers.get("retry-after"),
            secrets=self.secrets,
        )
        retryable = _protocol.is_retryable(resp.status_code)
        try:
            if retryable:
                raise Retry(err, err.retry_after if isinstance(err, RateLimitError) else None)
            raise err
        finally:
            del err, resp  # the traceback holds this frame: no cycle through them

    def send(
        self,
        method: str,
        path: str,
        *,
        stream: bool = False,
        timeout: float | None = None,
        params: Any = None,
        **kw: Any,
    ) -> httpx.Response:
        """One attempt at an API call (with the key)."""
        self.require_key()
        request = self.api.build_request(
            method,
            self.api_url(path, params),
            timeout=timeout if timeout is not None else self.timeout,
            **kw,
        )
        return self._attempt(self.api, request, f"{method} {path.split('?', 1)[0]}", stream)

    def api_url(self, path: str, params: Any = None) -> str:
        """An API path's absolute URL, always under the API's base, `params` encoded as
        httpx does: parsed once, where httpx's merging of a path and params parses it
        three times (~30 us a request, a tenth of a small download's CPU)."""
        url = self._api_base + path.lstrip("/")
        if params:
            url += ("&" if "?" in url else "?") + str(httpx.QueryParams(params))
        return url

    def get_external(self, url: httpx.URL | str) -> httpx.Response:
        """One streamed GET without any credentials (url_ targets, storage redirects)."""
        url = httpx.URL(url)
        request = self.external.build_request("GET", url, headers={"Accept-Encoding": "identity"})
        return self._attempt(self.external, request, f"GET {url.host}", stream=True)

    def json(self, method: str, path: str, **kw: Any) -> Any:
        """An API call answered with JSON, retried (invalid JSON only for a GET), within
        the operation's deadline (or one of its own)."""
        what = f"{method} {path.split('?', 1)[0]}"

        def attempt() -> Any:
            resp = self.send(method, path, stream=True, **kw)
            return read_json(self, resp, what, retry_invalid=method == "GET")

        if Deadline.current() is not None:
            return self.retry(attempt)
        with self.within(what):
            return self.retry(attempt)

    def stream_sse(
        self,
        path: str,
        body: dict[str, Any],
        timeout: float | None,
        on_chunk: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """One attempt at a streamed POST: each text piece goes to `on_chunk` as it arrives;
        returns the assembled answer. Once text was shown, a drop is final (not repeated)."""
        sse = _protocol.SseAssembler()
        what = f"POST {path}"
        resp = self.send("POST", path, json=body, timeout=timeout, stream=True)
        try:
            pieces = bounded(self, resp, what, self.max_json_bytes, "VLMRUN_MAX_JSON_BYTES")
            for line in _lines(pieces):
                piece = sse.feed(line)
                if piece and on_chunk is not None:
                    on_chunk(piece)
                if sse.done:
                    break
        except Retry as r:
            if sse.started:
                raise r.error from None
            raise
        finally:
            resp.close()
        return sse.result()

    def guard(self, chunks: Iterable[T], what: str, *, download: bool = False) -> Iterator[T]:
        """Re-raise httpx errors met mid-body as ours: a stall is final, a drop is retried
        (for a download, as a `TruncatedDownload`: nothing was cached)."""
        deadline = Deadline.current()
        try:
            for chunk in chunks:
                if deadline is not None:
                    deadline.check(what)
                yield chunk
        except httpx.TimeoutException as exc:
            if deadline is not None:
                deadline.check(what, slack=0.1)
            if download:
                raise VlmRunTimeoutError(
                    f"{what}: the download stalled ({type(exc).__name__}); nothing was cached."
                ) from None
            raise self.transport_error(exc, what) from None
        except httpx.TransportError as exc:
            if download:
                raise Retry(
                    TruncatedDownload(
                        f"{what}: the connection dropped mid-download ({type(exc).__name__}); "
                        "nothing was cached.",
                        detail=self.redact(str(exc)),
                    )
                ) from None
            raise Retry(self.transport_error(exc, what)) from None


_EMPTY = httpx.ByteStream(b"")


class _Unlinking(httpx.SyncByteStream):
    """A response's body that lets the response go when it closes. httpx's response and
    the stream that times its body refer to each other, so a closed response would wait
    for the cyclic garbage collector, with its request, headers and buffers (~50
    objects): a batch had hundreds waiting at any moment, and the heap fragmented
    around them. Closing (by us, or by httpx at the end of the body) breaks the cycle."""

    def __init__(self, resp: httpx.Response) -> None:
        self._resp: httpx.Response | None = resp
        self._stream = resp.stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream  # type: ignore[misc]

    def close(self) -> None:
        try:
            self._stream.close()  # type: ignore[attr-defined]
        finally:
            if self._resp is not None:
                self._resp.stream, self._resp = _EMPTY, None


def _unlinked(resp: httpx.Response) -> httpx.Response:
    """`resp`, freed by reference counting once it is closed (see `_Unlinking`)."""
    resp.stream = _EMPTY if resp.is_closed else _Unlinking(resp)
    return resp


def _content_length(headers: httpx.Headers) -> int | None:
    try:
        n = int(headers.get("content-length", ""))
    except ValueError:
        return None
    return n if n >= 0 else None


def _lines(pieces: Iterable[bytes]) -> Iterator[str]:
    """Text lines of a byte stream (SSE), without a decoder holding a whole line twice."""
    parts: list[bytes] = []  # the unfinished line, joined only once its end arrives
    for piece in pieces:
        if b"\n" not in piece:
            parts.append(piece)
            continue
        first, *done, rest = piece.split(b"\n")
        for line in (b"".join([*parts, first]), *done):
            yield line.rstrip(b"\r").decode("utf-8", "replace")
        parts = [rest]
    tail = b"".join(parts)
    if tail:
        yield tail.rstrip(b"\r").decode("utf-8", "replace")


def bounded(
    http: Http, resp: httpx.Response, what: str, limit: int, setting: str
) -> Iterator[bytes]:
    """A response body decoded (Content-Encoding) a piece at a time, refused past
    `limit` bytes: neither the wire size nor a compression ratio can fill memory."""
    if resp.is_stream_consumed:  # read already (a send without stream=True)
        if len(resp.content) > limit:
            raise over_limit(what, limit, setting)
        return iter([resp.content])
    announced = _content_length(resp.headers)
    encoding = resp.headers.get("content-encoding")
    if announced is not None and announced > limit and encoding in (None, "identity"):
        raise over_limit(what, limit, setting)
    raw = http.guard(resp.iter_raw(), what)
    return decoded(raw, encoding, limit=limit, what=what, setting=setting)


def read_json(http: Http, resp: httpx.Response, what: str, *, retry_invalid: bool) -> Any:
    """Parse a (streamed) JSON answer within the JSON budget. Invalid JSON is retried
    only when asked (a GET); a POST that did paid work is never sent again."""
    try:
        body = b"".join(bounded(http, resp, what, http.max_json_bytes, "VLMRUN_MAX_JSON_BYTES"))
    finally:
        resp.close()
    try:
        return jsonlib.loads(body)
    except (ValueError, RecursionError) as exc:
        err = ServerError(
            f"{what}: the server sent invalid JSON ({type(exc).__name__}).",
            detail=http.redact(body[:200].decode("utf-8", "replace")),
        )
        if retry_invalid:
            raise Retry(err) from None
        raise err from None


def post_file(
    http: Http,
    path: str,
    data: bytes | Path,
    filename: str,
    params: dict[str, str],
    on_progress: OnProgress | None = None,
) -> Any:
    """A multipart upload (a `Path` is streamed from disk, reopened per attempt);
    `on_progress` hears 'uploading' with the bytes read so far."""

    def attempt() -> Any:
        f = open(data, "rb") if isinstance(data, Path) else None  # noqa: SIM115
        try:
            body: Any = f if f is not None else data
            if on_progress is not None:
                size = data.stat().st_size if isinstance(data, Path) else len(data)
                body = _Counted(f if f is not None else io.BytesIO(data), size, on_progress)
            files = {"file": (filename, body)}
            resp = http.send("POST", path, params=params, files=files, stream=True)
            try:
                return read_json(http, resp, f"POST {path}", retry_invalid=False)
            except ServerError:
                return None
        finally:
            if f is not None:
                f.close()

    return http.retry(attempt)
