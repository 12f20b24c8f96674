"""SPZ, the compressed 3D Gaussian-splat format: decode v1-v4, encode v3 and v4.

Layout (design section 5). Every version stores the same six attribute sections,
each for all points: positions, alphas, colors, log-scales, rotations, spherical
harmonics. Versions 1-3 gzip a 16-byte header plus the sections as one stream;
version 4 keeps a 32-byte header uncompressed, then a table of contents, then one
zstd stream per non-empty section (a reader may decompress them in parallel).

Everything is vectorised numpy. Headers are validated before anything is
allocated, and decompression is bounded by the sizes the header declares, so a
hostile file cannot make us allocate more than it honestly claims.
"""

from __future__ import annotations

import gzip
import mmap
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import zstandard

try:  # ISA-L's inflate is about twice as fast as zlib's, with the same API
    from isal import isal_zlib as inflate_lib
except ImportError:  # pragma: no cover - platforms without isal wheels
    inflate_lib = zlib

from ..errors import VlmRunError
from . import _sections
from ._sections import COLOR_SCALE, SH_C0

MAGIC = 0x5053474E  # "NGSP"
HEADER = struct.Struct("<IIIBBBB")  # v1-v3, inside the gzip stream
HEADER_V4 = struct.Struct("<IIIBBBBI12x")  # v4, uncompressed
TOC_ENTRY = struct.Struct("<QQ")  # compressed, uncompressed bytes
VERSIONS = (1, 2, 3, 4)
MAX_POINTS = 50_000_000
SH_DIM = (0, 3, 8, 15)  # coefficients per colour channel beyond DC, by degree
FLAG_ANTIALIASED = 0x1
FLAG_EXTENSIONS = 0x2
# The most output one input byte can honestly produce: deflate tops out near 1032:1;
# zstd's raw-literal and RLE blocks allow far more, so its bound is loose.
MAX_RATIO_GZIP = 1100
MAX_RATIO_ZSTD = 50_000
GZIP_MAGIC = b"\x1f\x8b"
V4_MAGIC = struct.pack("<I", MAGIC)


class SpzError(VlmRunError):
    """The bytes are not a valid SPZ file (or claim impossible sizes)."""

    title = "Invalid SPZ file"
    default_hint = "The 3D artifact is corrupt or not SPZ; fetch it again or check its source."


@dataclass
class Splats:
    """Decoded Gaussians. `colors` are RGB in [0, 1] (the DC term already applied);
    `rotations` are unit quaternions in SPZ's (x, y, z, w) order."""

    positions: np.ndarray  # float32 (N, 3)
    opacities: np.ndarray  # float32 (N,) in [0, 1]
    colors: np.ndarray  # float32 (N, 3)
    log_scales: np.ndarray  # float32 (N, 3)
    rotations: np.ndarray  # float32 (N, 4), xyzw
    sh: np.ndarray  # float32 (N, K, 3), K = SH_DIM[sh_degree]; (N, 0, 3) if not decoded
    sh_degree: int = 0
    antialiased: bool = False

    def __len__(self) -> int:
        return int(self.positions.shape[0])


def _widths(version: int, sh_degree: int) -> list[int]:
    """Bytes per point of each section, in file order."""
    pos = 6 if version == 1 else 9
    rot = 4 if version >= 3 else 3
    return [pos, 1, 3, 3, rot, SH_DIM[sh_degree] * 3]


def _validate(version: int, n: int, deg: int, fbits: int) -> None:
    if version not in VERSIONS:
        raise SpzError(f"unsupported SPZ version {version} (this reader handles 1-4)")
    if n > MAX_POINTS:
        raise SpzError(f"SPZ header claims {n:,} points, more than the {MAX_POINTS:,} allowed")
    if deg > 3:
        raise SpzError(f"SPZ header has SH degree {deg}; the maximum is 3")
    if fbits > 23:
        raise SpzError(f"SPZ header has {fbits} fractional bits; the maximum is 23")


