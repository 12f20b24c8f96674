"""Bytes held by the artifact cache, known without listing it.

Checking the size cap by listing and stat-ing every cached file after each download
costs more the bigger the cache is (quadratic over a large fetch). Instead each
process keeps `file -> bytes` in memory, filled by one scan, and kept current by an
append-only journal (`<cache_dir>/.ledger`): every process appends a line when it adds
or removes a file and reads the lines it has not seen before answering (after a download,
at most once a second while its own additions keep it under the cap). Lines are
absolute facts (`<bytes> <namespace>/<file name>`, 0 for removed), so reading one twice
is harmless. What the journal cannot see (files written or deleted by other tools,
such as the official SDK sharing the directory, or by hand) is reconciled by a rescan:
before anything is evicted, when the journal was replaced, and at most every few
minutes. The journal is replaced by an empty one after a rescan once it is large.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ._files import pread, read_appended, write_atomic

RESCAN_EVERY_S = 300.0  # files other tools wrote are counted at least this often
SYNC_EVERY_S = 1.0  # `within` reads other processes' lines at least this often
JOURNAL_MAX = 1 << 20  # bytes of journal before a rescan replaces it with an empty one


class Ledger:
    """The cache's byte count for one cache directory, shared by the threads of a process."""

    def __init__(self, journal: Path, scan: Callable[[], dict[str, int]]) -> None:
        self.journal = journal
        self._scan = scan  # a full listing: relative path -> bytes
        self._lock = threading.Lock()
        self._sizes: dict[str, int] | None = None  # None until the first scan
        self._total = 0
        self._fd: int | None = None
        self._ino = -1
        self._offset = 0
        self._scanned_at = 0.0
        self._tail = b""  # a partial last line (another process mid-write)
        self._synced_at = 0.0
        self._unsynced = 0  # bytes this process recorded since it last read the journal

    # -- public ---------------------------------------------------------------------------
    def record(self, *files: tuple[str, int]) -> None:
        """Note that each file `rel` (`<ns>/<name>`) now holds `size` bytes (0: removed).
        One append; this process reads it back with everyone else's at the next `total`."""
        lines = "".join(f"{int(size)} {rel}\n" for rel, size in files).encode()
        with self._lock:
            self._unsynced += sum(max(0, int(size)) for _, size in files)
            if self._open(recheck=False):
                with contextlib.suppress(OSError):
                    os.write(self._fd, lines)  # O_APPEND: whole short writes, never interleaved

    def total(self) -> int:
        """The bytes the cache holds as far as the journal knows (scans once per process)."""
        with self._lock:
            if self._sizes is None or time.monotonic() - self._scanned_at > RESCAN_EVERY_S:
                self._rescan()
            else:
                self._sync()
            return self._total

    def within(self, cap: int) -> bool:
        """Whether the cache surely holds at most `cap` bytes, without a system call when
        the last reading (at most `SYNC_EVERY_S` old) plus what this process added since
        is still under it: a download's check after storing costs nothing then."""
        with self._lock:
            fresh = time.monotonic() - self._synced_at < SYNC_EVERY_S
            if self._sizes is not None and fresh and self._total + self._unsynced <= cap:
                return True
        return self.total() <= cap

    def reset(self, sizes: dict[str, int], offset: int | None = None) -> None:
        """Adopt a full listing taken by the caller (e.g. before evicting); lines appended
        since `offset` (the journal size before the listing; None: now) are applied on top."""
        with self._lock:
            self._adopt(sizes, offset)

    def offset(self) -> int:
        """The journal's current size: pass it to `reset` with a listing taken after."""
        with self._lock:
            return self._size() if self._open() else 0

    # -- internals (called with the lock held) -----------------------------------------------
    def _open(self, recheck: bool = True) -> bool:
        """Keep an fd on the current journal; a replaced journal means a rescan. Appends
        skip the check (`recheck` False): a line written to a journal just replaced is
        lost to the others, as a file written by another tool would be, until a rescan."""
        if not recheck and self._fd is not None:
            return True
        try:
            ino = os.stat(self.journal).st_ino
        except FileNotFoundError:
            ino = None
        except OSError:
            return self._fd is not None
        if self._fd is not None and ino == self._ino:
            return True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._sizes = None  # another process replaced it: what it held is unknown here
        try:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.journal, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:
            return False
        self._ino = os.fstat(self._fd).st_ino
        self._offset, self._tail = 0, b""
        return True

    def _size(self) -> int:
        return os.fstat(self._fd).st_size if self._fd is not None else 0

    def _sync(self) -> None:
        """Apply journal lines appended since the last read (by any process)."""
        if not self._open() or self._sizes is None:
            if self._sizes is None:
                self._rescan()
            return
        self._synced_at, self._unsynced = time.monotonic(), 0
        assert self._fd is not None
        lines, self._offset, self._tail = read_appended(
            self._fd, self._size(), self._offset, self._tail
        )
        for line in lines:
            size, _, rel = line.decode("utf-8", "replace").partition(" ")
            with contextlib.suppress(ValueError):
                self._set(rel, int(size))

    def _set(self, rel: str, size: int) -> None:
        assert self._sizes is not None
        old = self._sizes.pop(rel, 0)
        if size > 0:
            self._sizes[rel] = size
        self._total += size - old

    def _rescan(self) -> None:
        start = self._size() if self._open() else 0
        self._adopt(self._scan(), start)

    def _adopt(self, sizes: dict[str, int], offset: int | None) -> None:
        self._open()
        self._sizes = dict(sizes)
        self._total = sum(self._sizes.values())
        self._scanned_at = time.monotonic()
        self._offset, self._tail = self._size(), b""
        if offset is not None:
            self._offset = min(offset, self._offset)
            if self._offset:  # resume at a line start
                prev = pread(self._fd, 1, self._offset - 1)
                if prev != b"\n":
                    self._offset = self._size()
        self._sync()
        if self._size() > JOURNAL_MAX:
            self._replace_journal()

    def _replace_journal(self) -> None:
        """Start an empty journal; other processes see the new inode and rescan."""
        try:
            write_atomic(self.journal, b"")
        except OSError:
            return
        sizes = self._sizes
        self._open()  # reopens the new, empty journal (and forgets the sizes) ...
        self._sizes = sizes  # ... which this process just listed, so keep them


_ledgers: dict[str, Ledger] = {}
_ledgers_guard = threading.Lock()


def ledger_for(cache_dir: Path, scan: Callable[[], dict[str, int]]) -> Ledger:
    """The one ledger of a cache directory in this process."""
    key = os.path.abspath(cache_dir)
    with _ledgers_guard:
        led = _ledgers.get(key)
        if led is None:
            led = _ledgers[key] = Ledger(Path(key) / ".ledger", scan)
        return led
