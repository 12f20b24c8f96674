"""What a batch runs over: items with labels and content keys.

`items_of` accepts a list (or any iterable), a pandas Series (a DataFrame column), or a
folder path, and gives a `Source` of `(label, item)` pairs in input order: the Series index or the
file name is the label a table shows. `content_key` names an item by what it holds
(the bytes of a file, the pixels of an image, the id of a ref), so the journal finds a
result again after a kernel restart even when the list was rebuilt from scratch.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import kinds
from ..errors import RequestError
from ..refs import BaseRef
from .store import Column

_READ = 1024 * 1024
_MAX_STR_PATH = 4096


def _is_series(value: Any) -> bool:
    """A pandas Series, recognised without importing pandas."""
    return type(value).__name__ == "Series" and hasattr(value, "index") and hasattr(value, "items")


def _is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns")


def folder_items(folder: Path) -> list[Path]:
    """The media files directly inside `folder` (see `folder_names`)."""
    return [folder / name for name in folder_names(folder)]


def folder_names(folder: Path) -> list[str]:
    """The names of the media files directly inside `folder` (by extension, else by
    their first bytes), sorted; hidden files are skipped."""
    return sorted(_media_names(folder))


def _media_names(folder: Path) -> Iterator[str]:
    """`folder_names`, unsorted and one at a time (a batch sorts them on disk)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(".") or not entry.is_file():
                continue
            kind = kinds.kind_of_name(name)
            if kind is None:
                try:
                    with open(entry.path, "rb") as f:
                        kind = kinds.sniff_kind(f.read(kinds.HEAD_BYTES), name)
                except OSError:
                    kind = None
            if kind is not None:
                yield name


class Source:
    """The items of a batch in input order, without copying them: `len`, `(label, item)`
    pairs by position or in order. A list or tuple is kept as it is (the caller holds
    it anyway), a Series too; a folder is kept as its sorted file names (a Path is made
    when one is asked for); any other iterable is read once into a list."""

    def __init__(self, items: Any) -> None:
        self.folder: Path | None = None
        self.series: Any = None
        self.values: Any = None
        if _is_series(items):
            self.series = items
        elif isinstance(items, (str, os.PathLike)) and _is_dir(items):
            self.folder = Path(items).expanduser()
            self.values = _Names(_media_names(self.folder))
            if not len(self.values):
                raise RequestError(f"no media files in {self.folder}.")
        elif isinstance(items, (str, bytes, dict)) or not isinstance(items, Iterable):
            raise RequestError(
                f"items must be a list, a pandas Series or a folder path, not {type(items).__name__}."
            )
        else:
            self.values = items if isinstance(items, Sequence) else list(items)

    def __len__(self) -> int:
        return len(self.series if self.series is not None else self.values)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if self.series is not None:
            return self.series.index[index], self.series.iloc[index]
        value = self.values[index]
        if self.folder is not None:
            return value, _child(self.folder, value)
        return _label(index % len(self), value), value

    def item(self, index: int) -> Any:
        return self[index][1]

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        if self.series is not None:
            return iter(self.series.items())
        if self.folder is not None:
            folder = self.folder
            return ((name, _child(folder, name)) for name in self.values)
        return ((_label(i, value), value) for i, value in enumerate(self.values))


class _Names(Sequence):
    """A folder's file names, sorted, in a scratch database (store.py): nothing per name
    in Python memory, and the sort is SQLite's (byte order of UTF-8, which is code point
    order, as `sorted` gives; undecodable names travel as their surrogates)."""

    def __init__(self, names: Iterable[str]) -> None:
        self._column = Column((n.encode("utf-8", "surrogatepass") for n in names), sort=True)

    def __len__(self) -> int:
        return len(self._column)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._column[index].decode("utf-8", "surrogatepass")

    def __iter__(self) -> Iterator[str]:
        return (v.decode("utf-8", "surrogatepass") for v in self._column)


def _child(folder: Path, name: str) -> Path:
    """`folder / name` for a plain file name, without interning it on Python < 3.12:
    pathlib there puts every name it parses in the interpreter's table of interned
    strings, and 10,000 names made the table reallocate (~2 MB) during a run. The parts
    are already known, so the path is built from them (a private constructor, guarded)."""
    make = getattr(folder, "_from_parsed_parts", None)
    if sys.version_info < (3, 12) and make is not None and name not in ("", ".", ".."):
        return make(folder._drv, folder._root, [*folder._parts, name])
    return folder / name


def items_of(items: Any) -> Source:
    """`(label, item)` pairs in input order from a list, a Series, or a folder path."""
    if isinstance(items, Source):
        return items
    if _is_frame(items):
        raise RequestError(
            "a DataFrame holds several columns: pass the one to run over, e.g. df['image']."
        )
    return Source(items)


def _is_dir(value: str | os.PathLike) -> bool:
    text = os.fspath(value)
    return isinstance(text, str) and len(text) < _MAX_STR_PATH and Path(text).expanduser().is_dir()


def _label(index: int, value: Any) -> Any:
    """A file's name for a path, else the position."""
    if isinstance(value, os.PathLike):
        return Path(value).name
    return index


def _hash_file(h: Any, path: str) -> None:
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
        _hash_file(h, os.path.expanduser(os.fspath(item)))  # no Path(): see `_child`
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


__all__ = [
    "Source",
    "items_of",
    "folder_items",
    "folder_names",
    "content_key",
    "spec_key",
    "item_key",
]
