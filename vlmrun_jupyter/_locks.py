"""Locks that make a download happen once: across the threads of this process (a lock
per artifact key, kept only while someone holds or waits for it) and across processes
(a POSIX record lock on one byte of a shared lock file)."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import filelock

from ._files import make_dir

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

_guard = threading.Lock()
_thread_locks: dict[Any, list[Any]] = {}  # key -> [lock, threads holding or waiting]
_lock_fds: dict[str, int] = {}


@contextlib.contextmanager
def thread_lock(key: Any) -> Iterator[None]:
    """Exclusive among this process's threads for `key`. The lock is forgotten when its
    last user leaves: a long session fetches millions of artifacts, one key each."""
    with _guard:
        entry = _thread_locks.get(key)
        if entry is None:
            entry = _thread_locks[key] = [threading.Lock(), 0]
        entry[1] += 1
    try:
        with entry[0]:
            yield
    finally:
        with _guard:
            entry[1] -= 1
            if not entry[1]:
                del _thread_locks[key]


@contextlib.contextmanager
def process_lock(cache_dir: Path, name: str) -> Iterator[None]:
    """Exclusive across processes for `name`, without a lock file per artifact (creating
    one costs milliseconds on some disks): a POSIX record lock on one byte, at the name's
    CRC-32, of `<cache_dir>/.locks/artifacts.lock`. Record locks belong to the process, so
    callers hold `thread_lock` first, and the file stays open for the process's life
    (closing any descriptor of it would drop all of the process's locks on it)."""
    if fcntl is None:  # no POSIX record locks (Windows): a lock file per artifact
        lock_dir = cache_dir / ".locks"
        make_dir(lock_dir)
        with filelock.FileLock(str(lock_dir / f"{name.replace('/', '--')}.lock")):
            yield
        return
    path = str(cache_dir / ".locks" / "artifacts.lock")
    with _guard:
        fd = _lock_fds.get(path)
        if fd is None:
            make_dir(cache_dir / ".locks")
            fd = _lock_fds[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    offset = zlib.crc32(name.encode("utf-8"))
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX, 1, offset)
            break
        except OSError as exc:
            # The kernel's deadlock check sees processes, not threads: two processes whose
            # threads wait on each other's bytes look like a cycle although no thread
            # waits on itself. Nobody holds what we want for long: wait and ask again.
            if exc.errno != errno.EDEADLK:
                raise
            time.sleep(0.005 + random.random() * 0.02)
    try:
        yield
    finally:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)


__all__ = ["thread_lock", "process_lock"]
