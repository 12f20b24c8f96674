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
    """Worker threads worth starting beside the calling thread, which decompresses: the
    CPUs this process may use now (a container or `taskset` may allow fewer than the
    machine has) less that one, at most 5 (the five sections besides SH)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(5, (cpus or 1) - 1)


class Tasks:
    """Runs decode steps on `count` worker threads, or inline when `count` is 0 (one
    CPU: there, handing work between threads only adds switches and cold caches).
    zstd, ISA-L and numpy's ufuncs release the GIL, so sections decode on the workers
    while the calling thread decompresses the next bytes."""

    def __init__(self, count: int) -> None:
        self.pool = ThreadPoolExecutor(max_workers=count) if count > 0 else None
        self.count = count
        self.pending: list[Future] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self.pool is not None:
            future = self.pool.submit(fn, *args)
            self.pending.append(future)
            return future
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as exc:  # raised again by .result(), as a worker's would be
            done.set_exception(exc)
        return done

    def spare(self) -> bool:
        """Whether a worker is idle now, so a step handed to it starts at once."""
        busy = []
        for future in self.pending:
            if future.done():
                future.result()  # a step's error surfaces now, not after the decode
            else:
                busy.append(future)
        self.pending = busy
        return len(busy) < self.count

    def share(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn` on an idle worker, else here: the calling thread never waits behind
        queued work, and a worker that has finished its sections takes some of the
        calling thread's (SH from decompressed pieces) instead of sitting idle."""
        if self.spare():
            self.submit(fn, *args)
        else:
            fn(*args)

    def wait(self) -> None:
        """Every step handed out has finished (its error, if any, raised here)."""
        for future in self.pending:
            future.result()

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
    into the signed value byte - 128; a plain cast then an in-place multiply (both
    exact) took ~30% less CPU than one multiply reading the int8 bytes (numpy casts
    those through a buffer first). `raw` is a piece still in the cache, and so is `out`."""
    signed = (np.frombuffer(raw, np.uint8) ^ np.uint8(128)).view(np.int8)
    out[...] = signed
    out *= np.float32(1 / 128)
    return out


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


ROTATION_BLOCK = 16384  # points per step: the step's temporaries (~0.5 MB) stay in the cache


def unpack_rotations(comp: np.ndarray) -> np.ndarray:
    """Inverse of smallest-three packing: the stored components fill the slots other
    than the largest in index order, and the largest is rebuilt from the unit norm.
    Done a block of points at a time: over all points at once the dozen temporaries
    (each 4-8 MB) spill the cache and are page-faulted in anew on every call, which
    took twice the CPU (bench/spz_decode.py, 1M points: ~40 ms vs ~18 ms)."""
    n = len(comp)
    q = np.empty((n, 4), np.float32)
    flat = q.reshape(-1)
    rows = np.arange(0, 4 * ROTATION_BLOCK, 4, dtype=np.intp)
    for lo in range(0, n, ROTATION_BLOCK):
        block = comp[lo : lo + ROTATION_BLOCK]
        row = rows[: len(block)] + 4 * lo
        a, b, c = (_FIELD_VALUE[(block >> shift) & 1023] for shift in (20, 10, 0))
        w = np.sqrt(np.maximum(np.float32(0), np.float32(1) - a * a - b * b - c * c))
        largest = (block >> 30).astype(np.intp)
        flat[row + largest] = w
        flat[row + (largest == 0)] = a  # slot 0, or 1 when the largest is 0
        flat[row + 1 + (largest <= 1)] = b
        flat[row + 2 + (largest <= 2)] = c
    return q
