"""Content-Encoding decoding with a budget on the decoded size.

httpx decodes each wire chunk whole, so 32 KB of zstd can become 1 GiB in one call.
Here the raw (still encoded) chunks are decoded a bounded piece at a time and the
running total is checked against `limit` before more is produced, so a compression
bomb costs at most one piece of memory and is refused with a `LimitError`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from ..cache import TruncatedDownload
from ..errors import LimitError

PIECE = 256 * 1024  # decoded bytes produced per step


def human(n: float) -> str:
    """1536 -> '1.5 KiB' (limits are stated in the unit a person would set)."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def over_limit(what: str, limit: int, setting: str, noun: str = "the body") -> LimitError:
    """The error for a body past a budget: which limit, its value, and how to raise it."""
    return LimitError(
        f"{what}: {noun} is larger than the {setting} limit of {human(limit)}; nothing was kept.",
        hint=f"Raise it with {setting}=<bytes> (environment) if you trust this server.",
    )


class _RawReader:
    """A file object over an iterator of raw chunks (what the zstd reader pulls from)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            chunk = next(self._it, None)
            if chunk is None:
                break
            self._buf += chunk
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


def _zlib_pieces(chunks: Iterable[bytes], wbits: int) -> Iterator[bytes]:
    d = zlib.decompressobj(wbits)
    for chunk in chunks:
        data = chunk
        while data:
            out = d.decompress(data, PIECE)
            if out:
                yield out
            data = d.unconsumed_tail
            if d.eof:
                rest = d.unused_data
                if rest and wbits != -zlib.MAX_WBITS:  # concatenated gzip members
                    d = zlib.decompressobj(wbits)
                    data = rest
    out = d.flush()
    if out:
        yield out
    if not d.eof:
        raise TruncatedDownload("the compressed body ended early; nothing was kept.")


def _zstd_pieces(chunks: Iterable[bytes]) -> Iterator[bytes]:
    import zstandard

    reader = zstandard.ZstdDecompressor().stream_reader(
        _RawReader(chunks), read_size=64 * 1024, read_across_frames=True
    )
    while True:
        out = reader.read(PIECE)
        if not out:
            return
        yield out


def _decode_errors() -> tuple[type[Exception], ...]:
    import zstandard

    return (zlib.error, zstandard.ZstdError)


def decoded(
    chunks: Iterable[bytes], encoding: str | None, *, limit: int, what: str, setting: str
) -> Iterator[bytes]:
    """Decode raw chunks per `Content-Encoding`, refusing past `limit` decoded bytes."""
    enc = (encoding or "identity").strip().lower()
    try:
        if enc in ("", "identity"):
            pieces: Iterable[bytes] = chunks
        elif enc in ("gzip", "x-gzip"):
            pieces = _zlib_pieces(chunks, 16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            pieces = _zlib_pieces(chunks, zlib.MAX_WBITS)
        elif enc == "zstd":
            pieces = _zstd_pieces(chunks)
        else:
            raise LimitError(
                f"{what}: the server used Content-Encoding {enc[:40]!r}, which is not "
                "supported; nothing was kept.",
                hint="Ask the server for an uncompressed (identity) or gzip answer.",
            )
        total = 0
        for piece in pieces:
            total += len(piece)
            if total > limit:
                raise over_limit(what, limit, setting)
            yield piece
    except _decode_errors() as exc:
        raise LimitError(
            f"{what}: the {enc} body could not be decoded ({type(exc).__name__}); "
            "nothing was kept.",
            hint="The server sent a damaged compressed body; try again.",
        ) from None
