"""Cache integrity: what makes a cached file trustworthy, and what is in use.

- Every download's size and SHA-256 are recorded in its folder's journal
  (`<folder>/.records`, one line per download, `<name> <bytes> <sha256> <mtime_ns>
  <inode>`, the last line for a name wins), with the stamp (mtime, inode) of the file
  the writer hashed, before the file appears under its final name. One append per
  download instead of a record file each: on ext4 creating a second file doubled the
  kernel time of a small download. Before a file is served its size is compared with the
  record, and its hash unless it still carries that stamp (it is then the very file
  hashed while it was written), else once per process (per inode, size and mtime): a
  truncated, swapped or rewritten file is fetched again instead of shown, and a warm
  display after a kernel restart reads no artifact. The LRU touch moves only the access
  time, so the stamp stays. Records written as `<file>.sha256` by earlier versions are
  still read.
- A file without a record (written by the official SDK sharing the directory) passes
  with the header check, plus the trailer check where the format has one. So does a
  file whose line was appended while eviction compacted the journal (a rare race).
- Temp files carry their writer's pid (`.tmp-<pid>-...`): one whose process is gone
  (a download killed with SIGKILL) is reclaimed by the next listing.
- Files handed out by the current operation (a `fetch_all`) are pinned: eviction skips
  them, so every returned path exists when the call returns.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path

from ._files import TMP_PREFIX, read_appended, write_all, write_atomic
from .errors import LimitError
from .kinds import TAIL_BYTES, looks_complete, looks_like

RECORDS_NAME = ".records"  # the journal of a folder's integrity records
RECORD_SUFFIX = ".sha256"  # a record file of an earlier version: read, never written
COMPACT_MIN = 64 * 1024  # a journal this big is rewritten at eviction if mostly stale
_FOLDERS_MAX = 64  # folders whose records (and append descriptor) this process keeps
REOPEN_S = 1.0  # the longest a descriptor appends before the journal is opened again
ORPHAN_AGE_S = 24 * 3600.0  # a temp file this old is reclaimed even if its pid was reused
_HEAD = 1024
_VERIFIED_MAX = 4096

_lock = threading.Lock()
_verified: dict[tuple[str, int, int, int], None] = {}  # files whose hash matched, this process
_pins: Counter[str] = Counter()


def record_path(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


class Hasher:
    """Counts and hashes the bytes of a download as they are written, keeping its first
    and last bytes for the header and trailer checks (no second read of the file)."""

    def __init__(self) -> None:
        self.size = 0
        self.head = b""
        self.tail = b""
        self._h = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._h.update(chunk)
        if len(self.head) < _HEAD:
            self.head += bytes(chunk[: _HEAD - len(self.head)])
        self.tail = (self.tail + bytes(chunk[-TAIL_BYTES:]))[-TAIL_BYTES:]

    def write(self, fd: int, chunks: Iterable[bytes], limit: int, what: str) -> Hasher:
        """Write every chunk to the file descriptor `fd` (unbuffered: chunks come off the
        socket already large), refusing more than `limit` bytes in all."""
        for chunk in chunks:
            if self.size + len(chunk) > limit:
                raise LimitError(
                    f"{what}: the artifact is larger than the per-artifact limit of "
                    f"{limit / 2**20:.1f} MiB; nothing was cached.",
                    hint="Raise it with VLMRUN_MAX_ARTIFACT_BYTES=<bytes>.",
                )
            write_all(fd, chunk)
            self.update(chunk)
        return self

    @property
    def digest(self) -> str:
        return self._h.hexdigest()


Record = tuple[int, str, "tuple[int, int] | None"]  # size, sha256, stamp hashed


def _line(name: str, size: int, digest: str, stamp: tuple[int, int]) -> bytes:
    return f"{name} {size} {digest} {stamp[0]} {stamp[1]}\n".encode()


def write_record(path: Path, size: int, digest: str, stamp: os.stat_result) -> None:
    """Record a file's size and hash, and `stamp`, the stat of the written file about to
    become `path` (a rename keeps its mtime and inode): one O_APPEND write of a whole
    line to the folder's journal, which writers never interleave. The caller writes it
    before the file is moved in, so no reader serves the file without its record."""
    line = _line(path.name, size, digest, (stamp.st_mtime_ns, stamp.st_ino))
    with _records_lock:
        _folder(path).append(line)


class _Folder:
    """A folder's records as far as this process has read its journal, and the
    descriptor it appends through (reopened at least every `REOPEN_S`, so lines do not
    go on into a journal that eviction in another process replaced)."""

    __slots__ = ("journal", "records", "ino", "offset", "tail", "fd", "opened")

    def __init__(self, journal: str) -> None:
        self.journal = journal
        self.fd: int | None = None
        self.reset()

    def reset(self, ino: int = -1) -> None:
        """Forget what was read (the append descriptor stays: see `REOPEN_S`)."""
        self.records: dict[str, Record] = {}
        self.ino = ino
        self.offset = 0
        self.tail = b""

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None

    def append(self, line: bytes) -> None:
        now = time.monotonic()
        if self.fd is not None and now - self.opened > REOPEN_S:
            self.close()
        if self.fd is None:
            self.fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self.opened = now
        write_all(self.fd, line)

    def read(self) -> None:
        """Apply the lines appended since the last read (all of them if it was replaced)."""
        try:
            fd = os.open(self.journal, os.O_RDONLY)
        except OSError:
            self.reset()  # no journal (any more): no records
            return
        try:
            st = os.fstat(fd)
            if st.st_ino != self.ino or st.st_size < self.offset:
                self.reset(st.st_ino)  # new or compacted: read from the start
            lines, self.offset, self.tail = read_appended(fd, st.st_size, self.offset, self.tail)
        finally:
            os.close(fd)
        for line in lines:
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                name, size, digest, mtime, ino = line.decode("ascii").split(" ")
                self.records[name] = (int(size), digest, (int(mtime), int(ino)))


_records_lock = threading.Lock()
_folders: OrderedDict[str, _Folder] = OrderedDict()


def _folder(path: Path) -> _Folder:
    """(called with `_records_lock` held) The folder state of `path`, newest in the LRU."""
    key = os.path.dirname(path)
    folder = _folders.get(key)
    if folder is None:
        folder = _folders[key] = _Folder(os.path.join(key, RECORDS_NAME))
        if len(_folders) > _FOLDERS_MAX:
            _folders.popitem(last=False)[1].close()
    _folders.move_to_end(key)
    return folder


def _read_record(path: Path, st: os.stat_result) -> Record | None:
    """The last record of `path` (reading the journal only when what this process knows
    does not vouch for the file as it is now), else an earlier version's record file."""
    stamp = (st.st_mtime_ns, st.st_ino)
    with _records_lock:
        folder = _folder(path)
        record = folder.records.get(path.name)
        if record is None or record[2] != stamp:
            folder.read()
            record = folder.records.get(path.name)
    return record if record is not None else _read_record_file(path)


