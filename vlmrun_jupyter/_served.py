"""What the Jupyter server extension (`serverext.py`) serves from the artifact cache, and
how the kernel names it: both sides import these rules, so they cannot drift apart.

Served: finished video files under `<cache_dir>/artifacts/` only (never a temp file, an
integrity record or journal, a sidecar, a lock or the ledger, never anything a symlink leads out
of the cache to). A file is named by its path relative to the cache directory, and
tagged by its identity on disk (device, inode, size, mtime): the server sends the tag as
the ETag and the kernel sends the same tag for the file it means, so a page whose server
looks at another cache directory (or another machine) sees the mismatch and falls back
to streaming over the widget's comm.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from pathlib import Path, PurePosixPath

from ._files import TMP_PREFIX
from ._integrity import RECORD_SUFFIX

ROUTE = "vlmrun/cache"  # under the Jupyter server's base URL
AREA = "artifacts"  # the only folder of the cache that is served
REFUSED_SUFFIXES = (RECORD_SUFFIX, ".url", ".json", ".lock")


def tag(st: os.stat_result) -> str:
    """The file's identity on disk, hashed (no inode numbers in headers)."""
    ident = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def servable_name(name: str) -> bool:
    """Whether a relative name may be asked for at all (before touching the disk)."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return False
    parts = PurePosixPath(name).parts
    if len(parts) < 2 or parts[0] != AREA:
        return False
    for part in parts:
        if part in ("", ".", "..") or part.startswith(".") or part.startswith(TMP_PREFIX):
            return False
    leaf = parts[-1]
    if leaf.endswith(REFUSED_SUFFIXES):
        return False
    kind = mimetypes.guess_type(leaf)[0] or ""
    return kind.startswith("video/")


def resolve(cache_dir: str | Path, name: str) -> Path | None:
    """The real file `name` (relative to `cache_dir`) means, or None when it is not
    servable: a bad name, a missing or non-regular file, or a symlink leading out of
    the cache's artifacts folder."""
    if not servable_name(name):
        return None
    area = Path(os.path.realpath(Path(cache_dir).expanduser() / AREA))
    real = Path(os.path.realpath(area.parent / name))
    if not real.is_relative_to(area) or not real.is_file():
        return None
    if not servable_name(real.relative_to(area.parent).as_posix()):
        return None  # a link inside the cache to a record or temp file
    return real


def name_in_cache(path: Path, cache_dir: str | Path) -> str:
    """`path`'s name relative to `cache_dir` if the server extension would serve it
    there, else "" (the player then streams over the comm)."""
    root = Path(os.path.realpath(Path(cache_dir).expanduser()))
    try:
        name = Path(os.path.realpath(path)).relative_to(root).as_posix()
    except ValueError:
        return ""
    return name if resolve(root, name) is not None else ""