# -- encode ----------------------------------------------------------------------------------


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _pack_rotations(q: np.ndarray) -> np.ndarray:
    """Smallest-three: 2 bits for the largest component's index, then 3 x (sign + 9 bits)."""
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    largest = np.argmax(np.abs(q), axis=1)
    sign = np.where(q[np.arange(len(q)), largest] < 0, -1.0, 1.0)[:, None]
    q = q * sign
    comp = largest.astype(np.uint32)
    for i in range(4):
        keep = largest != i
        mag = np.minimum(np.rint(np.abs(q[:, i]) / np.sqrt(0.5) * 511), 511).astype(np.uint32)
        neg = (q[:, i] < 0).astype(np.uint32)
        comp = np.where(keep, (comp << 10) | (neg << 9) | mag, comp)
    return comp.astype("<u4").view(np.uint8).reshape(-1, 4)


def _pack_sections(splats: Splats, fbits: int) -> list[bytes]:
    """The six sections (v3+ encodings), in file order."""
    n = len(splats)
    fixed = np.rint(np.asarray(splats.positions, np.float64) * (1 << fbits)).astype(np.int64)
    fixed = np.clip(fixed, -(1 << 23), (1 << 23) - 1).astype("<i4")
    pos = fixed.view(np.uint8).reshape(n, 3, 4)[:, :, :3]  # low three bytes, little-endian
    dc = (np.asarray(splats.colors, np.float64) - 0.5) / SH_C0
    sh = np.asarray(splats.sh, np.float64).reshape(n, SH_DIM[int(splats.sh_degree)] * 3)
    return [
        pos.tobytes(),
        _u8(np.asarray(splats.opacities) * 255.0).tobytes(),
        _u8(dc * (COLOR_SCALE * 255.0) + 127.5).tobytes(),
        _u8((np.asarray(splats.log_scales, np.float64) + 10.0) * 16.0).tobytes(),
        _pack_rotations(np.asarray(splats.rotations, np.float64)).tobytes(),
        _u8(sh * 128.0 + 128.0).tobytes() if sh.size else b"",
    ]


def encode(splats: Splats, version: int = 3, fractional_bits: int = 12, level: int = 9) -> bytes:
    """Encode as SPZ v3 (one gzip stream) or v4 (uncompressed header, zstd per section).

    Output is deterministic for the same input (no timestamps, single-threaded zstd)."""
    n, deg = len(splats), int(splats.sh_degree)
    if version not in (3, 4):
        raise SpzError(f"encoding SPZ version {version} is not supported (use 3 or 4)")
    if deg not in (0, 1, 2, 3):
        raise SpzError(f"SH degree {deg} out of range 0-3")
    if np.asarray(splats.sh).size != n * SH_DIM[deg] * 3:
        raise SpzError(f"sh has the wrong shape for SH degree {deg}")
    flags = FLAG_ANTIALIASED if splats.antialiased else 0
    sections = _pack_sections(splats, fractional_bits)
    if version == 3:
        header = HEADER.pack(MAGIC, 3, n, deg, fractional_bits, flags, 0)
        return gzip.compress(header + b"".join(sections), compresslevel=6, mtime=0)
    compressor = zstandard.ZstdCompressor(level=level, write_content_size=True)
    streams = [compressor.compress(s) for s in sections if s]
    sizes = [len(s) for s in sections if s]
    header = HEADER_V4.pack(MAGIC, 4, n, deg, fractional_bits, flags, len(streams), HEADER_V4.size)
    toc = b"".join(TOC_ENTRY.pack(len(c), u) for c, u in zip(streams, sizes, strict=True))
    return header + toc + b"".join(streams)


# -- decode ----------------------------------------------------------------------------------


def read_header(raw: bytes) -> tuple[int, int, int, int, int]:
    """(version, num_points, sh_degree, fractional_bits, flags) of a v1-v3 inner header."""
    if len(raw) < HEADER.size:
        raise SpzError("truncated SPZ header")
    magic, version, n, deg, fbits, flags, _ = HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise SpzError("not an SPZ file (bad magic)")
    if version == 4:
        raise SpzError("SPZ version 4 data inside a gzip stream; v4 files are not gzipped")
    _validate(version, n, deg, fbits)
    return version, n, deg, fbits, flags