def _read_record_file(path: Path) -> Record | None:
    """(size, digest, (mtime_ns, inode) of the file hashed, if recorded) from `<file>.sha256`."""
    try:
        size, digest, *stamp = record_path(path).read_text("ascii").split()
        hashed = (int(stamp[0]), int(stamp[1])) if len(stamp) == 2 else None
        return int(size), digest, hashed
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def compact_records(folder: Path, live: set[str]) -> None:
    """Rewrite a folder's journal with the records of the files still there when it is
    large and mostly about files evicted since, or remove it when none is left (eviction
    calls this)."""
    journal = folder / RECORDS_NAME
    try:
        if live and journal.stat().st_size < COMPACT_MIN:
            return  # small: not worth reading
    except OSError:
        return
    with _records_lock:
        state = _folder(journal)
        state.read()
        kept = {n: r for n, r in state.records.items() if n in live and r[2] is not None}
        body = b"".join(_line(n, r[0], r[1], r[2]) for n, r in kept.items())  # type: ignore[arg-type]
        if body and state.offset < max(COMPACT_MIN, 2 * len(body)):
            return
        with contextlib.suppress(OSError):
            if body:
                write_atomic(journal, body)
            else:  # the folder holds nothing recorded any more
                journal.unlink()
            state.close()  # appends go to the new journal at once
            state.reset()  # read afresh next time


