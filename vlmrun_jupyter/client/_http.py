"""HTTP plumbing: two connection pools, retries with backoff, deadlines, error mapping.

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
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

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

log = logging.getLogger("vlmrun_jupyter.client")
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


class Retry(Exception):
    """This attempt failed in a way worth repeating (a dropped connection, 429, 5xx)."""

    def __init__(self, error: VlmRunError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """At most 1 + max_retries attempts; exponential backoff with jitter, or the server's
    Retry-After capped at `retry_after_max`."""

    max_retries: int = 3
    backoff_base: float = 0.2
    backoff_max: float = 8.0
    retry_after_max: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, min(retry_after, self.retry_after_max))
        d = min(self.backoff_max, self.backoff_base * (2**attempt))
        return d / 2 + random.uniform(0, d / 2)

    def run(self, attempt_fn: Callable[[], T]) -> T:
        """Call `attempt_fn` until it returns, raises something final, or attempts run out.
        The final error records `attempts` and `elapsed` (seconds), so messages can say so."""
        start = time.monotonic()
        for attempt in range(self.max_retries + 1):
            try:
                return attempt_fn()
            except Retry as r:
                if attempt >= self.max_retries:
                    r.error.attempts = attempt + 1
                    r.error.elapsed = time.monotonic() - start
                    raise r.error from None
                wait = self.delay(attempt, r.retry_after)
                log.debug("retrying in %.2fs after: %s", wait, r.error.message)
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


class Deadline:
    """A wall-clock budget for a whole operation (e.g. waiting for an execution)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    @property
    def remaining(self) -> float:
        return self.seconds - self.elapsed


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
            transport=transport,
        )
        self.external = httpx.Client(
            headers=agent,
            timeout=timeout,
            limits=limits,
            follow_redirects=True,
            transport=transport,
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
        return self.policy.run(attempt_fn)

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
        try:
            resp = pool.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise self.transport_error(exc, what, request.url.host) from None
        except httpx.TransportError as exc:
            raise Retry(self.transport_error(exc, what, request.url.host)) from None
        if resp.status_code < 400:
            return resp
        try:
            body = resp.read()
        except httpx.HTTPError:
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
        if _protocol.is_retryable(resp.status_code):
            raise Retry(err, err.retry_after if isinstance(err, RateLimitError) else None)
        raise err

    def send(
        self,
        method: str,
        path: str,
        *,
        stream: bool = False,
        timeout: float | None = None,
        **kw: Any,
    ) -> httpx.Response:
        """One attempt at an API call (with the key)."""
        self.require_key()
        request = self.api.build_request(
            method, path, timeout=timeout if timeout is not None else self.timeout, **kw
        )
        return self._attempt(self.api, request, f"{method} {path.split('?', 1)[0]}", stream)

    def get_external(self, url: httpx.URL | str) -> httpx.Response:
        """One streamed GET without any credentials (url_ targets, storage redirects)."""
        url = httpx.URL(url)
        request = self.external.build_request("GET", url, headers={"Accept-Encoding": "identity"})
        return self._attempt(self.external, request, f"GET {url.host}", stream=True)

    def json(self, method: str, path: str, **kw: Any) -> Any:
        """An API call answered with JSON, retried."""

        def attempt() -> Any:
            resp = self.send(method, path, **kw)
            try:
                return resp.json()
            except ValueError:
                raise Retry(
                    ServerError(f"{method} {path}: the server sent invalid JSON.")
                ) from None

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
        resp = self.send("POST", path, json=body, timeout=timeout, stream=True)
        try:
            for line in self.guard(resp.iter_lines(), f"POST {path}"):
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

    def post_file(
        self,
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
                resp = self.send("POST", path, params=params, files=files)
            finally:
                if f is not None:
                    f.close()
            try:
                return resp.json()
            except ValueError:
                return None

        return self.retry(attempt)

    def guard(self, chunks: Iterable[T], what: str, *, download: bool = False) -> Iterator[T]:
        """Re-raise httpx errors met mid-body as ours: a stall is final, a drop is retried
        (for a download, as a `TruncatedDownload`: nothing was cached)."""
        try:
            yield from chunks
        except httpx.TimeoutException as exc:
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
