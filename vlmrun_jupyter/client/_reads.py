"""Socket reads sized to what arrives, so a long run of small answers does not bloat
the process.

httpcore asks the socket for 64 KiB on every read. CPython allocates that much for each
`recv` and shrinks it to what came (a completion's answer is a few hundred bytes); with
a few dozen threads doing so, glibc's heap fragments, and a batch's resident memory grew
with the number of items (bench/batch.py: +6.5 MiB over 10,000 completions, against
+2.1 MiB over 1,000). Here each connection asks for 4 KiB first and doubles its ask
while reads come back full, up to httpcore's own size: a download still reads 64 KiB
at a time after five reads, and a small answer never makes a 64 KiB buffer.

httpcore lets a pool take its own network backend; httpx's transport does not say so,
so `transport` sets it on the transport's pool where that pool is the one httpx
builds today, and leaves the transport as it is otherwise
(tests/test_client.py::test_small_answers_are_read_without_64_kib_buffers fails if it
stops taking effect).
"""

from __future__ import annotations

from typing import Any

import httpcore
import httpx

FIRST_READ = 4096  # a completion's whole answer, headers included, in one read


class _Stream(httpcore.NetworkStream):
    """A stream whose reads ask for about twice what the last one brought."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        self._ask = FIRST_READ

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._stream.read(min(max_bytes, self._ask), timeout)
        self._ask = max(FIRST_READ, min(max_bytes, 2 * len(data)))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _Stream(self._stream.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _Stream(self._backend.connect_tcp(*args, **kwargs))

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _Stream(self._backend.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def transport(limits: httpx.Limits) -> httpx.HTTPTransport:
    """What httpx.Client would make by default, its connections reading as `_Stream`
    does (where its pool is the one this httpx builds)."""
    made = httpx.HTTPTransport(limits=limits)
    pool = getattr(made, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(pool, httpcore.ConnectionPool) and isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _Backend(backend)
    return made
