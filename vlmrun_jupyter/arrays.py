"""Loading `arr_` artifacts.

The body format is undocumented upstream; servers send either a `.npy` file or a
JSON array. We accept exactly those two and never unpickle (a pickled array from a
server would be arbitrary code execution).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import IntegrityError
from .kinds import HEAD_BYTES, sniff

MMAP_THRESHOLD = 64 * 1024 * 1024  # larger .npy files are memory-mapped, not read


def load_array(path: str | Path) -> np.ndarray:
    """An `np.ndarray` from a `.npy` file (memory-mapped when large) or a JSON array."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    if sniff(head) == "application/x-npy":
        _check_npy_size(path)
        mmap = "r" if path.stat().st_size > MMAP_THRESHOLD else None
        try:
            return np.load(path, allow_pickle=False, mmap_mode=mmap)
        except (ValueError, OSError, EOFError, MemoryError) as exc:  # pickles, bad headers
            raise IntegrityError(f"{path.name}: not a plain numeric .npy array ({exc}).") from None
    if head.lstrip()[:1] == b"[":
        try:
            data = json.loads(path.read_text("utf-8"))
            arr = np.asarray(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise IntegrityError(f"{path.name}: invalid JSON array ({exc}).") from None
        if arr.dtype.kind not in "biufc":
            raise IntegrityError(f"{path.name}: the JSON array is ragged or not numeric.")
        return arr
    raise IntegrityError(
        f"{path.name}: not an array: expected a .npy file (starting with \\x93NUMPY) "
        "or a JSON array."
    )


def _check_npy_size(path: Path) -> None:
    """The header's shape must fit in the file: a 100-byte file declaring 80 GB of
    floats is refused before numpy allocates anything."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _fortran, dtype = read(f)
            data_start = f.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise IntegrityError(f"{path.name}: not a plain numeric .npy array ({exc}).") from None
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared > path.stat().st_size - data_start:
        raise IntegrityError(
            f"{path.name}: the .npy header declares {declared} bytes of data but the file "
            f"holds {path.stat().st_size - data_start}; refused."
        )
