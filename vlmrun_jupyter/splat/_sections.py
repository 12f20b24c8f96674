"""The numpy half of SPZ decoding: the bytes of one attribute section -> its float32
array, and the small scheduler that runs those decodes beside the decompression.

Kept apart from `spz` (the format, its headers and compression) so each stays short.
Everything here trusts its sizes: `spz` has checked them against the header first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

SH_C0 = 0.28209479177387814
COLOR_SCALE = 0.15


def workers() -> int:
    """Worker threads worth starting: the CPUs this process may use now (a container or
    `taskset` may allow fewer than the machine has), at most 6 (there are six sections)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(6, cpus or 1)


class Tasks:
    """Runs decode steps on worker threads, or inline when this process has one CPU:
    there, handing work between threads only adds switches and cold caches.
    zstd, ISA-L and numpy's ufuncs release the GIL, so on two or more CPUs sections
    decode while the next bytes decompress."""

    def __init__(self, count: int) -> None:
        self.pool = ThreadPoolExecutor(max_workers=count) if count > 1 else None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self.pool is not None:
            return self.pool.submit(fn, *args)
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as exc:  # raised again by .result(), as a worker's would be
            done.set_exception(exc)
        return done

    def __enter__(self) -> Tasks:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def section_decoder(version: int, n: int, deg: int, fbits: int, sh_dim: int):
    """`decode(index, raw) -> array` for the six sections, in file order. The positions'
    `raw` starts one byte early (any byte): see `positions`."""

    def affine(raw, scale: float, offset: float, shape: tuple[int, ...]) -> np.ndarray:
        out = np.multiply(np.frombuffer(raw, np.uint8), np.float32(scale), dtype=np.float32)
        out += np.float32(offset)
        return out.reshape(shape)

    def decode(index: int, raw) -> np.ndarray:
        if index == 0:
            return positions(raw, version, n, fbits)
        if index == 1:  # opacity
            return affine(raw, 1 / 255, 0.0, (n,))
        if index == 2:  # rgb = 0.5 + SH_C0 * (byte / 255 - 0.5) / COLOR_SCALE
            gain = SH_C0 / COLOR_SCALE
            return affine(raw, gain / 255, 0.5 - 0.5 * gain, (n, 3))
        if index == 3:  # ln scale = byte / 16 - 10
            return affine(raw, 1 / 16, -10.0, (n, 3))
        if index == 4:
            if version >= 3:
                return unpack_rotations(np.frombuffer(raw, "<u4"))
            xyz = affine(raw, 1 / 127.5, -1.0, (n, 3))
            w = np.sqrt(np.maximum(0.0, 1.0 - np.einsum("ij,ij->i", xyz, xyz)))
            return np.column_stack([xyz, w]).astype(np.float32)
        return sh_values(raw, np.empty(n * sh_dim * 3, np.float32)).reshape(n, sh_dim, 3)

    return decode


def sh_values(raw, out: np.ndarray) -> np.ndarray:
    """SH coefficients (byte - 128) / 128 into `out`: flipping the top bit turns the byte
    into the signed value byte - 128, so one multiply finishes it."""
    signed = (np.frombuffer(raw, np.uint8) ^ np.uint8(128)).view(np.int8)
    return np.multiply(signed, np.float32(1 / 128), out=out)


def positions(raw, version: int, n: int, fbits: int) -> np.ndarray:
    """float32 (n, 3) from `raw`, whose first byte precedes the section.
    v2+: 24-bit little-endian signed fixed point. The int32 read one byte before each
    value holds it in its top three bytes (the byte before is the low one), so masking
    that byte off gives value * 256 with its sign, exactly representable in float32:
    one strided read and one multiply, no intermediate copy."""
    if version == 1:
        return np.frombuffer(raw, "<f2", count=3 * n, offset=1).astype(np.float32).reshape(n, 3)
    words = np.ndarray((3 * n,), "<i4", buffer=raw, offset=0, strides=(3,))
    out = np.empty(3 * n, np.float32)
    np.bitwise_and(words, np.int32(-256), out=out, casting="unsafe")
    out *= np.float32(1.0 / (1 << (fbits + 8)))
    return out.reshape(n, 3)


# A stored 10-bit field (sign bit + 9-bit magnitude) -> its component value.
_FIELD = np.arange(1024)
_FIELD_VALUE = np.where(_FIELD & 512, -1.0, 1.0) * (_FIELD & 511) * (np.sqrt(0.5) / 511)
_FIELD_VALUE = _FIELD_VALUE.astype(np.float32)


def unpack_rotations(comp: np.ndarray) -> np.ndarray:
    """Inverse of smallest-three packing: the stored components fill the slots other
    than the largest in index order, and the largest is rebuilt from the unit norm."""
    n = len(comp)
    a, b, c = (_FIELD_VALUE[(comp >> shift) & 1023] for shift in (20, 10, 0))
    w = np.sqrt(np.maximum(np.float32(0), np.float32(1) - a * a - b * b - c * c))
    largest = (comp >> 30).astype(np.intp)
    row = np.arange(0, 4 * n, 4, dtype=np.intp)
    q = np.empty(4 * n, np.float32)
    q[row + largest] = w
    q[row + (largest == 0)] = a  # slot 0, or 1 when the largest is 0
    q[row + 1 + (largest <= 1)] = b
    q[row + 2 + (largest <= 2)] = c
    return q.reshape(n, 4)
