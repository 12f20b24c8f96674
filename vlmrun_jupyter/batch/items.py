"""What a batch runs over: items with labels and content keys.

`items_of` accepts a list (or any iterable), a pandas Series (a DataFrame column), or a
folder path, and yields `(label, item)` pairs in input order: the Series index or the
file name is the label a table shows. `content_key` names an item by what it holds
(the bytes of a file, the pixels of an image, the id of a ref), so the journal finds a
result again after a kernel restart even when the list was rebuilt from scratch.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import kinds
from ..errors import RequestError
from ..refs import BaseRef

_READ = 1024 * 1024
_MAX_STR_PATH = 4096


def _is_series(value: Any) -> bool:
    """A pandas Series, recognised without importing pandas."""
    return type(value).__name__ == "Series" and hasattr(value, "index") and hasattr(value, "items")


def _is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns")


def folder_items(folder: Path) -> list[Path]:
    """The media files directly inside `folder` (by extension, else by their first
    bytes), sorted by name; hidden files are skipped."""
    out: list[Path] = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or not path.is_file():
            continue
        kind = kinds.kind_of_name(path.name)
        if kind is None:
            try:
                with open(path, "rb") as f:
                    kind = kinds.sniff_kind(f.read(kinds.HEAD_BYTES), path.name)
            except OSError:
                kind = None
        if kind is not None:
            out.append(path)
    return out


class Labelled(list):
    """`(label, item)` pairs already made (a re-run keeps the first run's labels)."""


def items_of(items: Any) -> list[tuple[Any, Any]]:
    """`(label, item)` pairs in input order from a list, a Series, or a folder path."""
    if isinstance(items, Labelled):
        return list(items)
    if _is_frame(items):
        raise RequestError(
            "a DataFrame holds several columns: pass the one to run over, e.g. df['image']."
        )
    if _is_series(items):
        return [(label, value) for label, value in items.items()]
    if isinstance(items, (str, os.PathLike)) and _is_dir(items):
        folder = Path(items).expanduser()
        found = folder_items(folder)
        if not found:
            raise RequestError(f"no media files in {folder}.")
        return [(p.name, p) for p in found]
    if isinstance(items, (str, bytes, dict)) or not isinstance(items, Iterable):
        raise RequestError(
            f"items must be a list, a pandas Series or a folder path, not {type(items).__name__}."
        )
    return [(_label(i, value), value) for i, value in enumerate(items)]


def _is_dir(value: str | os.PathLike) -> bool:
    text = os.fspath(value)
    return isinstance(text, str) and len(text) < _MAX_STR_PATH and Path(text).expanduser().is_dir()


def _label(index: int, value: Any) -> Any:
    """A file's name for a path, else the position."""
    if isinstance(value, os.PathLike):
        return Path(value).name
    return index


def _hash_file(h: Any, path: Path) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(_READ):
            h.update(chunk)


def content_key(item: Any) -> str:
    """A stable hex digest of what `item` holds (not where it came from)."""
    h = hashlib.sha256()
    if isinstance(item, BaseRef) or kinds.is_object_id(getattr(item, "id", None)):
        ns = item.namespace if isinstance(item, BaseRef) else None
        h.update(f"ref\0{item.id}\0{ns.kind + ':' + ns.id if ns else ''}".encode())
    elif isinstance(item, (bytes, bytearray, memoryview)):
        h.update(b"bytes\0")
        h.update(item)
    elif isinstance(item, os.PathLike) or (isinstance(item, str) and is_file(item)):
        h.update(b"file\0")
        _hash_file(h, Path(item).expanduser())
    elif isinstance(item, str):
        h.update(b"text\0" + item.encode())
    elif hasattr(item, "tobytes") and hasattr(item, "mode") and hasattr(item, "size"):
        h.update(f"pil\0{item.mode}\0{item.size}\0".encode())  # a PIL image: its pixels
        h.update(item.tobytes())
    elif hasattr(item, "tobytes") and hasattr(item, "dtype") and hasattr(item, "shape"):
        h.update(f"array\0{item.dtype.str}\0{item.shape}\0".encode())
        h.update(item.tobytes())
    else:
        try:
            h.update(b"json\0" + json.dumps(item, sort_keys=True, default=str).encode())
        except (TypeError, ValueError):
            raise RequestError(
                f"cannot run over a {type(item).__name__}: items may be paths, bytes, "
                "PIL images, numpy arrays, URLs or refs."
            ) from None
    return h.hexdigest()


def is_file(text: str) -> bool:
    """Whether a string names an existing file (never raises: prompts and URLs are not)."""
    if not text or len(text) >= _MAX_STR_PATH or text[0].isspace() or "\n" in text:
        return False
    if text.startswith(("http://", "https://", "data:")):
        return False
    try:
        return Path(text).expanduser().is_file()
    except (OSError, ValueError):
        return False


def spec_key(**parts: Any) -> str:
    """The digest of what makes two runs the same batch (prompt, schema, model, agent)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def item_key(spec: str, content: str) -> str:
    """The journal key of one item in one batch."""
    return hashlib.sha256(f"{spec}\0{content}".encode()).hexdigest()[:32]


__all__ = ["Labelled", "items_of", "folder_items", "content_key", "spec_key", "item_key"]
