"""A bounded sample of an SPZ file's splats: every k-th point, without spherical
harmonics, in memory proportional to the sample whatever the file claims.

Pictures need a few hundred thousand splats and no SH; the viewer needs at most what the
decode budget allows. Decoding a whole file and then subsampling it costs memory for
every point (and a refusal past the budget); here each section's bytes are gathered a
point at a time as they decompress, keeping only the sampled points.

What is read: the first five sections only. For v1-v3 the gzip stream is inflated up to
their end (30% of a degree-3 file) and no further, so its SH part and CRC are not checked
here; for v4 the SH stream is skipped and the others are read and checked whole. Files
from the cache are size- and SHA-256-checked before they are served, so a sample of a
cached file is a sample of an intact file.
"""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np
import zstandard

from . import _sections, spz
from .spz import FLAG_ANTIALIASED, HEADER, Splats, SpzError

READ_STEP = 1 << 20  # bytes of a v4 stream decompressed per step


class Strided:
    """Every `every`-th record of `width` bytes of a section that arrives in pieces,
    gathered into `out` after `lead` spare bytes (positions are read from one byte
    before their first value)."""

    def __init__(self, width: int, count: int, every: int, lead: int = 0) -> None:
        kept = -(-count // every) if count else 0
        self.out = bytearray(lead + kept * width)
        self._view = np.frombuffer(self.out, np.uint8)
        self.width, self.every, self.at, self.index = width, every, lead, 0
        self.carry = bytearray()

    def feed(self, chunk: Any) -> None:
        w, k = self.width, self.every
        chunk = memoryview(chunk)
        if self.carry:  # the rest of a record split between pieces
            need = w - len(self.carry)
            self.carry += chunk[:need]
            chunk = chunk[need:]
            if len(self.carry) < w:
                return
            if self.index % k == 0:
                self._put(np.frombuffer(self.carry, np.uint8))
            self.index += 1
            self.carry = bytearray()
        whole = len(chunk) // w
        if whole:
            records = np.frombuffer(chunk, np.uint8, whole * w).reshape(whole, w)
            self._put(records[(-self.index) % k :: k].ravel())
            self.index += whole
        self.carry += chunk[whole * w :]

    def _put(self, values: np.ndarray) -> None:
        self._view[self.at : self.at + len(values)] = values
        self.at += len(values)

    def complete(self) -> bool:
        return self.at == len(self.out) and not self.carry


def every_for(n: int, limit: int) -> int:
    """The smallest stride that keeps at most `limit` of `n` points."""
    return max(1, -(-n // max(limit, 1)))


def sample(data: bytes | mmap.mmap, limit: int) -> tuple[Splats, int]:
    """(every k-th splat, SH left out, k the smallest stride keeping at most `limit`;
    the file's point count). Raises SpzError on malformed data, as `spz.decode` does."""
    data = data if isinstance(data, (bytes, mmap.mmap)) else bytes(data)
    if data[:2] == spz.GZIP_MAGIC:
        return _sample_gzip(data, limit)
    if data[:4] == spz.V4_MAGIC:
        return _sample_v4(data, limit)
    raise SpzError("not an SPZ file (neither gzip data nor an NGSP header)")


def _finish(version, n, deg, fbits, flags, every, gathers) -> tuple[Splats, int]:
    if not all(g.complete() for g in gathers):
        raise SpzError("truncated SPZ data: a section ends early")
    m = -(-n // every) if n else 0
    section = _sections.section_decoder(version, m, deg, fbits, 0)
    arrays = [section(i, g.out) for i, g in enumerate(gathers)]
    empty_sh = np.empty((m, 0, 3), np.float32)
    return Splats(*arrays, empty_sh, deg, bool(flags & FLAG_ANTIALIASED)), n


def _sample_gzip(data: Any, limit: int) -> tuple[Splats, int]:
    version, n, deg, fbits, flags = spz._peek_gzip_header(data)
    widths = spz._widths(version, deg)
    total = HEADER.size + sum(w * n for w in widths)
    if total > len(data) * spz.MAX_RATIO_GZIP:
        raise SpzError(
            f"SPZ header claims {total:,} bytes of data, more than "
            f"{len(data):,} compressed bytes can hold"
        )
    every = every_for(n, limit)
    gathers = [Strided(w, n, every, lead=int(i == 0)) for i, w in enumerate(widths[:5])]
    ends = np.cumsum([HEADER.size, *(w * n for w in widths[:5])]).tolist()
    filled = 0
    for piece in spz._inflate(data, ends[5], to_end=False):
        view, top = memoryview(piece), filled + len(piece)
        for i, g in enumerate(gathers):
            lo, hi = max(filled, ends[i]), min(top, ends[i + 1])
            if lo < hi:
                g.feed(view[lo - filled : hi - filled])
        filled = top
    return _finish(version, n, deg, fbits, flags, every, gathers)


def _sample_v4(data: Any, limit: int) -> tuple[Splats, int]:
    n, deg, fbits, flags, jobs = spz.v4_layout(data)
    widths = spz._widths(4, deg)
    every = every_for(n, limit)
    gathers = [Strided(w, n, every, lead=int(i == 0)) for i, w in enumerate(widths[:5])]
    for index, gather in enumerate(gathers):
        if index not in jobs:
            continue
        start, packed, size = jobs[index]
        stream = zstandard.ZstdDecompressor().stream_reader(
            memoryview(data)[start : start + packed], read_across_frames=True
        )
        done = 0
        try:
            while done < size:
                raw = stream.read(min(READ_STEP, size - done))
                if not raw:
                    raise SpzError(f"truncated SPZ data: stream {index} ends before {size:,} bytes")
                gather.feed(raw)
                done += len(raw)
            if stream.read(1):
                raise SpzError(f"SPZ v4 stream {index} holds more than its table of contents says")
        except zstandard.ZstdError as exc:
            raise SpzError(f"corrupt SPZ compression in stream {index}: {exc}") from None
    return _finish(4, n, deg, fbits, flags, every, gathers)
