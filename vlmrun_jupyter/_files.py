"""Files written beside their destination and moved into place: the one way the cache,
the previews and the document pages write, so a reader sees an old file or a whole new
one, and a killed writer's leftovers are recognisable (`.tmp-<pid>-...`: the listing
reclaims those whose process is gone, see `_integrity.reclaim_if_orphaned`)."""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path

TMP_PREFIX = ".tmp-"

_pid = os.getpid()
_serial = itertools.count()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


_made_dirs: set[str] = set()  # directories known to exist


def make_dir(d: str | Path) -> None:
    """`mkdir -p`, once per directory and process (every download asks for its folder)."""
    key = str(d)
    if key not in _made_dirs:
        os.makedirs(key, exist_ok=True)
        _made_dirs.add(key)


def tmp_prefix() -> str:
    """The prefix of this process's temp files (the pid says whose they are)."""
    return f"{TMP_PREFIX}{_pid}-"


def open_temp(folder: str | Path, suffix: str = "") -> tuple[int, str]:
    """A new, empty, private file in `folder` to write and then move into place: named
    `.tmp-<pid>-<n>` so a killed writer's leftovers are reclaimed, created with O_EXCL
    (a name left by an earlier process with the same pid is skipped). Cheaper than
    `tempfile.mkstemp` per download: no random name and no pid lookup."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        name = os.path.join(folder, f"{tmp_prefix()}{next(_serial)}{suffix}")
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to the descriptor (os.write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def pread(fd: int, size: int, offset: int) -> bytes:
    """`os.pread` where there is one; elsewhere (Windows) a seek and a read, which moves
    the descriptor's offset: harmless for the journals, whose writers append (O_APPEND)
    and whose readers each keep their own offset."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


def read_appended(fd: int, end: int, offset: int, tail: bytes) -> tuple[list[bytes], int, bytes]:
    """The whole lines of an append-only file between `offset` and `end`, after `tail`
    (the partial line left by the last read: a writer mid-write): (lines, end, new tail)."""
    if end <= offset:
        return [], offset, tail
    *lines, tail = (tail + pread(fd, end - offset, offset)).split(b"\n")
    return lines, end, tail


def write_atomic(target: Path, payload: bytes) -> None:
    """Write `payload` to `target` so a reader sees the old file or the whole new one,
    never half of it; a failed write leaves no temp file behind."""
    fd, tmp = open_temp(target.parent)
    try:
        try:
            write_all(fd, payload)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


__all__ = [
    "TMP_PREFIX",
    "make_dir",
    "tmp_prefix",
    "open_temp",
    "pread",
    "read_appended",
    "write_all",
    "write_atomic",
]
