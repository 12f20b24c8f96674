"""Per-item state of a batch on disk, in a private temporary SQLite database.

A batch must remember something per item for as long as its result lives: the item's
journal key (so rows come back in input order, and a re-run knows what is done), where
that key's record sits in the journal, and, for a folder, the file names in sorted order.
Kept as Python objects that is ~50-100 bytes an item (and sorting a folder's names needs
all of them at once); kept here it is none: SQLite holds at most a small page cache
(`CACHE_KIB`) and spills the rest to a temporary file it deletes when the connection
closes (a small batch never touches the disk). A lookup by row number or by key is a
B-tree search, a few microseconds, against the ~50 ms of a request. With 64 KiB a
database, what SQLite holds stayed at 0.37 MB for batches of 1,000, 10,000 and 30,000
items (`sqlite3_memory_used`); with 256 KiB and its sorter, its peak rose to 1.4 MB at
30,000.

The memory SQLite uses is its own (not Python's allocator), so tracemalloc does not see
it; bench/batch.py measures it through the process's RSS.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

CACHE_KIB = 64  # SQLite's page cache per database: the most of it kept in memory
_PAGE = 512  # rows read per query when iterating in order


def scratch_db() -> sqlite3.Cursor:
    """A cursor on a private temporary database (deleted on close) with a small page
    cache, no rollback journal and no fsync: nothing in it has to survive the process.
    One cursor for every query: `connection.execute` makes a cursor per call, and the
    connection keeps a weak reference to each of the last ~200."""
    db = sqlite3.connect("", check_same_thread=False, isolation_level=None).cursor()
    db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    return db


class Column(Sequence):
    """A read-only list of byte strings by position (0-based), filled once by `fill`
    (optionally sorted by SQLite, byte-wise), read by index or in order a page at a time.
    Thread-safe: one lock around the connection."""

    def __init__(self, values: Iterable[bytes] = (), *, sort: bool = False) -> None:
        self._db = scratch_db()
        self._lock = threading.Lock()
        self._db.execute("CREATE TABLE col(i INTEGER PRIMARY KEY, v BLOB NOT NULL)")
        self._n = 0
        self.fill(values, sort=sort)

    def fill(self, values: Iterable[bytes], *, sort: bool = False) -> None:
        """Append `values` (consumed as they come, never listed); with `sort`, in byte
        order rather than as given (stable: equal values keep their order)."""
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            rows = enumerate(values, start=self._n)
            if sort:
                # kept in order as they come (a B-tree on (value, arrival)), then copied out
                # in that order: the memory is the page cache's, where an ORDER BY would
                # take SQLite's sorter, which holds up to 1 MiB whatever the cache size
                db.execute(
                    "CREATE TABLE unsorted(v BLOB NOT NULL, n INTEGER, PRIMARY KEY (v, n)) "
                    "WITHOUT ROWID"
                )
                db.executemany("INSERT INTO unsorted(n, v) VALUES (?, ?)", rows)
                db.execute(
                    "INSERT INTO col(i, v) SELECT ? + row_number() OVER (ORDER BY v, n) - 1, v "
                    "FROM unsorted ORDER BY v, n",
                    (self._n,),
                )
                db.execute("DROP TABLE unsorted")
            else:
                db.executemany("INSERT INTO col(i, v) VALUES (?, ?)", rows)
            db.execute("COMMIT")
            self._n = db.execute("SELECT count(*) FROM col").fetchone()[0]

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._n))]
        i = index + self._n if index < 0 else index
        if not 0 <= i < self._n:
            raise IndexError(index)
        with self._lock:
            return self._db.execute("SELECT v FROM col WHERE i = ?", (i,)).fetchone()[0]

    def __iter__(self) -> Iterator[bytes]:
        start = 0
        while start < self._n:
            with self._lock:
                page = self._db.execute(
                    "SELECT v FROM col WHERE i >= ? ORDER BY i LIMIT ?", (start, _PAGE)
                ).fetchall()
            if not page:
                return
            for (v,) in page:
                yield v
            start += len(page)

    def __getstate__(self) -> dict[str, Any]:
        return {"values": list(self)}  # by value: a connection does not travel

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["values"])


class DiskIndex:
    """64-bit key -> integer (a journal offset), kept in a scratch database: nothing per
    key in Python memory. Not thread-safe by itself (the journal holds its lock)."""

    _UPSERT = "INSERT INTO idx(k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v"

    def __init__(self) -> None:
        self._db = scratch_db()
        self._db.execute("CREATE TABLE idx(k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")

    @staticmethod
    def _signed(key: int) -> int:
        return key - (1 << 64) if key >= 1 << 63 else key  # SQLite integers are signed

    def get(self, key: int) -> int | None:
        row = self._db.execute("SELECT v FROM idx WHERE k = ?", (self._signed(key),)).fetchone()
        return None if row is None else row[0]

    def put(self, key: int, value: int) -> None:
        self._db.execute(self._UPSERT, (self._signed(key), value))

    def put_many(self, pairs: Iterable[tuple[int, int]]) -> None:
        """`put` for each (key, value) in order, in one transaction: a journal of 100,000
        lines loaded in 0.53-0.67 s instead of 0.88-0.93 s with a statement pair per line."""
        db = self._db
        db.execute("BEGIN")
        db.executemany(self._UPSERT, ((self._signed(k), v) for k, v in pairs))
        db.execute("COMMIT")

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM idx").fetchone()[0]


__all__ = ["Column", "DiskIndex", "scratch_db", "CACHE_KIB"]