def touch(path: Path, st: os.stat_result | None = None) -> None:
    """Mark a file used for the LRU: its access time only, so its mtime (part of the
    stamp recorded at download) still says its content is the one hashed (`st`: its
    stat, when the caller has it)."""
    with contextlib.suppress(OSError):
        mtime = (st if st is not None else path.stat()).st_mtime_ns
        os.utime(path, ns=(time.time_ns(), mtime))


def _key(path: Path, st: os.stat_result) -> tuple[str, int, int, int]:
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino)


def mark_verified(path: Path, st: os.stat_result | None = None) -> None:
    """A file this process just wrote (and hashed) needs no second hashing (`st`: its
    stat, when the caller has it)."""
    with contextlib.suppress(OSError):
        key = _key(path, st if st is not None else path.stat())
        with _lock:
            if len(_verified) >= _VERIFIED_MAX:
                _verified.clear()
            _verified[key] = None


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _head_tail(path: Path, size: int) -> tuple[bytes, bytes]:
    with open(path, "rb") as f:
        head = f.read(_HEAD)
        f.seek(max(0, size - TAIL_BYTES))
        return head, f.read(TAIL_BYTES)


def intact(path: Path, kind: str, st: os.stat_result | None = None) -> bool:
    """Whether a cached file may be served: size and hash as recorded (or, without a
    record, a header of the right kind and no missing trailer); `st`: its stat, when the
    caller has just taken it."""
    try:
        st = st if st is not None else path.stat()
        if st.st_size <= 0:
            return False
        key = _key(path, st)
        with _lock:
            if key in _verified:
                return True
        head, tail = _head_tail(path, st.st_size)
        if not looks_like(kind, head):
            return False
        record = _read_record(path, st)
        if record is None:
            ok = looks_complete(head, tail) is not False
        elif record[0] != st.st_size:
            ok = False
        else:  # the very file hashed while it was written, or a hash that matches
            ok = record[2] == (st.st_mtime_ns, st.st_ino) or _hash_file(path) == record[1]
    except OSError:
        return False
    if ok:
        mark_verified(path, st)  # as stat'ed before the checks: a file swapped since is not
    return ok


def discard(path: Path) -> None:
    """Remove a broken cached file (and an earlier version's record file); its journal
    line stays until the download that replaces it appends a newer one."""
    for p in (path, record_path(path)):
        with contextlib.suppress(OSError):
            p.unlink()


def reclaim_if_orphaned(path: str | Path) -> bool:
    """Delete a temp file whose writing process is gone (or that is a day old)."""
    name = os.path.basename(path)
    pid_text = name[len(TMP_PREFIX) :].split("-", 1)[0]
    try:
        age = time.time() - os.stat(path).st_mtime
    except OSError:
        return False
    alive = True
    if pid_text.isdigit():
        pid = int(pid_text)
        if pid != os.getpid():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                alive = False
            except PermissionError:  # someone else's live process
                alive = True
    if alive and age < ORPHAN_AGE_S:
        return False
    with contextlib.suppress(OSError):
        os.unlink(path)
        return True
    return False


@contextlib.contextmanager
def pinned(paths: Iterable[Path] = ()) -> Iterator[list[Path]]:
    """Keep files from eviction while the block runs; append to the yielded list to pin
    more (a fetch pins each file as it arrives)."""
    held: list[Path] = []

    class _Pins(list):  # type: ignore[type-arg]
        def append(self, p: Path) -> None:  # type: ignore[override]
            with _lock:
                _pins[str(p)] += 1
            held.append(p)

    pins = _Pins()
    for p in paths:
        pins.append(p)
    try:
        yield pins
    finally:
        with _lock:
            for p in held:
                _pins[str(p)] -= 1
                if _pins[str(p)] <= 0:
                    del _pins[str(p)]


def is_pinned(paths: Iterable[Path]) -> bool:
    with _lock:
        return any(str(p) in _pins for p in paths)


_current = threading.local()  # the pin list of the operation this thread works for


@contextlib.contextmanager
def working_for(pins: list[Path]) -> Iterator[None]:
    """Run a block (on a worker thread) as part of the operation holding `pins`."""
    outer = getattr(_current, "pins", None)
    _current.pins = pins
    try:
        yield
    finally:
        _current.pins = outer


def hold(path: Path) -> Path:
    """Pin a file for the operation this thread works for (if any); returns it."""
    pins = getattr(_current, "pins", None)
    if pins is not None:
        pins.append(path)
    return path