def decode(data: bytes | mmap.mmap, sh: bool = True) -> Splats:
    """Decode SPZ bytes (gzip v1-v3 or zstd v4; a mapped file is read in place). Raises SpzError on anything malformed.
    `sh=False` leaves the spherical harmonics out (`sh` is then (N, 0, 3), `sh_degree`
    still the file's): pictures and the viewer use only the base colour, and SH is most
    of the decoded size (135 of 191 bytes a point at degree 3)."""
    data = data if isinstance(data, (bytes, mmap.mmap)) else bytes(data)
    if data[:2] == GZIP_MAGIC:
        return _decode_gzip(data, sh)
    if data[:4] == V4_MAGIC:
        return _decode_v4(data, sh)
    raise SpzError("not an SPZ file (neither gzip data nor an NGSP header)")


def _decode_gzip(data: bytes, want_sh: bool = True) -> Splats:
    """Inflate piece by piece (each piece ~200 KB, still in the CPU's cache): the header
    and the first five sections (30% of the stream) are copied into one buffer and
    each decodes on a worker as soon as it is complete; SH, the rest, decodes straight
    from each piece into its float32 array (on an idle worker, else here), so the
    inflated SH bytes are never gathered. Inflating one gzip stream (~60% of the work)
    cannot be split, so this thread only inflates while it has a worker to hand the
    rest to. bench/spz_decode.py's v3 file, 10 decodes per process, three alternating
    pairs, 2026-12-02 (Intel Xeon, 2 CPUs): wall median 0.18-0.19 s with a worker
    against 0.23-0.24 s inline, and 0.24-0.25 s against 0.33-0.34 s beside two
    spinning processes. Without `want_sh` the SH bytes are inflated (the stream is
    still checked to its end, CRC included) but neither kept nor decoded."""
    version, n, deg, fbits, flags = _peek_gzip_header(data)
    sizes = [w * n for w in _widths(version, deg)]
    total = HEADER.size + sum(sizes)
    if total > len(data) * MAX_RATIO_GZIP:
        raise SpzError(
            f"SPZ header claims {total:,} bytes of data, more than "
            f"{len(data):,} compressed bytes can hold"
        )
    ends = np.cumsum([HEADER.size, *sizes]).tolist()  # section i spans ends[i]:ends[i + 1]
    head = memoryview(bytearray(ends[5]))
    sh = np.empty(sizes[5] if want_sh else 0, np.float32)
    section = _sections.section_decoder(version, n, deg, fbits, SH_DIM[deg])
    with _sections.Tasks(_sections.workers()) as tasks:
        futures: list = []
        filled = 0
        for piece in _inflate(data, total):
            size, piece = len(piece), memoryview(piece)
            if filled < ends[5]:
                part = piece[: ends[5] - filled]
                head[filled : filled + len(part)] = part
            while len(futures) < 5 and filled + size >= ends[len(futures) + 1]:
                i = len(futures)  # positions start one byte early (see _sections.positions)
                futures.append(tasks.submit(section, i, head[ends[i] - (i == 0) : ends[i + 1]]))
            if want_sh and filled + size > ends[5]:
                lo = max(filled, ends[5])
                out = sh[lo - ends[5] : filled + size - ends[5]]
                tasks.share(_sections.sh_values, piece[lo - filled :], out)  # still in the cache
            filled += size
        arrays = [f.result() for f in futures]
        tasks.wait()
    k = SH_DIM[deg] if want_sh else 0
    return Splats(*arrays, sh.reshape(n, k, 3), deg, bool(flags & FLAG_ANTIALIASED))


SH_SLICE = 256 << 10  # bytes of a v4 SH stream decompressed (and decoded) per step
# Compressed bytes fed per step (bounds each step's output too, ~190 KB here): inflating
# bench/spz_decode.py's v3 scene took 139-154 ms CPU in 128 KB steps, 171-199 ms in
# 256 KB ones (output buffers grown and joined per call, pieces past the L2 cache).
INFLATE_STEP = 128 << 10


