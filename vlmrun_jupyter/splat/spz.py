"""SPZ, the compressed 3D Gaussian-splat format: encode (v3) and decode (v1-v3).

Layout (design section 5): the whole file is gzip; inside, a 16-byte header then
each attribute for all points: positions (24-bit fixed point), alphas, colors,
log-scales, rotations, spherical harmonics. Everything is vectorised numpy.

Headers are validated before anything is allocated, and decompression is bounded
by the size the header declares, so a hostile file cannot make us allocate more.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import VlmRunError

MAGIC = 0x5053474E  # "NGSP"
HEADER = struct.Struct("<IIIBBBB")
MAX_POINTS = 50_000_000
SH_DIM = (0, 3, 8, 15)  # coefficients per colour channel beyond DC, by degree
SH_C0 = 0.28209479177387814
COLOR_SCALE = 0.15
FLAG_ANTIALIASED = 0x1


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
    sh: np.ndarray  # float32 (N, K, 3), K = SH_DIM[sh_degree]
    sh_degree: int = 0
    antialiased: bool = False

    def __len__(self) -> int:
        return int(self.positions.shape[0])


def _stride(version: int, sh_degree: int) -> int:
    pos = 6 if version == 1 else 9
    rot = 4 if version >= 3 else 3
    return pos + 1 + 3 + 3 + rot + SH_DIM[sh_degree] * 3


# -- encode ----------------------------------------------------------------------------------


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _pack_rotations_v3(q: np.ndarray) -> np.ndarray:
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


def encode(splats: Splats, version: int = 3, fractional_bits: int = 12) -> bytes:
    """Encode as SPZ v3 (gzip)."""
    if version != 3:
        raise SpzError(f"encoding SPZ version {version} is not supported (use 3)")
    n = len(splats)
    deg = int(splats.sh_degree)
    if deg not in (0, 1, 2, 3):
        raise SpzError(f"SH degree {deg} out of range 0-3")
    header = HEADER.pack(
        MAGIC, 3, n, deg, fractional_bits, FLAG_ANTIALIASED if splats.antialiased else 0, 0
    )
    fixed = np.rint(np.asarray(splats.positions, np.float64) * (1 << fractional_bits)).astype(
        np.int64
    )
    limit = (1 << 23) - 1
    fixed = np.clip(fixed, -limit - 1, limit) & 0xFFFFFF
    pos = (
        np.stack([(fixed >> s) & 0xFF for s in (0, 8, 16)], axis=-1).astype(np.uint8).reshape(n, 9)
    )
    alpha = _u8(np.asarray(splats.opacities) * 255.0)
    dc = (np.asarray(splats.colors, np.float64) - 0.5) / SH_C0
    colors = _u8(dc * (COLOR_SCALE * 255.0) + 127.5)
    scales = _u8((np.asarray(splats.log_scales, np.float64) + 10.0) * 16.0)
    rot = _pack_rotations_v3(np.asarray(splats.rotations, np.float64))
    sh = (
        _u8(np.asarray(splats.sh, np.float64).reshape(n, -1) * 128.0 + 128.0)
        if SH_DIM[deg]
        else b""
    )
    body = b"".join(
        [
            header,
            pos.tobytes(),
            alpha.tobytes(),
            colors.tobytes(),
            scales.tobytes(),
            rot.tobytes(),
            bytes(sh),
        ]
    )
    # mtime=0 keeps the output deterministic
    return zlib_gzip(body)


def zlib_gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=6, mtime=0)


# -- decode ----------------------------------------------------------------------------------


def read_header(raw: bytes) -> tuple[int, int, int, int, int]:
    """(version, num_points, sh_degree, fractional_bits, flags), validated."""
    if len(raw) < HEADER.size:
        raise SpzError("truncated SPZ header")
    magic, version, n, deg, fbits, flags, _ = HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise SpzError("not an SPZ file (bad magic)")
    if version not in (1, 2, 3):
        raise SpzError(f"unsupported SPZ version {version} (this reader handles 1-3)")
    if n > MAX_POINTS:
        raise SpzError(f"SPZ header claims {n} points, more than the {MAX_POINTS} allowed")
    if deg > 3:
        raise SpzError(f"SPZ header has SH degree {deg}; the maximum is 3")
    if fbits > 23:
        raise SpzError(f"SPZ header has {fbits} fractional bits; the maximum is 23")
    return version, n, deg, fbits, flags


def decode(data: bytes) -> Splats:
    """Decode SPZ bytes (gzip v1-v3). Raises SpzError on anything malformed."""
    if data[:2] != b"\x1f\x8b":
        raise SpzError("not an SPZ file (expected gzip data)")
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        head = d.decompress(data, HEADER.size)
        version, n, deg, fbits, flags = read_header(head)
        expected = _stride(version, deg) * n
        body = d.decompress(d.unconsumed_tail, expected + 1) if expected else b""
        if len(body) < expected and not d.eof:
            body += d.decompress(d.unconsumed_tail, expected + 1 - len(body))
    except zlib.error as exc:
        raise SpzError(f"corrupt SPZ compression: {exc}") from None
    if len(body) < expected:
        raise SpzError(f"truncated SPZ data: {len(body)} of {expected} bytes")
    if len(body) > expected or d.unconsumed_tail:
        raise SpzError("SPZ data is longer than its header declares")
    return _decode_body(np.frombuffer(body, np.uint8), version, n, deg, fbits, flags)


def _decode_body(buf: np.ndarray, version: int, n: int, deg: int, fbits: int, flags: int) -> Splats:
    off = 0

    def take(width: int) -> np.ndarray:
        nonlocal off
        out = buf[off : off + n * width].reshape(n, width)
        off += n * width
        return out

    if version == 1:
        positions = take(6).copy().view("<f2").astype(np.float32)
    else:
        p = take(9).reshape(n, 3, 3).astype(np.int32)
        fixed = p[..., 0] | (p[..., 1] << 8) | (p[..., 2] << 16)
        fixed = np.where(fixed & 0x800000, fixed - (1 << 24), fixed)
        positions = (fixed / float(1 << fbits)).astype(np.float32)
    opacities = (take(1)[:, 0] / 255.0).astype(np.float32)
    dc = (take(3) / 255.0 - 0.5) / COLOR_SCALE
    colors = (0.5 + SH_C0 * dc).astype(np.float32)
    log_scales = (take(3) / 16.0 - 10.0).astype(np.float32)
    if version >= 3:
        rotations = _unpack_rotations_v3(take(4))
    else:
        xyz = take(3) / 127.5 - 1.0
        w = np.sqrt(np.maximum(0.0, 1.0 - np.sum(xyz * xyz, axis=1, keepdims=True)))
        rotations = np.concatenate([xyz, w], axis=1).astype(np.float32)
    k = SH_DIM[deg]
    sh = (
        ((take(k * 3).reshape(n, k, 3).astype(np.float32) - 128.0) / 128.0)
        if k
        else np.zeros((n, 0, 3), np.float32)
    )
    return Splats(
        positions, opacities, colors, log_scales, rotations, sh, deg, bool(flags & FLAG_ANTIALIASED)
    )


def _unpack_rotations_v3(raw: np.ndarray) -> np.ndarray:
    comp = raw.copy().view("<u4")[:, 0].astype(np.uint64)
    largest = (comp >> 30).astype(np.int64)
    q = np.zeros((len(comp), 4), np.float64)
    for i in range(3, -1, -1):
        keep = largest != i
        mag = (comp & 511).astype(np.float64)
        neg = ((comp >> 9) & 1).astype(bool)
        val = np.sqrt(0.5) * mag / 511.0
        q[:, i] = np.where(keep, np.where(neg, -val, val), 0.0)
        comp = np.where(keep, comp >> 10, comp)
    rest = np.sum(q * q, axis=1)
    q[np.arange(len(q)), largest] = np.sqrt(np.maximum(0.0, 1.0 - rest))
    return q.astype(np.float32)
