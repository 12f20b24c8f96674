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
        mmap = "r" if path.stat().st_size > MMAP_THRESHOLD else None
        try:
            return np.load(path, allow_pickle=False, mmap_mode=mmap)
        except ValueError as exc:  # object arrays need pickle; corrupt headers
            raise IntegrityError(f"{path.name}: not a plain numeric .npy array ({exc}).") from None
    if head.lstrip()[:1] == b"[":
        try:
            data = json.loads(path.read_text("utf-8"))
            arr = np.asarray(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise IntegrityError(f"{path.name}: invalid JSON array ({exc}).") from None
        if arr.dtype.kind not in "biufc":
            raise IntegrityError(f"{path.name}: the JSON array is ragged or not numeric.")
        return arr
    raise IntegrityError(
        f"{path.name}: not an array: expected a .npy file (starting with \\x93NUMPY) "
        "or a JSON array."
    )