#: memory a decoded point costs (float32 arrays plus the inflated bytes and the
#: preview's per-point work), without spherical harmonics; each SH value adds 4 + 1.
BYTES_PER_POINT = 100


def decoded_bytes(data: bytes, sh: bool = False) -> int:
    """What `decode(data, sh)` would take in memory, from the header alone (no decoding):
    callers compare it with their budget before decoding a file they did not make."""
    if data[:4] == V4_MAGIC and len(data) >= HEADER_V4.size:
        _, version, n, deg, fbits, _flags, _count, _toc = HEADER_V4.unpack_from(data)
    elif data[:2] == GZIP_MAGIC:
        version, n, deg, fbits, _flags = _peek_gzip_header(data)
    else:
        raise SpzError("not an SPZ file (neither gzip data nor an NGSP header)")
    _validate(version, n, deg, fbits)
    return n * (BYTES_PER_POINT + (SH_DIM[deg] * 3 * 5 if sh else 0))


def _peek_gzip_header(data: bytes) -> tuple[int, int, int, int, int]:
    try:
        head = inflate_lib.decompressobj(16 + zlib.MAX_WBITS).decompress(
            data[:INFLATE_STEP], HEADER.size
        )
    except (zlib.error, inflate_lib.error) as exc:
        raise SpzError(f"corrupt SPZ compression: {exc}") from None
    return read_header(head)


def _inflate(data: bytes, total: int, to_end: bool = True):
    """Yield the gzip stream's output, exactly `total` bytes, then (`to_end`) check it
    ends there."""
    d = inflate_lib.decompressobj(16 + zlib.MAX_WBITS)
    view = memoryview(data)
    pos, remaining = 0, total
    try:
        while remaining:
            if d.unconsumed_tail:
                chunk = d.unconsumed_tail
            elif pos < len(data) and not d.eof:
                chunk, pos = view[pos : pos + INFLATE_STEP], pos + INFLATE_STEP
            else:
                raise SpzError(f"truncated SPZ data: {total - remaining:,} of {total:,} bytes")
            piece = d.decompress(chunk, remaining)
            remaining -= len(piece)
            yield piece
        if not to_end:
            return
        rest = bytes(d.unconsumed_tail) + bytes(view[pos:])
        if d.decompress(rest, 1) or d.unconsumed_tail or d.unused_data:
            raise SpzError("SPZ data is longer than its header declares")
    except (zlib.error, inflate_lib.error) as exc:
        raise SpzError(f"corrupt SPZ compression: {exc}") from None
    if not d.eof:
        raise SpzError("truncated SPZ data: the gzip stream ends early")


def v4_layout(data: bytes) -> tuple[int, int, int, int, dict[int, tuple[int, int, int]]]:
    """(n, sh_degree, fractional_bits, flags, {section: (offset, packed, unpacked)}) of a
    v4 file, every size checked against the header and the file's length."""
    if len(data) < HEADER_V4.size:
        raise SpzError("truncated SPZ header")
    _, version, n, deg, fbits, flags, count, toc_at = HEADER_V4.unpack_from(data)
    _validate(version, n, deg, fbits)
    if version != 4:
        raise SpzError(f"SPZ version {version} with an uncompressed header (only v4 has one)")
    widths = _widths(version, deg)
    wanted = [(i, w * n) for i, w in enumerate(widths) if w * n]
    if count != len(wanted):
        raise SpzError(f"SPZ v4 file has {count} streams; its header implies {len(wanted)}")
    toc_end = toc_at + count * TOC_ENTRY.size
    if toc_at < HEADER_V4.size or toc_end > len(data):
        raise SpzError("SPZ v4 table of contents lies outside the file")
    if toc_at > HEADER_V4.size and not flags & FLAG_EXTENSIONS:
        raise SpzError("SPZ v4 has bytes before its table of contents but no extensions flag")
    jobs: dict[int, tuple[int, int, int]] = {}
    off = toc_end
    for k, (index, size) in enumerate(wanted):
        packed, unpacked = TOC_ENTRY.unpack_from(data, toc_at + k * TOC_ENTRY.size)
        if unpacked != size:
            raise SpzError(
                f"SPZ v4 stream {index} declares {unpacked:,} bytes; {n:,} points need {size:,}"
            )
        if packed > len(data) - off:
            raise SpzError(f"truncated SPZ data: stream {index} runs past the end of the file")
        if size > packed * MAX_RATIO_ZSTD:
            raise SpzError(f"SPZ v4 stream {index} claims an impossible compression ratio")
        jobs[index] = (off, packed, size)
        off += packed
    if off != len(data):
        raise SpzError("SPZ data is longer than its table of contents declares")
    return n, deg, fbits, flags, jobs


