"""Cache integrity: what makes a cached file trustworthy, and what is in use.

- Every download's size and SHA-256 are recorded beside it (`<file>.sha256`, written
  before the file appears under its final name), with the stamp (mtime, inode) of the
  file the writer hashed. Before a file is served its size is compared with the record,
  and its hash unless it still carries that stamp (it is then the very file hashed while
  it was written), else once per process (per inode, size and mtime): a truncated,
  swapped or rewritten file is fetched again instead of shown, and a warm display after
  a kernel restart reads no artifact. The LRU touch moves only the access time, so the
  stamp stays.
- A file without a record (written by the official SDK sharing the directory) passes
  with the header check, plus the trailer check where the format has one.
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
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from ._files import TMP_PREFIX, write_all
from .errors import LimitError
from .kinds import TAIL_BYTES, looks_complete, looks_like

RECORD_SUFFIX = ".sha256"
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


def write_record(path: Path, size: int, digest: str, stamp: os.stat_result | None = None) -> int:
    """Record a file's size and hash, and `stamp`, the stat of the written file about to
    become `path` (a rename keeps its mtime and inode). Written in place with one short
    write: the caller writes it before the file itself is moved in, so no reader serves
    the file while its record is incomplete. Returns the record's size in bytes."""
    line = f"{size} {digest}"
    if stamp is not None:
        line += f" {stamp.st_mtime_ns} {stamp.st_ino}"
    data = (line + "\n").encode("ascii")
    fd = os.open(os.fspath(path) + RECORD_SUFFIX, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return len(data)


def _read_record(path: Path) -> tuple[int, str, tuple[int, int] | None] | None:
    """(size, digest, (mtime_ns, inode) of the file hashed at download, if recorded)."""
    try:
        size, digest, *stamp = record_path(path).read_text("ascii").split()
        hashed = (int(stamp[0]), int(stamp[1])) if len(stamp) == 2 else None
        return int(size), digest, hashed
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def touch(path: Path) -> None:
    """Mark a file used for the LRU: its access time only, so its mtime (part of the
    stamp recorded at download) still says its content is the one hashed."""
    with contextlib.suppress(OSError):
        os.utime(path, ns=(time.time_ns(), path.stat().st_mtime_ns))


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


def intact(path: Path, kind: str) -> bool:
    """Whether a cached file may be served: size and hash as recorded (or, without a
    record, a header of the right kind and no missing trailer)."""
    try:
        st = path.stat()
        if st.st_size <= 0:
            return False
        key = _key(path, st)
        with _lock:
            if key in _verified:
                return True
        head, tail = _head_tail(path, st.st_size)
        if not looks_like(kind, head):
            return False
        record = _read_record(path)
        if record is None:
            ok = looks_complete(head, tail) is not False
        elif record[0] != st.st_size:
            ok = False
        else:  # the very file hashed while it was written, or a hash that matches
            ok = record[2] == (st.st_mtime_ns, st.st_ino) or _hash_file(path) == record[1]
    except OSError:
        return False
    if ok:
        mark_verified(path)
    return ok


def discard(path: Path) -> None:
    """Remove a broken cached file and its record."""
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
