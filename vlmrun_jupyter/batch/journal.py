"""The on-disk journal that lets a batch resume, and holds its results.

One JSON-lines file per batch (prompt, schema, model and agent hashed into its name)
under `<cache dir>/batches/`. Each finished item appends one line, flushed as it is
written, so a Ctrl-C or a kernel restart keeps everything that finished; running the
same batch again reads the file and sends only what is missing. A later line for the
same key wins (a retried error that then succeeded). A torn last line from a killed
process is skipped (and the next line starts on a line of its own).

Records stay on disk, and so does the index of where each key's latest line starts (a
scratch SQLite database, store.py): memory holds the last few records read and SQLite's
small page cache, so a run of 10,000 items or 1,000,000 keeps nothing per item in
memory; a `BatchResult` reads the records of the rows it shows. Without a journal
(`journal=False`) the records go to an anonymous temporary file instead, gone when the
journal is.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .store import DiskIndex

VERSION = 1
_RECENT = 256  # records kept decoded (a page of the table reads each of its rows a few times)


def _key_int(key: str) -> int | None:
    try:
        return int(key[:16], 16)
    except (TypeError, ValueError):
        return None


class Journal:
    """Append-only record of finished items, keyed by item key (thread-safe).

    `get(key)` reads the key's latest record from disk; `offset(key)` says where it starts
    without reading it (a run compares it with `size` at its start to tell what it
    wrote itself); `version` counts appends, for caches of what was read.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._index = DiskIndex()
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._file: Any = None
        self._size = 0
        self._torn = False
        self.version = 0
        if path is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as we do
        elif path.exists():
            self._load(path)

    @classmethod
    def memory(cls) -> Journal:
        """A journal nobody resumes from (journal=False): an anonymous temporary file."""
        return cls(None)

    def _load(self, path: Path) -> None:
        with open(path, "rb") as f:
            self._index.put_many(self._offsets(f))

    def _offsets(self, f: Any) -> Iterator[tuple[int, int]]:
        """(key, offset) of every whole record line, noting the size and a torn end."""
        off = 0
        for line in f:
            try:
                record = json.loads(line) if line.endswith(b"\n") else None
            except ValueError:
                record = None  # torn line from an interrupted write
            key = record.get("k") if isinstance(record, dict) else None
            k = _key_int(key) if isinstance(key, str) else None
            if k is not None:
                yield k, off
            off += len(line)
            self._torn = not line.endswith(b"\n")
        self._size = off

    @property
    def size(self) -> int:
        """Bytes written so far: records at or past this mark are written after now."""
        return self._size

    def offset(self, key: str) -> int | None:
        k = _key_int(key)
        with self._lock:
            return None if k is None else self._index.get(k)

    def get(self, key: str) -> dict[str, Any] | None:
        """The latest record of `key`, or None."""
        with self._lock:
            record = self._recent.get(key)
            if record is not None:
                self._recent.move_to_end(key)
                return record
            off = self.offset(key)
            if off is None or self._reader() is None:
                return None
            self._file.seek(off)
            try:
                record = json.loads(self._file.readline())
            except ValueError:
                return None
            if not isinstance(record, dict) or record.get("k") != key:
                return None  # another key with the same 64-bit prefix wrote over it
            self._remember(key, record)
            return record

    def _remember(self, key: str, record: dict[str, Any]) -> None:
        self._recent[key] = record
        self._recent.move_to_end(key)
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)

    def _reader(self) -> Any:
        if self._file is None and self.path is not None and self.path.exists():
            self._file = open(self.path, "a+b")  # noqa: SIM115 - closed by close()
        return self._file

    def add(self, record: dict[str, Any]) -> None:
        """Record one finished item (written and flushed at once)."""
        key = record["k"]
        line = json.dumps(record, separators=(",", ":"), default=str).encode() + b"\n"
        with self._lock:
            if self._file is None:
                assert self.path is not None
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a+b")  # noqa: SIM115 - closed by close()
            if self._torn:
                line, self._torn = b"\n" + line, False
            self._file.seek(0, 2)
            start = self._file.tell() + (len(line) - len(line.lstrip(b"\n")))
            self._file.write(line)
            self._file.flush()
            self._size = start + len(line.lstrip(b"\n"))
            k = _key_int(key)
            if k is not None:
                self._index.put(k, start)
            self._recent.pop(key, None)  # read back when asked for: a run keeps none
            self.version += 1

    def close(self) -> None:
        with self._lock:
            if self._file is not None and self.path is not None:
                self._file.close()
                self._file = None

    def __len__(self) -> int:
        return len(self._index)

    def __del__(self) -> None:
        try:
            if self._file is not None:
                self._file.close()
        except Exception:
            pass


def journal_path(root: Path, spec: str) -> Path:
    """Where the journal of the batch named by `spec` lives."""
    return root / f"v{VERSION}-{spec[:24]}.jsonl"


__all__ = ["Journal", "journal_path"]