def _decode_v4(data: bytes, want_sh: bool = True) -> Splats:
    version, (n, deg, fbits, flags, jobs) = 4, v4_layout(data)
    section = _sections.section_decoder(version, n, deg, fbits, SH_DIM[deg])
    k = SH_DIM[deg] if want_sh else 0
    sh = np.empty(n * k * 3, np.float32)

    def reader(index: int) -> Any:
        start, packed, _ = jobs[index]
        return zstandard.ZstdDecompressor().stream_reader(
            memoryview(data)[start : start + packed], read_across_frames=True
        )

    def inflate(index: int, stream: Any, into: memoryview) -> memoryview:
        """Fill `into` from the stream, all of it or an error."""
        done = 0
        try:
            while done < len(into):
                got = stream.readinto(into[done:])
                if not got:
                    raise SpzError(
                        f"truncated SPZ data: stream {index} ends before {jobs[index][2]:,} bytes"
                    )
                done += got
        except zstandard.ZstdError as exc:
            raise SpzError(f"corrupt SPZ compression in stream {index}: {exc}") from None
        return into

    def finish(index: int, stream: Any) -> None:
        try:
            extra = stream.read(1)
        except zstandard.ZstdError as exc:
            raise SpzError(f"corrupt SPZ compression in stream {index}: {exc}") from None
        if extra:
            raise SpzError(f"SPZ v4 stream {index} holds more than its table of contents says")

    def whole(index: int) -> np.ndarray:
        if index not in jobs:
            return section(index, b"\0" if index == 0 else b"")
        r, lead = reader(index), int(index == 0)  # positions start one byte early
        raw = memoryview(bytearray(lead + jobs[index][2]))
        inflate(index, r, raw[lead:])
        finish(index, r)
        return section(index, raw)

    def piece(stream: Any, want: int) -> bytes:
        """The SH stream's next bytes, at most `want` and at least one."""
        try:
            got = stream.read(want)
        except zstandard.ZstdError as exc:
            raise SpzError(f"corrupt SPZ compression in stream 5: {exc}") from None
        if not got:
            raise SpzError(f"truncated SPZ data: stream 5 ends before {jobs[5][2]:,} bytes")
        return got

    # The five small streams go to a worker (when this process has a second CPU) while
    # SH, 70% of the output, decompresses here a slice at a time, each slice decoded
    # while still in the cache, here or by a worker idle at that moment (once the small
    # sections are done), so this thread goes on decompressing. bench/spz_decode.py's
    # scene, 2 CPUs at load average 7-10: 0.12 s wall (best of 20) against 0.21 s with
    # everything in one thread, CPU time no higher.
    with _sections.Tasks(_sections.workers()) as tasks:
        futures = [tasks.submit(whole, i) for i in range(5)]
        if 5 in jobs and want_sh:
            r, done, size = reader(5), 0, jobs[5][2]
            while done < size:
                got = piece(r, min(SH_SLICE, size - done))
                tasks.share(_sections.sh_values, got, sh[done : done + len(got)])
                done += len(got)
            finish(5, r)
        arrays = [f.result() for f in futures]
        tasks.wait()
    return Splats(*arrays, sh.reshape(n, k, 3), deg, bool(flags & FLAG_ANTIALIASED))
