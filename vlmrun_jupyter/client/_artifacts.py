"""Artifact downloads into the cache.

`GET /artifacts?object_id=..&session_id=..` answers the bytes, or a redirect (real
deployments may send downloads to object storage) that is followed by the pool without
credentials. A `url_` artifact's body is a URL: its target is downloaded without the
key too, and only over http(s). Bytes stream to disk; the cache checks the count and
the header before a file appears under its final name, and a truncated body is retried.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx

from .. import _integrity
from ..cache import (
    ArtifactCache,
    TruncatedDownload,
    adopt_sdk_url_target,
    check_content_type,
    share_url_target,
)
from ..errors import IntegrityError
from ..kinds import media_type
from ..refs import BaseRef, ImageRef, Namespace, UrlRef
from . import _protocol
from ._decode import decoded, over_limit
from ._http import Http, OnProgress, _content_length, counted
from ._retry import Retry

T = TypeVar("T")
URL_BODY_MAX = 64 * 1024  # a url_ artifact's body is one URL


class ArtifactDownloader:
    """Fetches refs into one cache through one `Http` (thread-safe: the cache locks)."""

    def __init__(self, http: Http, cache: ArtifactCache) -> None:
        self.http = http
        self.cache = cache

    def fetch(self, ref: BaseRef, on_progress: OnProgress | None = None) -> Path:
        """The artifact's file in the cache, downloading it at most once (`on_progress`
        hears 'downloading' with bytes so far and the size, when there is a download)."""
        ns = ref.require_namespace()
        if isinstance(ref, UrlRef):
            return self.cache.get_or_fetch(
                ref, ns, lambda: self._download_url_ref(ref, ns, on_progress)
            )
        return self.cache.get_or_fetch(
            ref, ns, lambda: self.http.retry(lambda: self._download(ref, ns, on_progress))
        )

    def _download(self, ref: BaseRef, ns: Namespace, on_progress: OnProgress | None) -> Path:
        """One attempt at streaming an artifact into the cache."""
        resp = self.http.send(
            "GET",
            _protocol.ARTIFACTS_PATH,
            params=_protocol.artifact_params(ref, ns),
            headers={"Accept-Encoding": "identity"},
            stream=True,
        )
        try:
            if resp.is_redirect and resp.headers.get("location"):
                target = resp.url.join(resp.headers["location"])
                resp.close()
                if target.scheme not in ("http", "https"):
                    raise IntegrityError(f"{ref.id}: redirected to a non-http(s) URL; refused.")
                resp = self.http.get_external(target)
            content_type = resp.headers.get("content-type")
            check_content_type(ref, content_type)
            png = isinstance(ref, ImageRef) and media_type(content_type) == "image/png"
            dest = self.cache.ns_dir(ns) / f"{ref.id}.{'png' if png else ref.ext}"
            return self._store(resp, dest, ref.kind, ref.id, on_progress)
        finally:
            resp.close()

    def _store(
        self,
        resp: httpx.Response,
        dest: Path,
        kind: str,
        what: str,
        on_progress: OnProgress | None = None,
    ) -> Path:
        """Stream a body into the cache; a short or dropped body becomes a retry. An
        announced length past the per-artifact cap is refused before reading; a compressed
        body is decoded a piece at a time within `max_decoded_bytes`."""
        encoding = resp.headers.get("content-encoding", "identity").strip().lower()
        encoded = encoding not in ("", "identity")
        expected = None if encoded else _content_length(resp.headers)
        cap = self.cache.max_artifact_bytes
        if expected is not None and expected > cap:
            raise over_limit(what, cap, "VLMRUN_MAX_ARTIFACT_BYTES", "the artifact")
        # as each read arrives (no chunk size: httpx would wait to fill it), so the
        # deadline is checked between reads even when the server trickles bytes
        chunks = self.http.guard(resp.iter_raw(), what, download=True)
        if encoded:
            limit = min(cap, self.http.max_decoded_bytes)
            setting = "VLMRUN_MAX_DECODED_BYTES" if limit < cap else "VLMRUN_MAX_ARTIFACT_BYTES"
            chunks = decoded(chunks, encoding, limit=limit, what=what, setting=setting)
        chunked = "chunked" in resp.headers.get("transfer-encoding", "").lower()
        try:
            return self.cache.store(
                dest,
                counted(chunks, expected, on_progress),
                kind=kind,
                expected_size=expected,
                what=what,
                length_known=expected is not None or chunked or encoded,
            )
        except TruncatedDownload as exc:
            raise Retry(exc) from None

    def _read_url(self, ref: BaseRef, ns: Namespace) -> str:
        """One attempt at reading a url_ artifact's body (one URL, size-capped)."""
        resp = self.http.send(
            "GET", _protocol.ARTIFACTS_PATH, params=_protocol.artifact_params(ref, ns), stream=True
        )
        body = b""
        try:
            for chunk in self.http.guard(resp.iter_bytes(), f"GET {_protocol.ARTIFACTS_PATH}"):
                body += chunk
                if len(body) > URL_BODY_MAX:
                    raise IntegrityError(f"{ref.id}: the url artifact body is too large.")
        finally:
            resp.close()
        return _protocol.url_from_body(body, ref.id, *self.http.secrets)

    def _download_url_ref(
        self, ref: BaseRef, ns: Namespace, on_progress: OnProgress | None = None
    ) -> Path:
        """url_ artifacts: read the URL from the API, then download it without credentials."""
        url = self.http.retry(lambda: self._read_url(ref, ns))
        adopted = adopt_sdk_url_target(self.cache, ref, ns, url)  # the SDK downloaded it
        if adopted is not None:
            self.cache.write_url_sidecar(ref, ns, url)
            return adopted
        dest = self.cache.url_dest(ref, ns, url)

        def download() -> Path:
            resp = self.http.get_external(url)
            try:
                return self._store(resp, dest, "url", ref.id, on_progress)
            finally:
                resp.close()

        path = self.http.retry(download)
        self.cache.write_url_sidecar(ref, ns, url)
        share_url_target(self.cache, ns, url, path)
        return path


def fetch_concurrently(
    fetch: Callable[[T], Path],
    items: Iterable[T],
    max_workers: int = 16,
    return_exceptions: bool = False,
) -> list[Path | Exception]:
    """`fetch` over many items on a bounded pool; results in input order. The first error
    cancels what has not started, unless `return_exceptions` puts errors in the list."""
    todo = list(items)
    if not todo:
        return []
    workers = max(1, min(int(max_workers), len(todo)))
    with (
        _integrity.pinned() as pins,  # nothing this call returns is evicted by it
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vlmrun-fetch") as pool,
    ):

        def run(item: T) -> Path:
            with _integrity.working_for(pins):
                return fetch(item)

        futures = [pool.submit(run, item) for item in todo]
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
